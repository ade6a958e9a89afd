"""Every e-mail is rendered in its recipient's language and their company's time zone, not
the language of the request or worker that queued or sent it.

The catalogues are written later, so the language is shown by what needs none: Django's own
month names (its catalogues ship with it: "15 januari" in Swedish, "15 tammikuu" in
Finnish), and what the active language and time zone are while a template renders."""

from datetime import date

import pytest
from django.template.loader import render_to_string
from django.test.signals import template_rendered
from django.urls import reverse
from django.utils import timezone, translation

from notifications.models import Notification
from notifications.services import (
    Message,
    notification_rendered,
    notification_send,
    notify,
    notify_many,
)

pytestmark = pytest.mark.django_db

KIND = "offboarding_return_instructions"  # its subject has a month name: "by 15 January"
DUE = date(2031, 1, 15)


class Probe:
    """A context value that, rendered, shows the language and time zone active right then."""

    def __str__(self):
        return f"[{translation.get_language()}|{timezone.get_current_timezone_name()}]"


def context(owner, party_name="Atea"):
    return {"device": {"name": "ThinkPad X1", "owner": owner}, "due": DUE, "party_name": party_name}


def subject_under(language: str, ctx: dict) -> str:
    """The subject template rendered with ``language`` active, as _render reads it."""
    with translation.override(language):
        return " ".join(render_to_string(f"notifications/email/{KIND}_subject.txt", ctx).split())


@pytest.fixture
def swede(acme):
    acme.company.time_zone = "Europe/Helsinki"
    acme.company.save(update_fields=["time_zone"])
    acme.employee.language = "sv"
    acme.employee.save(update_fields=["language"])
    return acme.employee


@pytest.fixture
def rendered_in():
    """What language and time zone each e-mail template was rendered under."""
    seen = []

    def record(sender, template, context, **kwargs):
        if (template.name or "").startswith("notifications/email/"):
            name = template.name.removeprefix("notifications/email/")
            seen.append((name, translation.get_language(), timezone.get_current_timezone_name()))

    template_rendered.connect(record)
    yield seen
    template_rendered.disconnect(record)


def test_a_mail_queued_in_english_is_rendered_in_its_recipients_language(swede):
    with translation.override("en-gb"), timezone.override("Europe/London"):
        row = notify(
            kind=KIND, recipient=swede, context=context(swede, Probe()), dedup_key="lang:now"
        )
        assert translation.get_language() == "en-gb"  # the caller's language is left as it was
    assert "15 januari" in row.subject and "January" not in row.subject
    assert row.subject == subject_under("sv", context(swede))
    # The body is rendered with Swedish active too, in the company's time zone.
    assert "[sv|Europe/Helsinki]" in row.body_text


def test_a_mail_queued_in_bulk_is_rendered_at_sending_in_its_recipients_language(swede):
    with translation.override("en-gb"):
        [row] = notify_many([Message(KIND, "lang:later", context(swede), recipient=swede)])
    assert not Notification.objects.get(pk=row.pk).rendered
    with translation.override("fi"):  # the worker's language, whatever it is, does not count
        row = notification_rendered(Notification.objects.get(pk=row.pk))
    assert "15 januari" in row.subject
    assert row.subject == subject_under("sv", context(swede))
    assert Notification.objects.get(pk=row.pk).subject == row.subject


def test_without_a_language_of_their_own_the_recipient_reads_the_companys(acme):
    acme.company.default_language = "fi"
    acme.company.save(update_fields=["default_language"])
    row = notify(kind=KIND, recipient=acme.employee, context=context(acme.employee), dedup_key="fi")
    assert "15 tammikuu" in row.subject
    assert row.subject == subject_under("fi", context(acme.employee))


def test_a_mail_to_an_address_of_no_person_is_in_the_language_of_the_company_it_is_about(acme):
    acme.company.default_language = "da"
    acme.company.save(update_fields=["default_language"])
    ctx = {**context(None, Probe()), "employee": acme.employee}  # the order's employee, say
    row = notify(kind=KIND, to_email="orders@partner.example", context=ctx, dedup_key="da")
    assert row.recipient is None
    assert "15 januar" in row.subject and "[da|" in row.body_text


def test_the_password_reset_mail_is_in_the_users_language(swede, client, rendered_in):
    client.post(reverse("password_reset"), {"email": swede.email}, HTTP_ACCEPT_LANGUAGE="en-GB,en")
    row = Notification.objects.get(kind="password_reset", recipient=swede)
    assert notification_send(row.pk) == "sent"  # the link is made (and rendered) only now
    renders = [r for r in rendered_in if r[0].startswith("password_reset")]
    # queued (subject, text, HTML) and sent (the same three again, with the link)
    assert len(renders) >= 6
    assert {(language, zone) for _name, language, zone in renders} == {("sv", "Europe/Helsinki")}
