"""Offboarding: a leaver's case, one item per device they hold, that ends in a definite state
per device (returned and confirmed, bought out and paid, or written off with a reason).

The case opens when an exit date is set (by an admin, a CSV or the directory) and follows
the exit date when it moves; it is cancelled when the exit date is cleared before anything
was settled."""

from __future__ import annotations

from datetime import date

from django.utils import timezone

from companies.models import User
from core.tenancy import actor_name
from core.transactions import use_case
from devices.models import Device, DeviceStatus

from ..models import OffboardingCase, OffboardingItem

S = DeviceStatus
# What a leaver holds and must give back or buy: devices with them or on their way to them.
HELD = frozenset(
    {S.SHIPPED, S.DELIVERED, S.RECEIVED, S.ACTIVE, S.PENDING_BUYOUT, S.PROCESSING_TRADE_IN}
)


def _name(actor) -> str:
    label = getattr(actor, "label", None)
    return label or actor_name(actor)


def held_devices(employee_id: int):
    return Device.objects.filter(owner_id=employee_id, status__in=HELD).order_by("pk")


@use_case
def offboarding_open(*, employee_id: int, exit_date: date, actor) -> OffboardingCase:
    """Open the leaver's case (or move its exit date), with an item for every device they
    hold that has none yet. Called again, it adds only what is new."""
    employee = User.objects.get(pk=employee_id)
    case = (
        OffboardingCase.objects.select_for_update()
        .filter(employee_id=employee_id, status=OffboardingCase.Status.OPEN)
        .first()
    )
    if case is None:
        case = OffboardingCase.objects.create(
            company_id=employee.company_id,
            employee=employee,
            exit_date=exit_date,
            opened_by=_name(actor),
        )
    elif case.exit_date != exit_date:
        case.exit_date = exit_date
        case.chasers_sent = []  # the chasers follow the new date
        case.save(update_fields=["exit_date", "chasers_sent"])
    have = set(case.items.values_list("device_id", flat=True))
    OffboardingItem.objects.bulk_create(
        [
            OffboardingItem(case=case, device_id=pk)
            for pk in held_devices(employee_id).values_list("pk", flat=True)
            if pk not in have
        ]
    )
    return case


@use_case
def offboarding_cancel(*, employee_id: int, actor) -> bool:
    """The exit date was cleared: an open case with nothing settled or chosen is cancelled
    (kept, with its history); one under way stays open for the admin to finish."""
    case = (
        OffboardingCase.objects.select_for_update()
        .filter(employee_id=employee_id, status=OffboardingCase.Status.OPEN)
        .first()
    )
    if case is None:
        return False
    if case.items.exclude(outcome="", choice="").exists():
        return False
    case.status, case.closed_at = OffboardingCase.Status.CANCELLED, timezone.now()
    case.save(update_fields=["status", "closed_at"])
    return True
