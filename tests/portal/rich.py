"""An employee with a bit of everything Your Details shows: devices in every status (leased
ones with a lease-end notice, a return under way and a buyout waiting), an order of several
items, requests waiting, turned down and withdrawn, card payments held, charged, refunded
and released, two budgets, an open "Do you still have these devices?" and a leaver's case.
A colleague and another company's employee have hardware too, which Erin never sees."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from devices import lifecycle
from devices.models import DeviceStatus
from leasing import services as leasing
from leasing.models import Lease, LeasingArrangement, ReturnSender
from orders import services as orders
from orders.models import Order
from people.services import attestation
from people.services import provisioning as people
from tests.helpers import (
    DECLINED,
    approved_order,
    bring_to,
    budget_for,
    card,
    device_in,
    place_order,
    product_for,
    submit,
)

S = DeviceStatus


def rich_employee(acme, after_commit, *, leaver: bool = True, others=None):
    """Erin of ``acme`` with all of the above; ``others`` (a tenant) gets hardware too."""
    company = acme.company
    acme.partner.name = "Acme & Sons <Partner>"  # names are escaped wherever they show
    acme.partner.save()
    company.card_payments_allowed = True
    company.attestation_months = 6
    company.save()
    LeasingArrangement.objects.create(
        company=company,
        leasing_company=company.leasing_company,
        partner=acme.partner,
        return_instructions_from=ReturnSender.LEASING_COMPANY,
        return_steps="Drop it at the nearest post office.",
    )
    budget_for(acme, "800.00")
    budget_for(acme, "150.00", category="accessory")

    # Card payments: one charged and then refunded (its order cancelled), one held for a
    # request waiting for approval, one declined (the request waits for another card), one
    # released (its request withdrawn: a past item).
    with after_commit():
        paid = approved_order(
            acme, product_for(acme, price="999.00", name="Pricey <Pro>"), card_=card()
        )
    with after_commit():
        orders.order_cancel(order_id=paid.pk, actor=acme.admin, reason="Changed plans")
    submit(acme, product_for(acme, price="900.00", name="Held laptop"), card_=card())
    submit(acme, product_for(acme, price="2000.00", name="Workstation"), card_=card(DECLINED))
    released = submit(acme, product_for(acme, price="1500.00", name="Dropped tablet"), card_=card())
    with after_commit():
        orders.request_withdraw(request_id=released.pk, actor=acme.employee)

    # Requests paid from the budget: waiting, turned down (with a reason), withdrawn.
    accessory = {"category": "accessory"}
    submit(acme, product_for(acme, price="40.00", name="Mouse & pad", **accessory))
    rejected = submit(acme, product_for(acme, price="30.00", name="Cable", **accessory))
    orders.request_reject(request_id=rejected.pk, actor=acme.admin, reason="We have <spares>")
    withdrawn = submit(acme, product_for(acme, price="20.00", name="Stand", **accessory))
    orders.request_withdraw(request_id=withdrawn.pk, actor=acme.employee)

    # Devices in every status an employee sees.
    for status in (
        S.ORDERED,
        S.NOT_STARTED,
        S.ON_HOLD,
        S.PREPARING,
        S.BACKORDERED,
        S.SHIPPED,
        S.DELIVERED,
        S.RECEIVED,
        S.ACTIVE,
        S.CANCELLED,
    ):
        device_in(acme, status, name=f"{status.label} laptop")
    removed = device_in(acme, S.ACTIVE, name="Lost phone")
    lifecycle.device_remove(device_id=removed.pk, actor=acme.admin, reason="Lost on a train")
    big = place_order(acme, items=5, name="Monitor")
    for device in big.devices.order_by("pk")[:2]:
        bring_to(acme, device, S.SHIPPED)
    Order.objects.filter(pk=big.pk).update(
        expected_delivery=timezone.localdate() + timedelta(days=5)
    )
    device_in(acme, S.ACTIVE, name='Erin\'s "Q&A" <tablet>')
    lifecycle.device_register_manually(
        actor=acme.admin, owner_id=acme.employee.pk, name="Old dock", category="accessory"
    )
    # Leased: a lease-end notice to answer, a return under way (and one overdue), a buyout
    # waiting for payment, a return done.
    noticed = device_in(acme, S.ACTIVE, leased=True, name="Leased notice")
    lease = Lease.objects.get(device=noticed)
    lease.starts_on = timezone.localdate() - timedelta(days=1000)
    lease.ends_on = timezone.localdate() + timedelta(days=45)
    lease.save()
    leasing.leases_daily()
    returning = device_in(acme, S.ACTIVE, leased=True, name="Leased return")
    leasing.lease_choose(device_id=returning.pk, actor=acme.employee, choice="return")
    late = device_in(acme, S.ACTIVE, leased=True, name="Leased late")
    leasing.lease_choose(device_id=late.pk, actor=acme.employee, choice="return")
    Lease.objects.filter(device=late).update(return_due_on=timezone.localdate() - timedelta(days=2))
    buying = device_in(acme, S.ACTIVE, leased=True, name="Leased buyout")
    leasing.lease_choose(device_id=buying.pk, actor=acme.employee, choice="buyout")
    device_in(acme, S.TRADED_IN, leased=True, name="Leased returned")

    attestation.attestations_daily(today=timezone.localdate())
    if leaver:
        people.person_set_exit_date(
            user_id=acme.employee.pk,
            exit_date=timezone.localdate() + timedelta(days=20),
            actor=acme.admin,
        )
    # Hardware of others, in the same company and another.
    device_in(acme, S.SHIPPED, employee=acme.colleague, name="Colleague laptop")
    budget_for(acme, "500.00", employee=acme.colleague)
    submit(acme, product_for(acme, price="10.00", name="Colleague mouse"), employee=acme.colleague)
    if others is not None:
        device_in(others, S.ACTIVE, name="Stranger laptop")
        budget_for(others, "700.00")
        submit(others, product_for(others, price="15.00", name="Stranger mouse"))
    from django.core.cache import cache

    cache.clear()  # the direct updates above bump no profile version
    acme.employee.refresh_from_db()
    return acme.employee
