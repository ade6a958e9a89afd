"""The daily lease-end job: notices at 90/60/30 days, escalations, return reminders."""

from __future__ import annotations

import functools
import hashlib
import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone, translation

from companies.models import User
from companies.services import profiles_touch
from core.locks import leases_lock
from devices.models import DeviceStatus
from notifications import webhooks
from notifications.services import Message, notify_many

from ..models import (
    CHOOSABLE,
    END_THRESHOLDS,
    RETURN_REMINDER_DAYS,
    Lease,
    LeaseNotice,
    LeasingArrangement,
)
from .base import return_party

logger = logging.getLogger(__name__)
S = DeviceStatus


# --- The daily job ------------------------------------------------------------------------------
# Set-based: each part locks its candidate leases in one query (two runs at once queue up
# there, and the second sees what the first recorded), reads their notices already sent in
# one, and writes the new notices, the lease fields and the mail in a few bulk statements.
# The unique (lease, kind) notice row stays the last guarantee.


@dataclass
class DailyReport:
    end_notices: int = 0
    escalated: int = 0
    return_reminders: int = 0
    returns_overdue: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


def _threshold(days_left: int) -> int | None:
    crossed = [t for t in END_THRESHOLDS if days_left <= t]
    return min(crossed) if crossed else None


def leases_daily(today: date | None = None) -> dict[str, int]:
    """Lease ends at 90, 60 and 30 days (the employee once per threshold, the company
    admins in one digest a day), leases past their end with no choice (escalated to the
    company admins once), and return reminders before and after the deadline. Running it
    twice sends nothing twice; its statements do not grow with the number of leases."""
    today = today or timezone.localdate()
    report = DailyReport()
    with transaction.atomic():
        admins = _admins_by_company()
        _end_notices(today, report, admins)
        _escalate(today, report, admins)
        _return_reminders(today, report, admins)
    logger.info("lease daily run %s", report.as_dict())
    return report.as_dict()


def _admins_by_company() -> dict[int, list[User]]:
    by_company: dict[int, list[User]] = defaultdict(list)
    for admin in User.objects.company_admins():
        by_company[admin.company_id].append(admin)
    return by_company


def _locked_leases(*conditions, **filters) -> list[Lease]:
    """The open leases matching ``filters``, locked (only the lease rows), with their
    device, owner, company and financier: one query."""
    return leases_lock(
        within=Lease.objects.open().filter(*conditions, **filters),
        related=["device", "device__owner", "device__company", "leasing_company", "partner"],
    )


def _sent(leases, kinds) -> set[tuple[int, str]]:
    return set(
        LeaseNotice.objects.filter(lease__in=leases, kind__in=list(kinds)).values_list(
            "lease_id", "kind"
        )
    )


def _record(pairs: list[tuple[Lease, str]], now) -> None:
    LeaseNotice.objects.bulk_create(
        [LeaseNotice(lease=lease, kind=kind, sent_at=now) for lease, kind in pairs],
        ignore_conflicts=True,
    )


def _digest_key(rows) -> str:
    listed = ",".join(f"{lease.pk}:{t}" for lease, t in sorted(rows, key=lambda r: r[0].pk))
    return hashlib.sha256(listed.encode()).hexdigest()[:16]


def _end_notices(today: date, report: DailyReport, admins) -> None:
    horizon = today + timedelta(days=max(END_THRESHOLDS))
    leases = _locked_leases(
        choice="", ends_on__gte=today, ends_on__lte=horizon, device__status__in=CHOOSABLE
    )
    due = []
    for lease in leases:
        threshold = _threshold((lease.ends_on - today).days)
        if threshold is not None and (
            lease.last_notice_days is None or threshold < lease.last_notice_days
        ):
            due.append((lease, threshold))
    already = _sent([lease for lease, _ in due], {f"end_{t}" for t in END_THRESHOLDS})
    due = [(lease, t) for lease, t in due if (lease.pk, f"end_{t}") not in already]
    if not due:
        return
    now = timezone.now()
    _record([(lease, f"end_{t}") for lease, t in due], now)
    for threshold in {t for _, t in due}:
        Lease.objects.filter(pk__in=[lease.pk for lease, t in due if t == threshold]).update(
            last_notice_days=threshold
        )
    messages = [
        Message(
            "lease_end_notice",
            f"lease_end:{lease.pk}:{threshold}",
            {
                "device": lease.device,
                "lease": lease,
                "threshold": threshold,
                "buyout_allowed": lease.device.company.buyout_allowed,
            },
            recipient=lease.device.owner,
        )
        for lease, threshold in due
    ]
    by_company: dict[int, list[tuple[Lease, int]]] = defaultdict(list)
    for lease, threshold in due:
        by_company[lease.device.company_id].append((lease, threshold))
    for company_id, rows in by_company.items():
        for admin in admins.get(company_id, []):
            messages.append(
                Message(
                    "lease_end_admin",
                    # keyed by what it lists: a second run that finds other leases
                    # sends its own digest, a repeat of the same one sends nothing
                    f"lease_end_admin:{company_id}:{admin.pk}:{today.isoformat()}:"
                    + _digest_key(rows),
                    {"rows": [{"lease": lease, "threshold": t} for lease, t in rows]},
                    recipient=admin,
                )
            )
    notify_many(messages)
    # Webhooks: the company's and the lease's partner's receivers hear of each notice.
    webhooks.emit_many(
        webhooks.Event(
            "lease.ending",
            f"lease.ending:{lease.pk}:{threshold}",
            functools.partial(_lease_ending_data, lease, threshold, today),
            company_id=lease.device.company_id,
            partner_id=lease.partner_id,
        )
        for lease, threshold in due
    )
    profiles_touch({lease.device.owner_id for lease, _ in due})
    report.end_notices += len(due)


def _lease_ending_data(lease: Lease, threshold: int, today: date) -> dict:
    device = lease.device
    with translation.override(None):  # machine-facing: the source (English) labels
        lease_status, device_status = lease.get_status_display(), str(device.status_label)
    return {
        "lease": {
            "id": lease.pk,
            "starts_on": lease.starts_on,
            "ends_on": lease.ends_on,
            "days_left": (lease.ends_on - today).days,
            "notice_days": threshold,
            "status": lease.status,
            "status_label": lease_status,
            "leasing_company": lease.leasing_company.name,
        },
        "device": {
            "id": device.pk,
            "name": device.name,
            "serial_number": device.serial_number,
            "status": device.status,
            "status_label": device_status,
        },
        "employee": {"id": device.owner_id, "name": device.owner.get_full_name()},
        "company_id": device.company_id,
        "partner_id": lease.partner_id,
    }


def _escalate(today: date, report: DailyReport, admins) -> None:
    """Past its end with no choice, or with a buyout chosen and never paid."""
    leases = _locked_leases(
        Q(choice="", device__status__in=CHOOSABLE)
        | Q(choice=Lease.Choice.BUYOUT, device__status=S.PENDING_BUYOUT),
        ends_on__lt=today,
        escalated_at__isnull=True,
    )
    already = _sent(leases, {"escalated"})
    leases = [lease for lease in leases if (lease.pk, "escalated") not in already]
    if not leases:
        return
    now = timezone.now()
    _record([(lease, "escalated") for lease in leases], now)
    Lease.objects.filter(pk__in=[lease.pk for lease in leases]).update(escalated_at=now)
    notify_many(
        [
            Message(
                "lease_escalated",
                f"lease_escalated:{lease.pk}:{admin.pk}",
                {"lease": lease, "device": lease.device},
                recipient=admin,
            )
            for lease in leases
            for admin in admins.get(lease.device.company_id, [])
        ]
    )
    report.escalated += len(leases)


def _return_reminders(today: date, report: DailyReport, admins) -> None:
    leases = _locked_leases(
        choice=Lease.Choice.RETURN,
        return_due_on__isnull=False,
        return_due_on__lte=today + timedelta(days=RETURN_REMINDER_DAYS),
        device__status=S.PROCESSING_TRADE_IN,
    )
    already = _sent(leases, {"return_soon", "return_overdue"})
    due = []
    for lease in leases:
        kind = "return_soon" if lease.return_due_on >= today else "return_overdue"
        if (lease.pk, kind) not in already:
            due.append((lease, kind))
    if not due:
        return
    _record(due, timezone.now())
    arrangements = {
        (a.company_id, a.leasing_company_id): a
        for a in LeasingArrangement.objects.select_related("partner").filter(
            company_id__in={lease.device.company_id for lease, _ in due}
        )
    }
    messages = []
    for lease, kind in due:
        device = lease.device
        party = return_party(lease, arrangements.get((device.company_id, lease.leasing_company_id)))
        context = {"device": device, "lease": lease, "party": party}
        mail_kind = "lease_return_reminder" if kind == "return_soon" else "lease_return_overdue"
        messages.append(
            Message(
                mail_kind,
                f"lease_{kind}:{lease.pk}",
                context,
                recipient=device.owner,
                from_email=party.from_email,
                reply_to=party.email,
            )
        )
        if kind == "return_overdue":
            messages += [
                Message(
                    "lease_return_overdue_admin",
                    f"lease_return_overdue_admin:{lease.pk}:{admin.pk}",
                    context,
                    recipient=admin,
                )
                for admin in admins.get(device.company_id, [])
            ]
            report.returns_overdue += 1
        else:
            report.return_reminders += 1
    notify_many(messages)
