"""The daily receipt job: closing the loop from Delivered to Received.

A device the carrier delivered waits for its employee's "Mark as received". The employee is
reminded 2 and 5 days after the delivery (once each; one e-mail a day lists all their
devices waiting), and where the company's policy says so (``auto_receive_after_days``) the
system marks the device received that many days after delivery, and tells them.

Each reminder and each receipt is recorded once (``DeviceNotice``, unique per device and
kind) under the devices' locks, so a retried job, or two runs at once, send nothing twice.
Its statements do not grow with the number of devices."""

from __future__ import annotations

import hashlib
import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.db import transaction
from django.db.models.functions import Coalesce
from django.utils import timezone

from core.locks import devices_lock
from devices.models import Device, DeviceNotice, DeviceStatus
from notifications.services import Message, notify_many

from .receipt import devices_receive_by_policy

logger = logging.getLogger(__name__)
S = DeviceStatus
K = DeviceNotice.Kind

# Days after delivery on which an employee is reminded to mark a device received (once
# each; a day the job did not run is caught up with the latest reminder due).
RECEIPT_REMINDERS = {2: K.RECEIPT_REMINDER_2, 5: K.RECEIPT_REMINDER_5}


@dataclass
class ReceiptsReport:
    auto_received: int = 0
    reminded: int = 0  # devices
    reminder_mails: int = 0  # employees

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


def receipts_daily(today: date | None = None, now: datetime | None = None) -> dict[str, int]:
    """For every Delivered device not yet received: where the company's policy says so,
    received by the system ``auto_receive_after_days`` after delivery (a device delivered
    before the policy was set is received on the first run after its day; the employee is
    told in one e-mail); else its employee is reminded 2 and 5 days after delivery, once
    each, in one e-mail a day listing all their devices waiting. The day of delivery is
    ``delivered_at`` (the status change where a device has none), in local time. Running
    it twice sends and changes nothing more."""
    now = now or timezone.now()
    today = today or timezone.localdate(now)
    report = ReceiptsReport()
    with transaction.atomic():
        _auto_receive(today, now, report)
        _remind(today, now, report)
    logger.info("receipt daily run %s", report.as_dict())
    return report.as_dict()


def _day_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def _waiting(*, delivered_by: date, **filters):
    """Delivered devices whose day of delivery is ``delivered_by`` or before."""
    return (
        Device.objects.filter(status=S.DELIVERED, **filters)
        .annotate(delivered=Coalesce("delivered_at", "status_changed_at"))
        .filter(delivered__lt=_day_start(delivered_by + timedelta(days=1)))
    )


def _delivered_on(device: Device) -> date:
    return timezone.localdate(device.delivered_at or device.status_changed_at)


def _digest(pks) -> str:
    return hashlib.sha256(",".join(str(pk) for pk in sorted(pks)).encode()).hexdigest()[:16]


def _by_owner(devices) -> dict:
    owners: dict[int, list[Device]] = defaultdict(list)
    for device in devices:
        owners[device.owner_id].append(device)
    return owners


def _auto_receive(today: date, now: datetime, report: ReceiptsReport) -> None:
    # the shortest policy is one day: nothing delivered today is due
    candidates = _waiting(
        delivered_by=today - timedelta(days=1), company__auto_receive_after_days__isnull=False
    ).values_list("pk", "delivered", "company__auto_receive_after_days")
    due = [
        pk
        for pk, delivered, days in candidates
        if (today - timezone.localdate(delivered)).days >= days
    ]
    if not due:
        return
    outcomes = devices_receive_by_policy(device_ids=due, at=now)
    received = [o.device for o in outcomes if o.changed]
    if not received:
        return
    DeviceNotice.objects.bulk_create(
        [DeviceNotice(device=d, kind=K.AUTO_RECEIVED, sent_at=now) for d in received],
        ignore_conflicts=True,
    )
    owners = {
        d.owner_id: d.owner
        for d in Device.objects.filter(pk__in=[d.pk for d in received]).select_related("owner")
    }
    notify_many(
        [
            Message(
                "device_received_automatically",
                f"device_received_automatically:{owner_id}:{_digest(d.pk for d in devices)}",
                {
                    "devices": [
                        {"pk": d.pk, "name": d.name, "delivered_on": _delivered_on(d)}
                        for d in devices
                    ],
                    "days": devices[0].company.auto_receive_after_days,
                },
                recipient=owners[owner_id],
            )
            for owner_id, devices in _by_owner(received).items()
        ]
    )
    report.auto_received += len(received)


def _reminder_due(days_since: int) -> str | None:
    crossed = [day for day in RECEIPT_REMINDERS if days_since >= day]
    return RECEIPT_REMINDERS[max(crossed)] if crossed else None


def _remind(today: date, now: datetime, report: ReceiptsReport) -> None:
    first = min(RECEIPT_REMINDERS)
    ids = list(_waiting(delivered_by=today - timedelta(days=first)).values_list("pk", flat=True))
    if not ids:
        return
    # two runs at once queue up here; the second then sees what the first recorded
    devices = [
        d for d in devices_lock(ids, related=["owner", "company"]) if d.status == S.DELIVERED
    ]
    sent = defaultdict(set)
    for device_id, kind in DeviceNotice.objects.filter(
        device__in=devices, kind__in=list(RECEIPT_REMINDERS.values())
    ).values_list("device_id", "kind"):
        sent[device_id].add(kind)
    kinds = [RECEIPT_REMINDERS[day] for day in sorted(RECEIPT_REMINDERS)]
    # a reminder is due unless it, or a later one, went out
    later = {kind: set(kinds[i:]) for i, kind in enumerate(kinds)}
    due: list[tuple[Device, str]] = []
    for device in devices:
        kind = _reminder_due((today - _delivered_on(device)).days)
        if kind is not None and not (sent[device.pk] & later[kind]):
            due.append((device, kind))
    if not due:
        return
    DeviceNotice.objects.bulk_create(
        [DeviceNotice(device=d, kind=kind, sent_at=now) for d, kind in due],
        ignore_conflicts=True,
    )
    by_owner = _by_owner(d for d, _ in due)
    notify_many(
        [
            Message(
                "receipt_reminder",
                # keyed by what it lists: a repeat of the same one sends nothing
                f"receipt_reminder:{owner_id}:{today.isoformat()}:"
                + _digest(d.pk for d in devices),
                {
                    "devices": [_reminder_row(d) for d in devices],
                    "auto_receive_after_days": devices[0].company.auto_receive_after_days,
                },
                recipient=devices[0].owner,
            )
            for owner_id, devices in by_owner.items()
        ]
    )
    report.reminded += len(due)
    report.reminder_mails += len(by_owner)


def _reminder_row(device: Device) -> dict:
    delivered_on = _delivered_on(device)
    days = device.company.auto_receive_after_days
    return {
        "pk": device.pk,
        "name": device.name,
        "delivered_on": delivered_on,
        "received_for_you_on": delivered_on + timedelta(days=days) if days else None,
    }


__all__ = ["RECEIPT_REMINDERS", "ReceiptsReport", "receipts_daily"]
