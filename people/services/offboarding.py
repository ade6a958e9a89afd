"""Offboarding: a leaver's case, one item per device they hold, that ends in a definite state
per device: returned (and confirmed by the partner), bought out (and paid, by card or
salary deduction), or written off with a reason (and, for a leased device, the lessor's
settlement).

The case opens when an exit date is set (by an admin, a CSV or the directory) and follows
the exit date when it moves; it is cancelled when the exit date is cleared before anything
was chosen. The employee chooses per device on one page; the daily job chases them on a
schedule, tells the company admin when it runs late, settles items whose device reached
its end (the partner's confirmation, a captured card payment) and closes the case, and
with it the account, once every item is settled and the exit date has come."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone, translation
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from budgets import services as budgets
from budgets.models import CardPayment
from budgets.payments import PaymentError
from companies.models import User
from companies.services import profiles_touch
from core.locks import user_lock
from core.tenancy import SYSTEM, actor_name, acts_as_company_admin
from core.transactions import use_case
from devices.engine import TransitionRefused, device_transition
from devices.lifecycle import device_remove
from devices.models import Device, DeviceStatus, Source, Transition
from leasing.models import Lease, ReturnReason
from leasing.services import lease_choose, lease_record_settlement
from notifications import webhooks
from notifications.services import notify

from ..models import OffboardingCase, OffboardingItem
from .valuation import device_value

logger = logging.getLogger(__name__)
S = DeviceStatus
T = Transition
# What a leaver holds and must give back or buy: devices with them or on their way to them.
HELD = frozenset(
    {S.SHIPPED, S.DELIVERED, S.RECEIVED, S.ACTIVE, S.PENDING_BUYOUT, S.PROCESSING_TRADE_IN}
)
# The chasers: days before the exit date (and -1, the day after it, when the company admin
# is told too). Each goes once per case and exit date.
CHASE_DAYS = (7, 3, -1)
# A device's end state, as its item's outcome.
OUTCOME_OF = {
    S.TRADED_IN: OffboardingItem.Outcome.RETURNED,
    S.BOUGHT_OUT: OffboardingItem.Outcome.BOUGHT_OUT,
    S.REMOVED: OffboardingItem.Outcome.WRITTEN_OFF,
}


class OffboardingRefused(ValidationError):
    """A choice or write-off that cannot be made now (said why, nothing changed)."""


def _name(actor) -> str:
    label = getattr(actor, "label", None)
    return label or actor_name(actor)


def held_devices(employee_id: int):
    return Device.objects.filter(owner_id=employee_id, status__in=HELD).order_by("pk")


def return_by(case: OffboardingCase, company) -> date:
    """A leaver's return deadline, by the rule of ``leasing.models.return_due`` for the
    reason "leaver" (which a leased device's lease gets): the exit date plus the company's
    grace days; when that day has passed (a case opened late), the grace days from today."""
    days = company.return_grace_days
    due, today = case.exit_date + timedelta(days=days), timezone.localdate()
    return due if due > today else today + timedelta(days=max(days, 1))


@use_case
def offboarding_open(*, employee_id: int, exit_date: date, actor) -> OffboardingCase:
    """Open the leaver's case (or move its exit date), with an item for every device they
    hold that has none yet, and tell them what to do. Called again, it adds only what is
    new. An exit date in the past opens the case as overdue, not as an error."""
    employee = User.objects.select_related("company").get(pk=employee_id)
    case = (
        OffboardingCase.objects.select_for_update()
        .filter(employee_id=employee_id, status=OffboardingCase.Status.OPEN)
        .first()
    )
    new = case is None
    if new:
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
    devices = [d for d in held_devices(employee_id).select_related("lease") if d.pk not in have]
    OffboardingItem.objects.bulk_create(
        [
            OffboardingItem(
                case=case,
                device=device,
                **_price(device, exit_date, employee.company),
            )
            for device in devices
        ]
    )
    if new:
        notify(
            kind="offboarding_opened",
            recipient=employee,
            context={"case": case, "employee": employee, "devices": devices},
            dedup_key=f"offboarding_opened:{case.pk}",
        )
        _case_webhook(case, employee, "offboarding.opened")
    profiles_touch([employee_id])
    return case


def _price(device: Device, on: date, company) -> dict:
    device.company = company
    value = device_value(device, on)
    return {"price": value.amount, "currency": value.currency}


@use_case
def offboarding_cancel(*, employee_id: int, actor) -> bool:
    """The exit date was cleared: an open case with nothing chosen or settled is cancelled
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
    profiles_touch([employee_id])
    return True


# --- The employee's choice ------------------------------------------------------------------


def _own_item(item_id: int, actor, *, lock: bool) -> OffboardingItem:
    items = OffboardingItem.objects.visible_to(actor).select_related(
        "case", "case__company", "device"
    )
    if lock:
        items = items.select_for_update(of=("self",))
    item = items.get(pk=item_id)
    if item.case.employee_id != getattr(actor, "pk", None):
        raise OffboardingItem.DoesNotExist("Not yours.")
    return item


@use_case
def offboarding_choose(*, item_id: int, choice: str, actor) -> OffboardingItem:
    """The leaver chooses for one device: return it (by the exit date plus the company's
    grace days; the right party sends the instructions) or buy it (at its value on the
    exit date, where the company allows buyouts). Chosen again the same way, nothing
    changes; a device already on its way back or bought is not chosen for again."""
    if choice not in OffboardingItem.Choice.values:
        raise OffboardingRefused(_("Choose to return the device or to buy it."))
    user_lock(actor.pk)
    item = _own_item(item_id, actor, lock=True)
    case, device, company = item.case, item.device, item.case.company
    if not case.is_open:
        raise OffboardingRefused(_("This offboarding case is closed."))
    if item.settled:
        # Translators: %(outcome)s is how the device ended: Returned, Bought out or Written off.
        raise OffboardingRefused(
            _("%(device)s is settled: %(outcome)s.")
            % {"device": device.name, "outcome": item.get_outcome_display()}
        )
    if item.choice == choice:
        return item
    if item.choice:
        if item.choice == OffboardingItem.Choice.RETURN:
            chosen = _("You chose to return it for %(device)s: ask your IT admin to change it.")
        else:
            chosen = _("You chose to buy it for %(device)s: ask your IT admin to change it.")
        raise OffboardingRefused(chosen % {"device": device.name})
    if choice == OffboardingItem.Choice.BUYOUT and not company.buyout_allowed:
        raise OffboardingRefused(
            _("%(company)s does not allow buyouts: return %(device)s by %(date)s.")
            % {
                "company": company.name,
                "device": device.name,
                "date": date_format(return_by(case, company), "j F Y"),
            }
        )
    if device.status not in (S.RECEIVED, S.ACTIVE):
        # Translators: %(status)s is the device's status; "Received" and "Active" are
        # device statuses too (as the status labels are translated).
        raise OffboardingRefused(
            _("%(device)s is %(status)s: a choice can be made once it is Received or Active.")
            % {"device": device.name, "status": device.status_label}
        )
    note = f"Leaving on {case.exit_date:%-d %B %Y}."
    if device.is_leased and Lease.objects.filter(device=device, status="active").exists():
        lease_choose(
            device_id=device.pk,
            actor=actor,
            choice=choice,
            reason=ReturnReason.LEAVER,
            reason_on=case.exit_date,
            note=note,
        )
        if choice == OffboardingItem.Choice.BUYOUT:
            item.price = Lease.objects.get(device=device).buyouts.latest("created_at").price
    elif choice == OffboardingItem.Choice.RETURN:
        device_transition(
            device_id=device.pk,
            transition=T.START_TRADE_IN,
            actor=actor,
            source=Source.WEB,
            note=f"{note} Return by {return_by(case, company):%-d %B %Y}.",
        )
        _mail_owned_return(item, return_by(case, company))
    else:
        if item.price is None:
            raise OffboardingRefused(
                _("No price is recorded for %(device)s: ask your IT admin to set its value.")
                % {"device": device.name}
            )
        device_transition(
            device_id=device.pk,
            transition=T.REQUEST_BUYOUT,
            actor=SYSTEM,  # carrying out the leaver's choice
            source=Source.WEB,
            note=f"{note} Bought at its value on the exit date.",
        )
    item.choice, item.chosen_at = choice, timezone.now()
    item.save(update_fields=["choice", "chosen_at", "price"])
    profiles_touch([case.employee_id])
    return item


def _mail_owned_return(item: OffboardingItem, due: date) -> None:
    """Return instructions for a company-owned device: from the partner that supplied it,
    else the company's IT support."""
    device, company = item.device, item.case.company
    partner = device.partner
    notify(
        kind="offboarding_return_instructions",
        recipient=item.case.employee,
        context={
            "device": device,
            "due": due,
            "party_name": partner.name if partner else (company.support_name or company.name),
            "party_email": partner.support_email if partner else company.support_email,
        },
        dedup_key=f"offboarding_return:{item.pk}",
        reply_to=(partner.support_email if partner else company.support_email) or "",
    )


def offboarding_buyout_checkout(*, item_id: int, actor) -> CardPayment:
    """Pay for a company-owned device bought on leaving, by card (captured at once, on the
    processor's page). An unfinished checkout is reused: a second click pays nothing
    twice. (A leased device's buyout is paid on its own page, like any lease buyout.)"""
    with transaction.atomic():
        item = _own_item(item_id, actor, lock=True)
        company = item.case.company
        if item.choice != OffboardingItem.Choice.BUYOUT or item.settled:
            raise OffboardingRefused(
                _("%(device)s has no buyout waiting for payment.") % {"device": item.device.name}
            )
        if item.device.is_leased:
            raise OffboardingRefused(_("A leased device's buyout is paid on the device's page."))
        if company.buyout_payment != "card":
            raise OffboardingRefused(
                _("%(company)s takes buyouts by salary deduction.") % {"company": company.name}
            )
        payment = item.payment
        if payment is not None and payment.status == CardPayment.Status.SUCCEEDED:
            raise OffboardingRefused(_("Your payment went through: the buyout completes itself."))
        if payment is None or payment.status == CardPayment.Status.VOIDED or payment.decision:
            attempt = CardPayment.objects.filter(key__startswith=f"offboarding:{item.pk}:").count()
            payment = budgets.payment_open(
                employee=actor,
                amount=item.price,
                currency=item.currency,
                purpose=f"Buyout of {item.device.name} on leaving",
                key=f"offboarding:{item.pk}:{attempt + 1}",
                capture=True,
            )
            item.payment = payment
            item.save(update_fields=["payment"])
    try:
        if payment.status == CardPayment.Status.FAILED:
            payment = budgets.payment_new_attempt(payment.pk, capture=True)
        return budgets.payment_checkout_start(payment.pk)
    except PaymentError as error:
        # Translators: %(error)s is the card processor's problem, said in a sentence.
        raise OffboardingRefused(_("%(error)s Nothing was charged.") % {"error": error}) from None


@use_case
def offboarding_pay_by_salary(*, item_id: int, actor) -> OffboardingItem:
    """The leaver accepts a salary deduction for a company-owned device (where the company
    takes buyouts so): the device is theirs."""
    user_lock(actor.pk)
    item = _own_item(item_id, actor, lock=True)
    company = item.case.company
    if item.choice != OffboardingItem.Choice.BUYOUT or item.settled or item.device.is_leased:
        raise OffboardingRefused(
            _("%(device)s has no buyout waiting for payment.") % {"device": item.device.name}
        )
    if company.buyout_payment != "salary":
        raise OffboardingRefused(
            _("%(company)s takes buyouts by card.") % {"company": company.name}
        )
    return _settle_buyout(item, "Paid by salary deduction on leaving.")


def _settle_buyout(item: OffboardingItem, note: str) -> OffboardingItem:
    device_transition(
        device_id=item.device_id,
        transition=T.COMPLETE_BUYOUT,
        actor=SYSTEM,
        source=Source.SYSTEM,
        note=note,
    )
    item.outcome, item.settled_at = OffboardingItem.Outcome.BOUGHT_OUT, timezone.now()
    item.save(update_fields=["outcome", "settled_at"])
    return item


def salary_deductions_for_payroll(*, actor, case_ids) -> list[OffboardingItem]:
    """Owned devices leavers bought by salary deduction, not handed to payroll yet, of
    these cases (company admins only). Each is stamped exported by the statement that picks
    it, so two exports never both list a deduction."""
    if not acts_as_company_admin(actor):
        raise OffboardingRefused(_("Only a company admin exports salary deductions."))
    with transaction.atomic():
        picked = (
            OffboardingItem.objects.visible_to(actor)
            .select_for_update(of=("self",))
            .filter(
                case_id__in=list(case_ids),
                outcome=OffboardingItem.Outcome.BOUGHT_OUT,
                payment__isnull=True,
                device__is_leased=False,
                payroll_exported_at__isnull=True,
            )
        )
        ids = list(picked.values_list("pk", flat=True))
        OffboardingItem.objects.filter(pk__in=ids).update(payroll_exported_at=timezone.now())
        return list(
            OffboardingItem.objects.filter(pk__in=ids)
            .select_related("case__employee", "device")
            .order_by("settled_at", "pk")
        )


# --- The company admin's write-off -----------------------------------------------------------


@use_case
def offboarding_write_off(
    *, item_id: int, actor, reason: str, kind: str = "lost", settlement=None, reference=""
) -> OffboardingItem:
    """A device that will not come back (lost, stolen, broken beyond repair): written off
    with a reason; a leased one with the leasing company's settlement recorded first."""
    item = (
        OffboardingItem.objects.visible_to(actor)
        .select_related("case", "device")
        .select_for_update(of=("self",))
        .get(pk=item_id)
    )
    if not acts_as_company_admin(actor, item.case.company_id):
        raise OffboardingRefused(_("Only the company's admins write devices off."))
    if item.settled:
        return item
    device = item.device
    if device.is_leased and settlement not in (None, ""):
        lease = Lease.objects.filter(device=device).first()
        if lease is not None and not lease.settled:
            lease_record_settlement(
                lease_id=lease.pk, actor=actor, amount=settlement, reference=reference
            )
    if device.status == S.PENDING_BUYOUT:
        device_transition(
            device_id=device.pk, transition=T.WITHDRAW_BUYOUT, actor=actor, source=Source.ADMIN
        )
    if device.status == S.PROCESSING_TRADE_IN:
        raise OffboardingRefused(
            _(
                "%(device)s is on its way back: the partner confirms it, or it is written off "
                "once the partner reports it lost."
            )
            % {"device": device.name}
        )
    try:
        device_remove(device_id=device.pk, actor=actor, reason=reason, kind=kind)
    except TransitionRefused as refused:
        raise OffboardingRefused(str(refused)) from None
    item.outcome, item.settled_at, item.note = (
        OffboardingItem.Outcome.WRITTEN_OFF,
        timezone.now(),
        reason.strip()[:300],
    )
    if settlement not in (None, ""):
        item.settlement_amount = budgets.clean_amount(settlement, allow_zero=True)
    item.save(update_fields=["outcome", "settled_at", "note", "settlement_amount"])
    return item


# --- The daily job --------------------------------------------------------------------------


@dataclass
class OffboardingReport:
    settled: int = 0
    chasers: int = 0
    escalated: int = 0
    closed: int = 0
    errors: list[str] = field(default_factory=list)


def offboarding_daily(today: date | None = None) -> OffboardingReport:
    """Every open case: settle what has reached its end, chase the leaver, tell the company
    admin when it runs late, and close it (and the account) once everything is settled and
    the exit date has come. Each case in its own transaction: one case's fault stops no
    other; run twice, it sends and changes nothing twice."""
    today = today or timezone.localdate()
    report = OffboardingReport()
    for case_id in OffboardingCase.objects.open().values_list("pk", flat=True):
        try:
            offboarding_step(case_id=case_id, today=today, report=report)
        except Exception as error:  # one case's fault: the others go on
            logger.exception("offboarding case %s failed", case_id)
            report.errors.append(f"case {case_id}: {error}")
    return report


@use_case
def offboarding_step(*, case_id: int, today: date, report: OffboardingReport | None = None):
    report = report or OffboardingReport()
    case = OffboardingCase.objects.select_for_update().select_related("company").get(pk=case_id)
    if not case.is_open:
        return report
    # devices that came to the leaver since (a late delivery) join the case
    have = set(case.items.values_list("device_id", flat=True))
    late = [d for d in held_devices(case.employee_id) if d.pk not in have]
    if late:
        prices = {d.pk: _price(d, case.exit_date, case.company) for d in late}
        OffboardingItem.objects.bulk_create(
            [OffboardingItem(case=case, device=d, **prices[d.pk]) for d in late]
        )
    items = list(case.items.select_related("device", "payment").select_for_update(of=("self",)))
    for item in items:
        report.settled += _settle_from_device(item)
    open_items = [i for i in items if not i.settled]
    if not open_items:
        if case.exit_date <= today:
            _close(case)
            report.closed += 1
        return report
    days = (case.exit_date - today).days
    due = [d for d in CHASE_DAYS if days <= d and d not in case.chasers_sent]
    if due:
        chaser = min(due)  # a case opened late gets the latest chaser only, not all three
        case.chasers_sent = sorted({*case.chasers_sent, *due}, reverse=True)
        case.save(update_fields=["chasers_sent"])
        notify(
            kind="offboarding_chaser",
            recipient=case.employee,
            context={"case": case, "items": open_items, "days": days},
            dedup_key=f"offboarding_chaser:{case.pk}:{case.exit_date}:{chaser}",
        )
        report.chasers += 1
    if days < 0 and case.escalated_at is None:
        case.escalated_at = timezone.now()
        case.save(update_fields=["escalated_at"])
        admins = User.objects.company_admins(case.company_id)
        for admin in admins:
            notify(
                kind="offboarding_escalated",
                recipient=admin,
                context={"case": case, "items": open_items, "days_late": -days},
                dedup_key=f"offboarding_escalated:{case.pk}:{admin.pk}",
            )
        report.escalated += 1
    return report


def _settle_from_device(item: OffboardingItem) -> int:
    """An item whose device reached an end state (the partner confirmed the return, the
    buyout completed, the device was removed) or whose card payment went through."""
    if item.settled:
        return 0
    device = item.device
    payment = item.payment
    if (
        payment is not None
        and payment.status == CardPayment.Status.SUCCEEDED
        and device.status == S.PENDING_BUYOUT
    ):
        _settle_buyout(item, f"Paid by card ({payment.card_brand} •••• {payment.card_last4}).")
        return 1
    outcome = OUTCOME_OF.get(device.status)
    if outcome is None:
        return 0
    item.outcome, item.settled_at = outcome, timezone.now()
    item.save(update_fields=["outcome", "settled_at"])
    return 1


def _close(case: OffboardingCase) -> None:
    """Every device settled and the exit date come: the case closes and the account is
    deactivated. The case, its items, the devices' history and the mail stay."""
    case.status, case.closed_at = OffboardingCase.Status.CLOSED, timezone.now()
    case.save(update_fields=["status", "closed_at"])
    User.objects.filter(pk=case.employee_id).update(is_active=False)
    notify(
        kind="offboarding_closed",
        recipient=case.employee,
        context={"case": case},
        dedup_key=f"offboarding_closed:{case.pk}",
    )
    _case_webhook(case, case.employee, "offboarding.closed")
    profiles_touch([case.employee_id])


def _case_webhook(case: OffboardingCase, employee, event: str) -> None:
    """A leaver's case opened or closed, for the company's receivers: the employee's id and
    name, the dates and the count of devices; nothing of what they chose or paid."""

    def data() -> dict:
        with translation.override(settings.LANGUAGE_CODE):  # a payload: always in English
            status_label = case.get_status_display()
        return {
            "case": {
                "id": case.pk,
                "status": case.status,
                "status_label": status_label,
                "exit_date": case.exit_date,
                "opened_at": case.opened_at,
                "closed_at": case.closed_at,
                "devices": case.items.count(),
            },
            "employee": {"id": employee.pk, "name": employee.get_full_name()},
            "company_id": case.company_id,
        }

    webhooks.emit(
        event=event,
        company_id=case.company_id,
        partner_id=None,
        data=data,
        dedup_key=f"{event}:{case.pk}",
    )


def offboarding_sync_payment(*, employee, payment_id: int) -> None:
    """The leaver is back from the processor's page: settle their item now if the payment
    went through (the daily job would, later)."""
    item = (
        OffboardingItem.objects.visible_to(employee)
        .filter(payment_id=payment_id)
        .select_related("case")
        .first()
    )
    if item is not None and item.case.is_open:
        offboarding_step(case_id=item.case_id, today=timezone.localdate())
