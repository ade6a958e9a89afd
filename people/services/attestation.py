"""Attestation: where the company wants it (``Company.attestation_months``), every employee
holding devices is asked "Do you still have these devices?" that often, answers in one click
on Your Details (yes, or a device lost, stolen or broken, which the company admin hears of
at once), and is reminded until they answer. The admin's report is the Attestation list."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from django.db.models import Exists, Max, OuterRef
from django.utils import timezone

from companies.models import Company, User
from companies.services import profiles_touch
from core.dates import add_months
from core.locks import user_lock
from core.transactions import use_case
from devices.models import Device, DeviceStatus
from notifications.services import notify

from ..models import Attestation, AttestationAnswer

S = DeviceStatus
# What an employee attests to having: devices in their hands.
ATTESTED = (S.RECEIVED, S.ACTIVE)
# Days an employee has to answer; reminders this many days after being asked.
ANSWER_DAYS = 14
REMINDER_DAYS = (7, 14)


def attested_devices(employee_id: int):
    return Device.objects.filter(owner_id=employee_id, status__in=ATTESTED).order_by("pk")


@dataclass
class AttestationReport:
    asked: int = 0
    reminded: int = 0


def attestations_daily(today: date | None = None) -> AttestationReport:
    """Ask those due (one open question per person at a time), remind those who have not
    answered; run twice the same day, nothing is sent twice."""
    today = today or timezone.localdate()
    report = AttestationReport()
    for company in Company.objects.filter(attestation_months__isnull=False):
        since = add_months(today, -company.attestation_months)
        holders = (
            User.objects.filter(company=company, is_active=True, leaver_date__isnull=True)
            .filter(Exists(attested_devices(OuterRef("pk")).values("pk")))
            .exclude(Exists(Attestation.objects.open().filter(employee=OuterRef("pk"))))
            .annotate(last=Max("attestations__asked_on"))
        )
        for person in holders:
            if person.last is None or person.last <= since:
                report.asked += attestation_ask(employee_id=person.pk, today=today)
    for attestation in Attestation.objects.open().select_related("employee"):
        days = (today - attestation.asked_on).days
        due = [d for d in REMINDER_DAYS if days >= d and d not in attestation.reminders_sent]
        if due:
            attestation.reminders_sent = sorted({*attestation.reminders_sent, *due})
            attestation.save(update_fields=["reminders_sent"])
            devices = list(attested_devices(attestation.employee_id))
            notify(
                kind="attestation_reminder",
                recipient=attestation.employee,
                context={"attestation": attestation, "devices": devices},
                dedup_key=f"attestation_reminder:{attestation.pk}:{max(due)}",
            )
            report.reminded += 1
    return report


@use_case
def attestation_ask(*, employee_id: int, today: date) -> int:
    employee = user_lock(employee_id)
    if Attestation.objects.open().filter(employee_id=employee_id).exists():
        return 0
    attestation = Attestation.objects.create(
        company_id=employee.company_id,
        employee=employee,
        asked_on=today,
        due_on=today + timedelta(days=ANSWER_DAYS),
    )
    notify(
        kind="attestation_asked",
        recipient=employee,
        context={"attestation": attestation, "devices": list(attested_devices(employee_id))},
        dedup_key=f"attestation_asked:{attestation.pk}",
    )
    profiles_touch([employee_id])
    return 1


@use_case
def attestation_answer(*, actor, reports: dict[int, tuple[str, str]] | None = None) -> Attestation:
    """The employee answers their open question: every device they hold is there, except
    those in ``reports`` (device id: (lost|stolen|broken, note)), which the company admin
    hears of. Answered twice, the second changes nothing."""
    user_lock(actor.pk)
    attestation = (
        Attestation.objects.visible_to(actor).open().filter(employee=actor).select_for_update()
    ).first()
    if attestation is None:
        raise Attestation.DoesNotExist("Nothing to answer.")
    reports = reports or {}
    devices = list(attested_devices(actor.pk))
    unknown = set(reports) - {d.pk for d in devices}
    if unknown:
        raise Device.DoesNotExist("Not one of your devices.")
    now = timezone.now()
    AttestationAnswer.objects.bulk_create(
        [
            AttestationAnswer(
                attestation=attestation,
                device=device,
                answer=reports.get(device.pk, ("have", ""))[0],
                note=reports.get(device.pk, ("", ""))[1][:300],
                at=now,
            )
            for device in devices
        ]
    )
    attestation.answered_at, attestation.problems = now, len(reports)
    attestation.save(update_fields=["answered_at", "problems"])
    if reports:
        reported = [(d, *reports[d.pk]) for d in devices if d.pk in reports]
        for admin in User.objects.company_admins(actor.company_id):
            notify(
                kind="attestation_problem",
                recipient=admin,
                context={"employee": actor, "reported": reported},
                dedup_key=f"attestation_problem:{attestation.pk}:{admin.pk}",
            )
    profiles_touch([actor.pk])
    return attestation
