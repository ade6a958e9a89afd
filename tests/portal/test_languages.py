"""Every page and every e-mail in each of Velory's languages, on the demo data: each renders
(no template error, no missing page), says which language it is in, and shows no English
that should have been translated.

"No English left" is checked two ways, on the text people read (tags, scripts and styles
stripped):
- no source string of the catalogue that has a translation appears as it is in English
  (a string marked, but read before the language was chosen: an import-time gettext, a
  label frozen in English);
- no run of English words appears the same in English and in the other language, once the
  data on the page is taken out (names, products, addresses, serial numbers: everything the
  database holds), nor the few words every language writes alike (brands, codes). That is
  text nobody marked.

The console's pages are every changelist and the first row of each, for a company admin and
for a partner's staff."""

from __future__ import annotations

import html
import re
from contextlib import contextmanager

import pytest
from babel.messages.pofile import read_po
from django.apps import apps
from django.conf import settings
from django.contrib import admin
from django.db import models
from django.test import Client
from django.urls import reverse
from django.utils import translation

from companies.models import User
from demo.data import seed_demo
from devices.models import Device
from notifications import services as mail
from orders.models import Product, ProductRequest

pytestmark = pytest.mark.django_db

LANGUAGES = [code for code, _name in settings.LANGUAGES if code != settings.LANGUAGE_CODE]
# Written alike in every language: the brand, codes, units and words the languages share.
ALIKE = {
    "velory",
    "api",
    "csv",
    "scim",
    "sso",
    "oidc",
    "json",
    "url",
    "id",
    "e",
    "mail",
    "ok",
    "eur",
    "sek",
    "nok",
    "dkk",
    "gbp",
    "usd",
    "kr",
    "gb",
    "tb",
    "ssd",
    "cpu",
    "m4",
    "www",
    "http",
    "https",
    "openid",
    "connect",
    "okta",
    "microsoft",
    "entra",
    "stripe",
    "postnord",
    "itella",
    "dhl",
    "ups",
    "visa",
    "mastercard",
    "webhook",
    "webhooks",
    "status",
    "support",
    "budget",
    "partner",
    "leasing",
    "admin",
    "info",
    "service",
    "design",
    "manager",
    "team",
    "offboarding",
    "bearer",
    "token",
    "tenant",
    "base",
    "secret",
    "enterprise",
    "application",
    "provisioning",
    "credentials",
    "yes",
    "no",
    "active",
    "email",
    "name",
    "serial",
    "number",
    "vo",
    "vr",
    "sn",
    "sv",
    "fi",
    "nb",
    "da",
    "en",
    "iso",
    "user",
    "users",
    "groups",
    # Danish IT writes "single sign-on" as English does.
    "single",
    "sign",
}


def catalogue(language: str) -> dict[str, str]:
    """English source → translation, of every translated entry (plural: the other form)."""
    path = settings.LOCALE_PATHS[0] / language / "LC_MESSAGES" / "django.po"
    with open(path, "rb") as handle:
        messages = read_po(handle)
    found = {}
    for m in messages:
        if not m.id:
            continue
        ids = m.id if isinstance(m.id, tuple) else (m.id,)
        strings = m.string if isinstance(m.string, tuple) else (m.string,)
        for source, translated in zip(ids, strings, strict=False):
            if translated and translated != source:
                found[source] = translated
    return found


def visible_text(page: str) -> list[str]:
    """The runs of text a person reads, one per text node (attributes people read too:
    alt, title, aria-label, placeholder)."""
    page = re.sub(r"(?s)<(script|style|svg)\b.*?</\1>", " ", page)
    said = re.findall(r'\b(?:alt|title|aria-label|placeholder)="([^"]+)"', page)
    runs = re.split(r"<[^>]+>", page) + said
    return [" ".join(html.unescape(r).split()) for r in runs if r.strip()]


def data_values() -> list[str]:
    """Every text the database holds (longest first): what a page shows as data."""
    values = set()
    for model in apps.get_models():
        fields = [
            f.attname
            for f in model._meta.concrete_fields
            if isinstance(f, models.CharField | models.TextField | models.EmailField)
        ]
        for field in fields:
            for value in model._default_manager.values_list(field, flat=True).distinct()[:2000]:
                if value and len(value) >= 3:
                    values.add(value)
                    values.update(line for line in value.splitlines() if len(line) >= 3)
    values.update(name for _code, name in settings.LANGUAGES)  # the switch: each in its own
    return sorted(values, key=len, reverse=True)


class Words:
    """Runs of English left untranslated on a page in another language."""

    def __init__(self):
        self.values = data_values()
        self.catalogues = {language: catalogue(language) for language in LANGUAGES}
        self.long_sources = {
            language: [s for s in found if len(s.split()) >= 3 and "%" not in s and "<" not in s]
            for language, found in self.catalogues.items()
        }

    def strip_data(self, run: str) -> str:
        for value in self.values:
            if value in run:
                run = run.replace(value, " ")
        return run

    def english_runs(self, english: str, other: str, language: str) -> list[str]:
        """Runs of ``other`` (a page in ``language``) that are English."""
        left = []
        english_runs = set(visible_text(english))
        text = " ".join(visible_text(other))
        for source in self.long_sources[language]:
            if source in text:
                left.append(f"catalogue string shown in English: {source!r}")
        for run in visible_text(other):
            if run not in english_runs:
                continue
            words = [
                w
                for w in re.findall(r"[A-Za-z]{3,}", self.strip_data(run))
                if w.lower() not in ALIKE
            ]
            if len(words) >= 2:
                left.append(f"not translated: {run!r}")
        return left


@contextmanager
def reading_in(user: User, language: str):
    """``user`` reads Velory in ``language`` for the block (their profile's choice)."""
    before = user.language
    User.objects.filter(pk=user.pk).update(language=language)
    try:
        yield
    finally:
        User.objects.filter(pk=user.pk).update(language=before)


def page_in(client: Client, user: User, url: str, language: str):
    with reading_in(user, language):
        response = client.get(url)
    return response


def employee_pages() -> list[tuple[str, int]]:
    anna = User.objects.get(email="anna@acme.example")
    devices = {d.name: d for d in Device.objects.filter(owner=anna)}
    products = {p.name: p for p in Product.objects.filter(company=anna.company)}
    pending = ProductRequest.objects.get(employee=anna, status="pending")
    laptop = devices["Lenovo ThinkPad X1 Carbon"]
    return [
        ("/me/", 200),
        (f"/me/devices/{laptop.pk}/", 200),
        (f"/me/devices/{laptop.pk}/lease/", 200),
        (f"/me/devices/{laptop.pk}/lease/?choice=return", 200),
        (f"/me/devices/{laptop.pk}/lease/?choice=buyout", 200),
        (f"/me/devices/{devices['Dell UltraSharp 27 4K'].pk}/", 200),
        (f"/me/devices/{devices['Dell UltraSharp 27 4K'].pk}/receive/", 200),
        (f"/me/devices/{devices['Jabra Evolve2 65'].pk}/", 200),
        (f"/me/orders/{devices['MacBook Pro 14 M4'].order_id}/", 200),
        (f"/me/orders/{devices['iPhone 16'].order_id}/", 200),
        (f"/me/orders/{devices['Jabra Evolve2 65'].order_id}/track/", 200),
        ("/me/budget/", 200),
        ("/catalogue/", 200),
        ("/catalogue/?category=laptop&q=pro&sort=price", 200),
        (f"/catalogue/{products['Samsung Galaxy Tab S9'].pk}/", 200),
        (f"/catalogue/{products['Lenovo ThinkPad X1 Carbon'].pk}/", 200),
        (f"/me/requests/{pending.pk}/withdraw/", 200),
        ("/support/", 200),
        ("/accounts/password-change/", 200),
        ("/me/devices/999999/", 404),
        ("/no-such-page/", 404),
    ]


def console_pages(client: Client) -> list[str]:
    """The console's index and every changelist the user may open, with its first row."""
    urls = ["/admin/", "/admin/search/?q=Anna"]
    for model in admin.site._registry:
        meta = model._meta
        changelist = reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist")
        response = client.get(changelist)
        if response.status_code != 200:
            continue
        urls.append(changelist)
        first = re.search(
            rf'href="({re.escape(changelist)}[^"?#]+/change/)"', response.content.decode()
        )
        if first:
            urls.append(html.unescape(first.group(1)))
    return urls


def signed_in(email: str) -> tuple[Client, User]:
    user = User.objects.get(email=email)
    client = Client()
    client.force_login(user, backend="companies.backends.EmailBackend")
    return client, user


def walk(client, user, pages, words, problems):
    for url, status in pages:
        english = page_in(client, user, url, settings.LANGUAGE_CODE)
        assert english.status_code == status, (url, english.status_code)
        for language in LANGUAGES:
            response = page_in(client, user, url, language)
            assert response.status_code == status, (language, url, response.status_code)
            body = response.content.decode()
            assert f'lang="{language}"' in body[:400], (language, url)
            for left in words.english_runs(english.content.decode(), body, language):
                problems.append(f"{language} {url}: {left}")


@pytest.fixture
def demo(settings):
    settings.DEMO_PROFILE_LANGUAGES = True
    seed_demo()
    return Words()


def test_every_portal_page_in_every_language(demo):
    problems = []
    client, anna = signed_in("anna@acme.example")
    walk(client, anna, employee_pages(), demo, problems)
    client, leo = signed_in("leo@acme.example")
    walk(client, leo, [("/me/leaving/", 200), ("/me/", 200)], demo, problems)
    assert not problems, "\n".join(problems)


def test_the_pages_before_sign_in_in_every_language(demo):
    problems = []
    for url in ("/accounts/login/", "/accounts/password-reset/", "/accounts/reset/MQ/nope/"):
        english = Client().get(url, HTTP_ACCEPT_LANGUAGE="en")
        for language in LANGUAGES:
            response = Client().get(url, HTTP_ACCEPT_LANGUAGE=language)
            assert response.status_code == english.status_code == 200, (language, url)
            assert f'lang="{language}"' in response.content.decode()[:400]
            for left in demo.english_runs(
                english.content.decode(), response.content.decode(), language
            ):
                problems.append(f"{language} {url}: {left}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("email", ["admin@acme.example", "staff@nordic-it.example"])
def test_every_console_page_in_every_language(demo, email):
    client, user = signed_in(email)
    pages = [(url, 200) for url in console_pages(client)]
    assert len(pages) > 10, pages
    problems = []
    walk(client, user, pages, demo, problems)
    assert not problems, "\n".join(problems)


def test_every_email_in_every_language(settings, monkeypatch, django_capture_on_commit_callbacks):
    """Each e-mail the demo's story sends, rendered again in each language."""
    settings.DEMO_PROFILE_LANGUAGES = True
    sent = []
    real = mail._render

    def recording(kind, context):
        sent.append((kind, context))
        return real(kind, context)

    monkeypatch.setattr(mail, "_render", recording)
    with django_capture_on_commit_callbacks(execute=True):
        seed_demo()
        mail_story()
    assert sent, "the story sent no e-mail"
    demo = Words()

    def rendered(language, kind, context):
        with translation.override(language):
            monkeypatch.setattr(mail, "for_recipient", lambda _user: translation.override(language))
            monkeypatch.setattr(
                mail, "for_company", lambda _company: translation.override(language)
            )
            return real(kind, context)

    problems, kinds = [], set()
    for kind, context in sent:
        kinds.add(kind)
        english = rendered(settings.LANGUAGE_CODE, kind, context)
        for language in LANGUAGES:
            subject, text, body_html = rendered(language, kind, context)
            assert subject and text, (language, kind)
            for part, theirs, ours in (
                ("subject", english[0], subject),
                ("text", english[1], text),
                ("html", english[2], body_html),
            ):
                for left in demo.english_runs(
                    html.escape(theirs) if part != "html" else theirs,
                    html.escape(ours) if part != "html" else ours,
                    language,
                ):
                    problems.append(f"{language} {kind} ({part}): {left}")
    print(f"e-mails walked: {len(sent)} sent, {len(kinds)} kinds: {sorted(kinds)}")
    assert not problems, "\n".join(problems)


def mail_story() -> None:
    """A day that sends the e-mails the demo itself does not: a request and its approval,
    a rejection, a cancellation with a refund, a password reset."""
    from companies.forms import OutboxPasswordResetForm
    from orders import services as orders

    anna = User.objects.get(email="anna@acme.example")
    admin_user = User.objects.get(email="admin@acme.example")
    keyboard = Product.objects.get(company=anna.company, name="Apple Magic Keyboard")
    request = orders.request_submit(
        employee=anna, product_id=keyboard.pk, delivery_address=anna.delivery_address
    )
    orders.request_reject(request_id=request.pk, actor=admin_user, reason="One is enough.")
    form = OutboxPasswordResetForm({"email": anna.email})
    assert form.is_valid()
    form.save(domain_override="127.0.0.1:8000")
