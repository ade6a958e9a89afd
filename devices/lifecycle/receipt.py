"""Receiving a device, and what receiving means beyond its status, however it happened (the
employee's click, auto-receive on delivery or some days after it, a tracking update): a
leased device gets its lease (and a leased replacement sets when the device it replaces is
due back), and an order whose every item has arrived has spent its budget."""

from __future__ import annotations

from datetime import date, datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from budgets.selectors import orders_with_budget
from budgets.services import budget_spend
from core.tenancy import SYSTEM
from core.transactions import use_case
from devices.engine import Outcome, device_transition, devices_walk
from devices.models import (
    IN_TRANSIT_STATUSES,
    WITH_PARTNER_STATUSES,
    Device,
    DeviceStatus,
    Source,
    Transition,
)
from leasing.services import leases_open, replacements_delivered


@use_case
def device_mark_received(
    *,
    device_id: int,
    actor,
    serial_number: str = "",
    received_on: date | None = None,
    source: str = Source.WEB,
    at: datetime | None = None,
) -> Outcome:
    """The employee marks their Shipped or Delivered device received, with its serial
    number (optional) and the date it arrived. A second submit changes nothing."""
    serial_number = serial_number.strip()
    if len(serial_number) > 100:
        raise ValidationError(_("A serial number has at most 100 characters."))
    today = timezone.localdate()
    received_on = received_on or today
    if received_on > today:
        raise ValidationError(_("The date received cannot be in the future."))
    with transaction.atomic():
        device = Device.objects.visible_to(actor).select_related("order").get(pk=device_id)
        ordered_on = timezone.localdate(device.order.created_at) if device.order else None
        if ordered_on and received_on < ordered_on:
            raise ValidationError(
                _("The date received cannot be before the order date (%(date)s).")
                % {"date": date_format(ordered_on, "d M Y")}
            )
        outcome = device_transition(
            device_id=device_id,
            transition=Transition.MARK_RECEIVED,
            actor=actor,
            source=source,
            serial_number=serial_number,
            received_on=received_on,
            at=at,
        )
        if outcome.changed:
            receipts_record(devices=[device], actor=actor, at=at)
        return outcome


def auto_received_note(days: int) -> str:
    # Stored in the device's history as written (history notes are not translated).
    return f"Received automatically: not marked received {days} days after delivery (policy)."


@use_case
def devices_receive_by_policy(*, device_ids, at: datetime | None = None) -> list[Outcome]:
    """The system receives Delivered devices their employees have not marked received, by
    their company's policy (``auto_receive_after_days``; the daily receipt job decides
    which are due). The history names the system, with the policy as the reason; each is
    received on the day it was delivered, and its receipt means what a click means (lease
    opened, order spent). A device received meanwhile, or whose company has dropped the
    policy, is left as it is (its outcome says so)."""
    now = at or timezone.now()
    days = dict(
        Device.objects.filter(pk__in=list(device_ids), status=DeviceStatus.DELIVERED)
        .exclude(company__auto_receive_after_days=None)
        .values_list("pk", "company__auto_receive_after_days")
    )
    if not days:
        return []
    with transaction.atomic():
        outcomes = devices_walk(
            plans={
                pk: [(Transition.MARK_RECEIVED, auto_received_note(n))]
                for pk, n in sorted(days.items())
            },
            actor=SYSTEM,
            source=Source.SYSTEM,
            params_for=lambda device, name: {
                "received_on": timezone.localdate(device.delivered_at or device.status_changed_at)
            },
            at=now,
        )
        receipts_record(devices=[o.device for o in outcomes if o.changed], actor=SYSTEM, at=now)
    return outcomes


def receipts_record(*, devices, actor, at=None) -> None:
    """What these devices' receipt means beyond their status: leased devices get their
    lease, and orders whose every item has arrived have spent their budget. Runs in the
    receiving transaction."""
    if not devices:
        return
    leases_open(device_ids=[d.pk for d in devices], at=at)
    # a leased replacement in hand sets when the device it replaces is due back
    replacements_delivered(device_ids=[d.pk for d in devices if d.is_leased], at=at)
    order_ids = {d.order_id for d in devices if d.order_id}
    if order_ids:
        _spend_received_orders(order_ids, actor, at)


def _spend_received_orders(order_ids, actor, at=None) -> None:
    """An order whose every live item is received has spent its committed budget (only
    orders paid from a budget are looked at: one query finds them)."""
    with_budget = orders_with_budget(order_ids)
    if not with_budget:
        return
    waiting = set(
        Device.objects.filter(order_id__in=with_budget)
        .filter(status__in=WITH_PARTNER_STATUSES | IN_TRANSIT_STATUSES)
        .values_list("order_id", flat=True)
    )
    for order_id in sorted(with_budget - waiting):
        budget_spend(order_id=order_id, actor=actor, at=at)
