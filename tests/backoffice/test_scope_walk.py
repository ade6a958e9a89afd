"""Every registered admin, walked as every role, against data of two tenants: nothing of
the other tenant (or, for partner staff, of what they need not see) appears in a list, a
filter, an autocomplete or an export, and its pages answer "not found"."""

import json
import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib import admin
from django.utils import timezone

from budgets.models import PaymentMismatch, ProcessorEvent, Refund
from budgets.services import refund_execute
from devices import lifecycle
from devices.models import DeviceStatus
from leasing import services as leasing
from leasing.models import LeasingArrangement
from leasing.services import lease_create
from notifications.services import notify
from orders import services as orders
from tests.helpers import (
    REFUND_FAILS,
    approved_order,
    bring_to,
    budget_for,
    card,
    place_order,
    processor,
    product_for,
    submit,
)

pytestmark = pytest.mark.django_db
S = DeviceStatus


def populate(tenant, after_commit):
    """A bit of everything, made the way users make it."""
    tenant.company.card_payments_allowed = True
    tenant.company.save()
    budget_for(tenant, "5000.00")
    budget_for(tenant, "900.00", category="phone")
    phone = product_for(tenant, price="999.00", name="Phone X", category="phone")
    with after_commit():  # the hold is captured after the approval's commit
        paid = approved_order(tenant, phone, card_=card(REFUND_FAILS))
    with after_commit():  # the refund goes to the processor after the cancellation's
        orders.order_cancel(order_id=paid.pk, actor=tenant.admin, reason="Changed plans")
    # The processor then refuses the refund to this card: a payment mismatch is flagged.
    processor().advance(0)
    refund = Refund.objects.get(payment__company=tenant.company)
    assert refund_execute(refund.pk) == "refused"
    assert PaymentMismatch.objects.filter(company=tenant.company).exists()
    submit(tenant, product_for(tenant, price="100.00", name="Mouse", category="accessory"))
    shipped = approved_order(tenant, product_for(tenant, price="1200.00"))
    bring_to(tenant, shipped.devices.get(), S.SHIPPED)
    leased = place_order(tenant, leased=True).devices.get()
    bring_to(tenant, leased, S.ACTIVE)
    lease_create(
        device=leased,
        leasing_company=tenant.company.leasing_company,
        partner=tenant.partner,
        starts_on=timezone.localdate(),
        months=36,
        monthly_price=Decimal("40.00"),
        currency="EUR",
    )
    LeasingArrangement.objects.create(
        company=tenant.company,
        leasing_company=tenant.company.leasing_company,
        partner=tenant.partner,
    )
    choice = "buyout" if tenant.company.buyout_allowed else "return"
    leasing.lease_choose(device_id=leased.pk, actor=tenant.employee, choice=choice)
    lifecycle.device_register_manually(
        actor=tenant.admin, owner_id=tenant.colleague.pk, name="Old laptop", category="laptop"
    )
    notify(
        kind="invite",
        recipient=tenant.employee,
        context={"user": tenant.employee, "link": "x"},
        dedup_key=f"w:{tenant.company.pk}",
    )
    # The people lifecycle: a group with a policy, a directory token, a CSV preview, a
    # leaver's case (the colleague holds the registered laptop) and an open attestation.
    from budgets.models import BudgetPolicy
    from people.services import attestation, csv_import, provisioning, tokens

    group = provisioning.group_provision(
        company=tenant.company, name="Engineering", actor=tenant.admin
    )
    BudgetPolicy.objects.create(
        company=tenant.company, group=group, allowance="1000.00", category="laptop"
    )
    tokens.scim_token_create(company=tenant.company, name="Entra", actor=tenant.admin)
    csv_import.csv_preview(
        company=tenant.company,
        file_name="staff.csv",
        raw=f"email\n{tenant.colleague.email}\n".encode(),
        actor=tenant.admin,
    )
    provisioning.person_set_exit_date(
        user_id=tenant.colleague.pk,
        exit_date=timezone.localdate() + timedelta(days=10),
        actor=tenant.admin,
    )
    attestation.attestation_ask(employee_id=tenant.employee.pk, today=timezone.localdate())


@pytest.fixture
def world(acme, globex, superuser, after_commit):
    from tests.factories import PartnerFactory

    populate(acme, after_commit)
    populate(globex, after_commit)
    # The processor's webhook events as received (superusers only).
    for event in processor().take_undelivered():
        body = json.dumps(event).encode()
        orders.events_receive(body, processor().signature_header(body))
    assert ProcessorEvent.objects.exists()
    # A partner serving both: its rows of each company must stay that company's, and the
    # lists get filters with more than one value (so the filter check has work to do).
    shared = PartnerFactory(
        slug="shared", name="Shared Partner", companies=[acme.company, globex.company]
    )
    for tenant in (acme, globex):
        orders.order_create(
            employee_id=tenant.employee.pk,
            partner_id=shared.pk,
            lines=[orders.LineSpec("USB-C dock", "accessory", Decimal("99.00"), "EUR")],
            delivery_address="Storgatan 1",
        )
    return acme, globex


def visible_pks(model, user):
    manager = model._default_manager
    if hasattr(manager.all(), "visible_to"):
        return set(manager.all().visible_to(user).values_list("pk", flat=True))
    return set(manager.values_list("pk", flat=True)) if user.is_superuser else set()


def url(model, view, *args):
    from django.urls import reverse

    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


@pytest.mark.parametrize("role", ["admin", "partner_staff", "employee", "colleague"])
def test_every_admin_shows_only_the_users_own_tenant(world, login, role):
    acme, _globex = world
    user = getattr(acme, role)
    client = login(user)
    checked = filters_seen = 0
    for model, model_admin in admin.site._registry.items():
        changelist = client.get(url(model, "changelist") + "?all=")
        visible = visible_pks(model, user)
        every = set(model._default_manager.values_list("pk", flat=True))
        foreign = sorted(every - visible)
        label = model._meta.label
        if changelist.status_code == 403:
            assert not user.has_perm(f"{model._meta.app_label}.view_{model._meta.model_name}"), (
                label
            )
        else:
            assert changelist.status_code == 200, label
            html = changelist.content.decode()
            shown = {
                int(pk)
                for pk in re.findall(
                    rf"/admin/{model._meta.app_label}/{model._meta.model_name}/(\d+)/change/", html
                )
            }
            assert shown <= visible, (label, shown - visible)
            # the filters offer only values of the user's own rows
            filters = re.findall(r"(?:\?|&amp;|&)([a-z_]+)__id__exact=(\d+)", html)
            filters_seen += len(filters)
            for field_path, pk in filters:
                related = model._meta.get_field(field_path.split("__")[0]).related_model
                assert int(pk) in visible_pks(related, user) or user.is_superuser, (
                    label,
                    field_path,
                    pk,
                )
            checked += 1
        for pk in foreign[:3]:
            for view in ("change", "history", "delete"):
                response = client.get(url(model, view, pk))
                assert response.status_code in (403, 404), (label, view, pk, response.status_code)
            post = client.post(url(model, "change", pk), {})
            assert post.status_code in (403, 404), (label, pk)
            if hasattr(model_admin, "object_action_view"):
                act = client.post(url(model, "act", pk, "cancel"), {"reason": "x"})
                assert act.status_code in (403, 404), (label, pk)
    if role in ("admin", "partner_staff"):
        assert checked >= 6  # they really see several consoles
    if role == "admin":
        assert filters_seen > 0  # the filter check above really ran


def test_partner_staff_see_no_budgets_payments_requests_or_customers(world, login):
    acme, _ = world
    client = login(acme.partner_staff)
    for path in (
        "/admin/budgets/budget/",
        "/admin/budgets/cardpayment/",
        "/admin/budgets/refund/",
        "/admin/budgets/paymentmismatch/",
        "/admin/budgets/processorevent/",
        "/admin/orders/productrequest/",
        "/admin/notifications/notification/",
    ):
        assert client.get(path).status_code == 403, path
    users = client.get("/admin/companies/user/")
    assert users.status_code == 403


def test_autocomplete_offers_only_own_people(world, login):
    acme, globex = world
    client = login(acme.admin)
    response = client.get(
        "/admin/autocomplete/",
        {"app_label": "budgets", "model_name": "budget", "field_name": "employee", "term": ""},
    )
    assert response.status_code == 200
    ids = {int(r["id"]) for r in response.json()["results"]}
    assert ids and ids <= visible_pks(type(acme.employee), acme.admin)
    assert globex.employee.pk not in ids


def test_search_does_not_reach_another_tenant(world, login):
    acme, globex = world
    body = (
        login(acme.admin)
        .get("/admin/devices/device/", {"q": globex.employee.email})
        .content.decode()
    )
    assert "0 devices" in body or "0 results" in body


def test_export_contains_only_own_rows(world, login):
    acme, globex = world
    client = login(acme.admin)
    response = client.post(
        "/admin/devices/device/",
        {"action": "export_csv", "select_across": "1", "index": "0", "_selected_action": ["0"]},
    )
    assert response["Content-Type"].startswith("text/csv")
    body = b"".join(response.streaming_content).decode()
    assert globex.company.name not in body and acme.company.name in body
    orders_csv = client.post(
        "/admin/orders/order/",
        {"action": "export_csv", "select_across": "1", "index": "0", "_selected_action": ["0"]},
    )
    text = b"".join(orders_csv.streaming_content).decode()
    assert globex.employee.email not in text and acme.employee.email in text
