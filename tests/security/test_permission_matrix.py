"""The permission matrix: every URL the resolver knows × every role × objects of every
tenant, the way pretix tests itself.

Roles: anonymous; two employees of one company; an employee of another; each company's
admin; each partner's staff; the staff of a partner that serves both; a superuser. Objects:
for each kind, one of each company and an id that does not exist.

It fails on a URL nobody classified below, on a 200 that shows another tenant's object or
name, on a foreign object that answers differently from a missing one (which would reveal
that it exists), on a 500 anywhere, and on a forged write (an object button, a bulk action,
a change or a delete with another tenant's ids, a portal form) that changes anything."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

import pytest
from django.contrib import admin
from django.contrib.contenttypes.models import ContentType
from django.forms.models import model_to_dict
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from budgets.models import CardPayment, PaymentMismatch, ProcessorEvent
from companies.models import User
from core.tenancy import Role
from core.tenant_admin import ObjectActionsAdmin
from devices.models import Device
from orders.models import Order, Product, ProductRequest
from people.models import OffboardingItem
from tests.backoffice.test_scope_walk import populate
from tests.factories import PartnerFactory, UserFactory

pytestmark = pytest.mark.django_db

MISSING = 987654321

# --- Every URL, classified ---------------------------------------------------------------------

PUBLIC = {
    "login",
    "logout",
    "password_reset",
    "password_reset_done",
    "password_reset_confirm",
    "password_reset_complete",
    "health",
    "admin:login",
    "admin:logout",
    "admin:jsi18n",
    # Single sign-on: the flow's start (for the company the sign-in's first step chose, kept
    # in the session), the provider's callback (a state this session started, used once)
    # and where the provider returns a person it signed out. Nothing without a session.
    "oidc_start",
    "oidc_callback",
    "signed_out",
    # The language switch: a person's own choice (a POST; before sign-in, a cookie).
    "language",
    # The partner API's OpenAPI schema and its reference page: no one's data.
    "partner-api-schema",
    "partner-api-docs",
}
OWN_PAGES = {
    "home",
    "me",
    "me-live",  # the live part of Your Details (static/js/velory.js)
    "budget",
    "catalogue",
    "support",
    "password_change",
    "password_change_done",
    "admin:index",
    "admin:password_change",
    "admin:password_change_done",
    "admin:app_list",
    "admin:autocomplete",
    "admin-search",  # the console's search, within the user's own scope
    "admin-dashboard-live",  # the dashboard's live part, for the user's own scope
    "leaving",  # the leaver's own case (404 for everyone else)
    "attest",  # the employee's own "Do you still have these devices?"
}
# Portal pages of one object: whose the object must be.
PORTAL_OBJECTS = {
    "device-detail": (Device, "owner_id"),
    "device-receive": (Device, "owner_id"),
    "device-lease": (Device, "owner_id"),
    "device-buyout": (Device, "owner_id"),
    "device-buyout-withdraw": (Device, "owner_id"),
    "order-detail": (Order, "employee_id"),
    "order-track": (Order, "employee_id"),
    # the live parts of the order pages (static/js/velory.js): the same owner as the page
    "order-live": (Order, "employee_id"),
    "order-track-live": (Order, "employee_id"),
    "request-withdraw": (ProductRequest, "employee_id"),
    "product-detail": (Product, None),  # the employee's company's catalogue
    # The employee's own card payment: back from, or on to, the processor's hosted page.
    "payment-return": (CardPayment, "employee_id"),
    "payment-cancel": (CardPayment, "employee_id"),
    "payment-continue": (CardPayment, "employee_id"),
    "payment-dismiss": (CardPayment, "employee_id"),
    # A leaver's choice for one of their devices, and paying for one they bought.
    "leaving-choose": (OffboardingItem, "employee_id"),
    "leaving-pay": (OffboardingItem, "employee_id"),
}
# The directory's API (SCIM 2.0): a bearer token of the company, never a session. Every
# person signed in by a cookie gets a 401 with SCIM's error body.
TOKEN_APIS = {
    "scim-config",
    "scim-schemas",
    "scim-schema",
    "scim-resource-types",
    "scim-resource-type",
    "scim-users",
    "scim-user",
    "scim-groups",
    "scim-group",
}
# The partner push API (/api/partner/v1/): a partner's API key, never a session. Every
# person signed in by a cookie gets a 401 with the API's error body, reading or writing.
PARTNER_APIS = {
    "partner-api-orders": None,
    "partner-api-order": Order,
    "partner-api-order-accept": Order,
    "partner-api-order-reject": Order,
    "partner-api-updates": None,
    "partner-api-returns": None,
}
# Called by the card processor, not by a person: POST only, no login, and nothing without
# a valid signature (400).
WEBHOOKS = {"processor-webhook"}
ADMIN_OBJECT_VIEWS = ("change", "history", "delete", "act", "apply")
ADMIN_MODEL_VIEWS = ("changelist", "add", "register", "forecast")


def resolver_names():
    def walk(patterns, ns=None):
        for p in patterns:
            if isinstance(p, URLResolver):
                yield from walk(p.url_patterns, p.namespace or ns)
            elif isinstance(p, URLPattern):
                yield (f"{ns}:" if ns else "") + (p.name or f"<unnamed {p.pattern}>")

    return set(walk(get_resolver().url_patterns))


def classify(name: str) -> str | None:
    if name in PUBLIC:
        return "public"
    if name in OWN_PAGES:
        return "own"
    if name in PORTAL_OBJECTS:
        return "portal-object"
    if name in WEBHOOKS:
        return "webhook"
    if name in TOKEN_APIS:
        return "token-api"
    if name in PARTNER_APIS:
        return "partner-api"
    if name == "admin:view_on_site":
        return "view-on-site"
    if name in ("admin:<unnamed (?P<url>.*)$>",) or re.fullmatch(
        r"admin:<unnamed <path:object_id>/>", name
    ):
        return "admin-redirect"
    match = re.fullmatch(r"admin:(\w+?)_(\w+)_(\w+)", name)
    if match:
        _app, _model, view = match.groups()
        if view in ADMIN_OBJECT_VIEWS:
            return "admin-object"
        if view in ADMIN_MODEL_VIEWS:
            return "admin-model"
    return None


def test_every_url_is_classified():
    unclassified = sorted(n for n in resolver_names() if classify(n) is None)
    assert not unclassified, f"classify these URLs in the matrix: {unclassified}"


# --- The world ---------------------------------------------------------------------------------


@dataclass
class Who:
    label: str
    user: User | None
    foreign_names: tuple[str, ...]  # what this person must never be shown


@pytest.fixture
def world(acme, globex, superuser, after_commit):
    populate(acme, after_commit)
    populate(globex, after_commit)
    for tenant in (acme, globex):  # webhook endpoints (company's, partner's), a delivery each
        webhooks_of(tenant)
    shared = PartnerFactory(
        slug="shared", name="Shared Partner", companies=[acme.company, globex.company]
    )
    shared_staff = UserFactory(
        email="staff@shared.example", role=Role.PARTNER_STAFF, company=None, partner=shared
    )
    a, g = acme.company.name, globex.company.name
    people = [
        Who("anonymous", None, (a, g)),
        Who("acme employee", acme.employee, (g,)),
        Who("acme colleague", acme.colleague, (g,)),
        Who("globex employee", globex.employee, (a,)),
        Who("acme admin", acme.admin, (g,)),
        Who("globex admin", globex.admin, (a,)),
        Who("acme partner", acme.partner_staff, (g,)),
        Who("globex partner", globex.partner_staff, (a,)),
        Who("shared partner", shared_staff, ()),
        Who("superuser", superuser, ()),
    ]
    return acme, globex, people


def webhooks_of(tenant) -> None:
    from notifications import webhooks

    for actor in (tenant.admin, tenant.partner_staff):
        webhooks.webhook_endpoint_create(
            actor=actor, url="https://hooks.example.com/velory", events=["device.shipped"]
        )
    webhooks.emit(
        event="device.shipped",
        company_id=tenant.company.pk,
        partner_id=tenant.partner.pk,
        data={"company": tenant.company.name},
        dedup_key=f"matrix:{tenant.company.pk}",
    )


def client_for(who: Who) -> Client:
    client = Client()
    if who.user is not None:
        client.force_login(who.user, backend="companies.backends.EmailBackend")
    return client


def visible(model, user) -> set[int]:
    if user is None:
        return set()
    qs = model._default_manager.all()
    if hasattr(qs, "visible_to"):
        return set(qs.visible_to(user).values_list("pk", flat=True))
    return set(qs.values_list("pk", flat=True)) if user.is_superuser else set()


def samples(model, acme, globex) -> list[int]:
    """One object of each company (as that company's people see it), where there are any."""
    picked = []
    for tenant in (acme, globex):
        seen = set()
        for user in (tenant.admin, tenant.partner_staff, tenant.employee):
            seen |= visible(model, user)
        other = [pk for pk in sorted(seen) if pk not in picked]
        if other:
            picked.append(other[0])
    if not picked:
        first = model._default_manager.order_by("pk").values_list("pk", flat=True).first()
        picked = [first] if first is not None else []
    return picked


class Stats:
    requests = 0


def get(client, url, **params):
    Stats.requests += 1
    response = client.get(url, params)
    assert response.status_code != 500, url
    return response


def post(client, url, data):
    Stats.requests += 1
    response = client.post(url, data)
    assert response.status_code != 500, url
    return response


def text(response) -> str:
    if getattr(response, "streaming", False):
        return ""
    return response.content.decode(errors="replace")


def shows_nothing_foreign(response, who: Who, where: str) -> None:
    if response.status_code == 200:
        body = text(response)
        for name in who.foreign_names:
            assert name not in body, (who.label, where, name)


# --- The matrix ----------------------------------------------------------------------------------


def test_the_permission_matrix(world):
    acme, globex, people = world
    started = time.monotonic()
    registry = admin.site._registry
    cells = 0
    names = resolver_names()
    for who in people:
        client = client_for(who)
        user = who.user
        # Public and one's own pages: never a 500, never another tenant's name.
        for name in sorted(n for n in names if classify(n) in ("public", "own")):
            if name == "password_reset_confirm":
                url = reverse(name, args=["MQ", "not-a-token"])
            elif name == "admin:app_list":
                for label in sorted({m._meta.app_label for m in registry}):
                    shows_nothing_foreign(
                        get(client, reverse(name, args=[label])), who, f"app {label}"
                    )
                    cells += 1
                continue
            elif name == "admin:autocomplete":
                for app_label, model_name, field in (
                    ("budgets", "budget", "employee"),
                    ("devices", "device", "owner"),
                ):
                    response = get(
                        client,
                        reverse(name),
                        app_label=app_label,
                        model_name=model_name,
                        field_name=field,
                        term="",
                    )
                    shows_nothing_foreign(response, who, "autocomplete")
                    cells += 1
                continue
            else:
                url = reverse(name)
            shows_nothing_foreign(get(client, url), who, name)
            cells += 1
        # The portal's object pages: only one's own objects, a foreign one like a missing one.
        for name, (model, owner_field) in PORTAL_OBJECTS.items():
            for pk in [*samples(model, acme, globex), MISSING]:
                response = get(client, reverse(name, args=[pk]))
                cells += 1
                obj = model._default_manager.filter(pk=pk).first()
                if owner_field is None:
                    mine = obj is not None and pk in visible(model, user)
                else:
                    mine = (
                        obj is not None
                        and user is not None
                        and (getattr(obj, owner_field) == user.pk)
                    )
                if user is None:
                    assert response.status_code == 302, (who.label, name)
                elif not mine:
                    missing = get(client, reverse(name, args=[MISSING]))
                    assert response.status_code == missing.status_code, (who.label, name, pk)
                    assert response.status_code in (302, 403, 404, 405), (who.label, name, pk)
                shows_nothing_foreign(response, who, f"{name} {pk}")
        # The directory's API: a session is no credential there.
        for name in sorted(TOKEN_APIS):
            args = {"scim-schema": ["urn:x"], "scim-resource-type": ["User"]}.get(name)
            if name in ("scim-user", "scim-group"):
                args = [MISSING]
            response = get(client, reverse(name, args=args))
            assert response.status_code == 401, (who.label, name, response.status_code)
            assert response.json()["status"] == "401"
            cells += 1
        # The partner API: a session is no credential there either, for reads and writes.
        for name, model in sorted(PARTNER_APIS.items()):
            urls = (
                [reverse(name)]
                if model is None
                else [
                    reverse(name, args=[Order(pk=pk).number])
                    for pk in [*samples(model, acme, globex), MISSING]
                ]
            )
            for url in urls:
                for response in (
                    get(client, url),
                    client.post(
                        url,
                        {"items": []},
                        content_type="application/json",
                        headers={"Idempotency-Key": f"matrix-{who.label}"},
                    ),
                ):
                    assert response.status_code == 401, (who.label, name, response.status_code)
                    assert response.json()["error"]["code"] == "not_authenticated"
                    cells += 1
        # The processor's webhook: the same for everyone, signed in or not.
        for name in sorted(n for n in names if classify(n) == "webhook"):
            assert get(client, reverse(name)).status_code == 405, (who.label, name)
            unsigned = client.post(reverse(name), b"{}", content_type="application/json")
            Stats.requests += 1
            assert unsigned.status_code == 400, (who.label, name, unsigned.status_code)
            cells += 2
        # The admin, model by model.
        for model in registry:
            opts = model._meta
            prefix = f"admin:{opts.app_label}_{opts.model_name}"
            for view in ADMIN_MODEL_VIEWS:
                if f"{prefix}_{view}" in names:
                    response = get(client, reverse(f"{prefix}_{view}"))
                    shows_nothing_foreign(response, who, f"{prefix}_{view}")
                    cells += 1
            seen = visible(model, user)
            for pk in samples(model, acme, globex):
                for view in ("change", "history", "delete"):
                    response = get(client, reverse(f"{prefix}_{view}", args=[pk]))
                    cells += 1
                    if response.status_code == 200:
                        assert pk in seen, (who.label, prefix, view, pk)
                        shows_nothing_foreign(response, who, f"{prefix}_{view} {pk}")
                    if pk not in seen:
                        missing = get(client, reverse(f"{prefix}_{view}", args=[MISSING]))
                        assert response.status_code == missing.status_code, (
                            who.label,
                            prefix,
                            view,
                            pk,
                            response.status_code,
                            missing.status_code,
                        )
            # view on site: the same for a foreign object as for a missing one
            content_type = ContentType.objects.get_for_model(model)
            for pk in samples(model, acme, globex):
                if pk in seen:
                    continue
                response = get(client, reverse("admin:view_on_site", args=[content_type.pk, pk]))
                missing = get(
                    client, reverse("admin:view_on_site", args=[content_type.pk, MISSING])
                )
                assert response.status_code == missing.status_code, (who.label, prefix, pk)
                cells += 1
    elapsed = time.monotonic() - started
    # How long it took is reported, not asserted: a timed test fails on a busy machine and
    # proves nothing about the product.
    print(f"\npermission matrix: {cells} cells, {Stats.requests} requests, {elapsed:.1f} s")
    assert cells > 1000


# --- Forged writes -----------------------------------------------------------------------------


def action_names(model_admin, model, superuser, rf) -> set[str]:
    request = rf.get("/")
    request.user = superuser
    found = set()
    for obj in model._default_manager.all()[:50]:
        found |= {a.name for a in model_admin.get_object_actions(request, obj)}
    return found


def test_forged_writes_with_foreign_ids_change_nothing(world, rf, superuser):
    acme, globex, people = world
    tenants = {"acme": acme, "globex": globex}
    writes = 0
    for model, model_admin in admin.site._registry.items():
        opts = model._meta
        base = f"/admin/{opts.app_label}/{opts.model_name}/"
        buttons = (
            action_names(model_admin, model, superuser, rf)
            if isinstance(model_admin, ObjectActionsAdmin)
            else set()
        )
        bulk = [name for name in (model_admin.actions or []) if isinstance(name, str)]
        bulk += ["delete_selected"]
        for who in people:
            if who.user is None or who.user.is_superuser or who.label == "shared partner":
                continue
            tenant = tenants[who.label.split()[0]]
            foreign = sorted(
                set(model._default_manager.values_list("pk", flat=True)) - visible(model, who.user)
            )[:2]
            if not foreign:
                continue
            client = client_for(who)
            before = {pk: model_to_dict(model._default_manager.get(pk=pk)) for pk in foreign}
            for pk in foreign:
                for name in sorted(buttons):
                    response = post(
                        client,
                        f"{base}{pk}/act/{name}/",
                        {"reason": "forged", "note": "forged", "amount": "1", "carrier": "X"},
                    )
                    assert response.status_code in (403, 404), (who.label, base, name, pk)
                    writes += 1
                response = post(client, f"{base}{pk}/change/", {"name": "forged"})
                assert response.status_code in (302, 403, 404), (who.label, base, pk)
                response = post(client, f"{base}{pk}/delete/", {"post": "yes"})
                assert response.status_code in (302, 403, 404), (who.label, base, pk)
                writes += 2
            for name in bulk:
                response = post(
                    client,
                    base,
                    {"action": name, "_selected_action": foreign, "post": "yes", "apply": "1"},
                )
                if response.get("Content-Type", "").startswith("text/csv"):  # an export
                    exported = b"".join(response.streaming_content).decode()
                    for foreign_name in who.foreign_names:
                        assert foreign_name not in exported, (who.label, base, name)
                writes += 1
            after = {
                pk: model_to_dict(obj)
                for pk, obj in model._default_manager.in_bulk(foreign).items()
            }
            assert after == before, (who.label, base)
            assert tenant is not None
            # and what they may see but not change stays as it is
            perm = f"{opts.app_label}.change_{opts.model_name}"
            own = sorted(visible(model, who.user))[:1]
            if own and not who.user.has_perm(perm):
                kept = model_to_dict(model._default_manager.get(pk=own[0]))
                response = post(client, f"{base}{own[0]}/change/", {"name": "forged"})
                assert response.status_code in (403, 404), (who.label, base, own[0])
                assert model_to_dict(model._default_manager.get(pk=own[0])) == kept
                writes += 1
    print(f"\nforged writes: {writes}")
    assert writes > 200


def test_forged_portal_writes_with_foreign_ids_change_nothing(world):
    acme, globex, people = world
    theirs = list(Device.objects.filter(owner=globex.employee).order_by("pk"))
    order = Order.objects.filter(employee=globex.employee).first()
    request = ProductRequest.objects.filter(employee=globex.employee).first()
    client = client_for(people[1])  # an acme employee
    before = [model_to_dict(d) for d in theirs]
    for device in theirs:
        for name in ("device-receive", "device-lease", "device-buyout", "device-buyout-withdraw"):
            response = post(
                client,
                reverse(name, args=[device.pk]),
                {"serial_number": "X", "received_on": "2026-01-01", "choice": "buyout"},
            )
            assert response.status_code == 404, (name, device.pk)
    response = post(
        client, reverse("order-detail", args=[order.pk]), {"delivery_address": "Forged 1"}
    )
    assert response.status_code == 404
    if request is not None:
        assert post(client, reverse("request-withdraw", args=[request.pk]), {}).status_code == 404
        request.refresh_from_db()
    after = Device.objects.filter(owner=globex.employee).order_by("pk")
    assert [model_to_dict(d) for d in after] == before
    order.refresh_from_db()
    assert order.delivery_address != "Forged 1"
    # Another employee's card payments, of the same company (acme's employee's, to their
    # colleague) or of another (globex's): not found, and nothing changes.
    colleague = client_for(people[2])
    payments = list(CardPayment.objects.order_by("pk"))
    assert {p.company_id for p in payments} == {acme.company.pk, globex.company.pk}
    kept = [model_to_dict(p) for p in payments]
    for payment in payments:
        for name in ("payment-continue", "payment-dismiss"):
            response = post(colleague, reverse(name, args=[payment.pk]), {"next": "budget"})
            assert response.status_code == 404, (name, payment.pk)
        for name in ("payment-return", "payment-cancel", "payment-continue"):
            response = get(colleague, reverse(name, args=[payment.pk]), session_id="cs_forged")
            assert response.status_code == 404, (name, payment.pk)
    assert [model_to_dict(p) for p in CardPayment.objects.order_by("pk")] == kept


def test_the_processor_webhook_takes_only_signed_posts_and_needs_no_login(world):
    import json

    from tests.helpers import processor

    client = Client(enforce_csrf_checks=True)  # the processor has no session, no CSRF token
    url = reverse("processor-webhook")
    before = ProcessorEvent.objects.count()
    event = {"id": "evt_matrix_1", "type": "radar.value", "created": int(time.time())}
    body = json.dumps(event).encode()
    assert client.get(url).status_code == 405
    unsigned = client.post(url, body, content_type="application/json")
    forged = client.post(
        url, body, content_type="application/json", HTTP_STRIPE_SIGNATURE="t=1,v1=" + "0" * 64
    )
    assert (unsigned.status_code, forged.status_code) == (400, 400)
    assert ProcessorEvent.objects.count() == before
    signed = client.post(
        url,
        body,
        content_type="application/json",
        HTTP_STRIPE_SIGNATURE=processor().signature_header(body),
    )
    assert signed.status_code == 200
    assert ProcessorEvent.objects.filter(event_id="evt_matrix_1").count() == 1


def test_payment_mismatches_are_their_companys_and_processor_events_the_superusers(
    world, superuser
):
    from tests.helpers import processor

    acme, globex, _people = world
    ours = PaymentMismatch.objects.get(company=acme.company)
    theirs = PaymentMismatch.objects.get(company=globex.company)
    link = "/admin/budgets/paymentmismatch/{}/change/"

    def listing(user, path):
        response = client_for(Who("x", user, ())).get(path)
        return response.status_code, text(response)

    status, body = listing(acme.admin, "/admin/budgets/paymentmismatch/")
    assert status == 200 and link.format(ours.pk) in body and link.format(theirs.pk) not in body
    status, body = listing(superuser, "/admin/budgets/paymentmismatch/")
    assert status == 200 and link.format(ours.pk) in body and link.format(theirs.pk) in body
    for user in (acme.employee, acme.partner_staff):
        assert listing(user, "/admin/budgets/paymentmismatch/")[0] == 403
    # an event as the processor delivers it (signed, no login)
    body = b'{"id": "evt_matrix_2", "type": "radar.value", "created": 1}'
    signature = processor().signature_header(body)
    Client().post(
        reverse("processor-webhook"),
        body,
        content_type="application/json",
        HTTP_STRIPE_SIGNATURE=signature,
    )
    event = ProcessorEvent.objects.get(event_id="evt_matrix_2")
    for user in (acme.admin, acme.employee, acme.partner_staff):
        assert listing(user, "/admin/budgets/processorevent/")[0] == 403
        assert listing(user, f"/admin/budgets/processorevent/{event.pk}/change/")[0] in (403, 404)
    status, body = listing(superuser, "/admin/budgets/processorevent/")
    assert status == 200 and f"/admin/budgets/processorevent/{event.pk}/change/" in body
