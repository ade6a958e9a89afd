"""The return: the partner confirms it has the devices back; a leased replacement's
delivery sets when the device it replaces is due back."""

from __future__ import annotations

import logging
from datetime import datetime

from django.db import transaction
from django.db.models import Min
from django.utils import timezone

from companies.services import profiles_touch
from core.i18n import for_recipient
from core.locks import leases_lock
from core.transactions import use_case
from devices.engine import (
    devices_transition,
)
from devices.models import DeviceStatus, Source, Transition
from devices.notices import owners_notify
from notifications.services import Message, notify_many

from ..models import (
    Lease,
    LeaseNotice,
    ReturnReason,
    return_due,
)
from .base import leases_close_now

T = Transition
logger = logging.getLogger(__name__)
S = DeviceStatus


# --- Return -------------------------------------------------------------------------------------


@use_case
def trade_ins_confirm(*, device_ids, actor, source: str = Source.ADMIN, note: str = ""):
    """The partner (for the leasing company too) confirms it has the devices back: they
    become Traded in and their leases close as returned."""
    now = timezone.now()
    with transaction.atomic():
        outcomes = devices_transition(
            device_ids=device_ids,
            transition=T.CONFIRM_TRADE_IN,
            actor=actor,
            source=source,
            note=note or "Received back by the partner.",  # stored in the history as written
            at=now,
        )
        changed = [o.device for o in outcomes if o.changed]
        if changed:
            leases_close_now([d.pk for d in changed], Lease.Outcome.RETURNED, now)
            owners_notify(outcomes, "lease_returned")
    return outcomes


# --- A leased replacement arrives ---------------------------------------------------------------

# The reminders of a return, which follow its deadline: sent again for a moved one.
RETURN_REMINDER_KINDS = ("return_soon", "return_overdue")


def replacements_delivered(*, device_ids, at: datetime | None = None) -> int:
    """These devices reached their employees (delivered, or received without a delivery
    on record). Where one is the leased replacement of an older leased device that goes
    back, the old one is now due the company's grace days after the replacement's first
    delivery (``return_due``, reason "replacement"): the deadline it had while the new one
    was on its way (the lease end's) moves, its reminders follow the new date, and the
    employee is told. Runs in the delivering transaction; one query when nothing is
    replaced, and a second delivery of the same order changes nothing. Returns the leases
    whose deadline moved."""
    ids = list(device_ids)
    if not ids:
        return 0
    delivered = dict(
        Lease.objects.open()
        .filter(
            choice=Lease.Choice.RETURN,
            return_reason=ReturnReason.REPLACEMENT,
            device__replaced_by_requests__order__devices__in=ids,
        )
        .values_list("pk")
        .annotate(first=Min("device__replaced_by_requests__order__devices__delivered_at"))
    )
    if not delivered:
        return 0
    now = at or timezone.now()
    leases = leases_lock(list(delivered), related=["device", "device__owner", "device__company"])
    moved = []
    for lease in leases:
        if lease.choice != Lease.Choice.RETURN or not lease.is_open:
            continue
        since = timezone.localdate(delivered[lease.pk] or now)
        due = return_due(
            lease,
            lease.device.company,
            reason=ReturnReason.REPLACEMENT,
            on=since,
            chosen_on=timezone.localdate(now),
        )
        if lease.return_due_on != due.on:
            lease.return_due_on = due.on
            moved.append((lease, due))
    if not moved:
        return 0
    Lease.objects.bulk_update([lease for lease, _ in moved], ["return_due_on"])
    LeaseNotice.objects.filter(
        lease__in=[lease for lease, _ in moved], kind__in=RETURN_REMINDER_KINDS
    ).delete()
    messages = []
    for lease, due in moved:
        with for_recipient(lease.device.owner):  # the mail's words are the employee's
            explanation = due.explanation
        messages.append(
            Message(
                "lease_return_due",
                f"lease_return_due:{lease.pk}:{due.on.isoformat()}",
                {"device": lease.device, "lease": lease, "explanation": explanation},
                recipient=lease.device.owner,
            )
        )
    notify_many(messages)
    # the old device did not move: its "Return by" on Your Details changed all the same
    profiles_touch({lease.device.owner_id for lease, _ in moved})
    return len(moved)
