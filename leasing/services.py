"""Leasing use cases: opening a lease when a leased device arrives, the employee's choice
at its end (return or buyout), the return (instructions from the right party, deadline,
reminders, the partner's confirmation), the buyout (card or salary deduction), removal with
the leasing company's settlement, and the daily lease-end job.

Every status change goes through the device engine (``devices.services``); every mail
through the outbox, with a dedup key, so a retry or a second run sends nothing twice."""

from __future__ import annotations

import hashlib
import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from email.utils import formataddr, parseaddr

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from budgets import services as budgets
from budgets.models import CardPayment
from budgets.payments import Card, CardDeclined, GatewayUnavailable, PaymentError, get_gateway
from companies.models import LeasingCompany, Partner, User
from companies.services import profiles_touch
from devices.models import Device, DeviceStatus, Source
from devices.services import (
    Outcome,
    Result,
    TransitionRefused,
    device_transition,
    mail_owners,
)
from devices.services import devices_transition as _devices_transition
from notifications.services import Message, notify, notify_many
from velory.dates import add_months
from velory.tenancy import SYSTEM, Role

from .models import (
    END_THRESHOLDS,
    RETURN_REMINDER_DAYS,
    Buyout,
    Lease,
    LeaseNotice,
    LeasingArrangement,
    ReturnSender,
)

logger = logging.getLogger(__name__)
S = DeviceStatus

# A leased device in one of these may still be returned or bought out.
CHOOSABLE = frozenset({S.RECEIVED, S.ACTIVE})
REMOVAL_KINDS = {"lost": "Lost", "stolen": "Stolen", "scrapped": "Scrapped", "sold": "Sold"}


class BuyoutRefused(Exception):
    """A buyout that cannot be made or paid: the message says why, for the user."""


# --- Who is who ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Party:
    """Whoever sends the return instructions: the reseller or the leasing company."""

    kind: str
    name: str
    email: str
    phone: str = ""
    website: str = ""

    @property
    def from_email(self) -> str:
        """From the party's name, through Velory's own address (so it is delivered), with
        replies going to the party."""
        _, address = parseaddr(settings.DEFAULT_FROM_EMAIL)
        return formataddr((f"{self.name} via Velory", address))


def arrangement_for(company_id: int, leasing_company_id: int) -> LeasingArrangement | None:
    return (
        LeasingArrangement.objects.select_related("partner", "leasing_company")
        .filter(company_id=company_id, leasing_company_id=leasing_company_id)
        .first()
    )


_LOOK_UP = object()


def return_party(lease: Lease, arrangement=_LOOK_UP) -> Party:
    """Who sends this lease's return instructions, by the company's arrangement with the
    leasing company (the reseller when there is no arrangement and a reseller is known).
    Pass the arrangement when it is known (None: there is none) to save the lookup."""
    if arrangement is _LOOK_UP:
        arrangement = arrangement_for(lease.device.company_id, lease.leasing_company_id)
    partner: Partner | None = (arrangement.partner if arrangement else None) or lease.partner
    from_partner = partner is not None and (
        arrangement is None or arrangement.return_instructions_from == ReturnSender.PARTNER
    )
    if from_partner:
        return Party(
            ReturnSender.PARTNER,
            partner.name,
            partner.support_email,
            partner.support_phone,
            partner.website,
        )
    financier: LeasingCompany = lease.leasing_company
    return Party(
        ReturnSender.LEASING_COMPANY,
        financier.name,
        financier.contact_email,
        financier.contact_phone,
        financier.website,
    )


def residual(price: Decimal | None, arrangement: LeasingArrangement | None) -> Decimal | None:
    """The buyout (residual) price of a device bought for ``price``, by the arrangement's
    share (15% without one)."""
    if price is None:
        return None
    share = arrangement.residual_percent if arrangement else Decimal("15")
    return (price * share / 100).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def buyout_price(lease: Lease, arrangement: LeasingArrangement | None = None) -> Decimal:
    """The lease's own buyout (residual) price, else the arrangement's share of the price
    the device was bought for."""
    if lease.buyout_price is not None:
        return lease.buyout_price
    device = lease.device
    return residual(
        device.price if device.price is not None else lease.monthly_price * 12, arrangement
    )


def _is_company_admin(actor, company_id: int) -> bool:
    return bool(
        getattr(actor, "is_superuser", False)
        or (getattr(actor, "role", None) == Role.COMPANY_ADMIN and actor.company_id == company_id)
    )


# --- Opening ------------------------------------------------------------------------------------


@transaction.atomic
def lease_create(
    *,
    device: Device,
    leasing_company: LeasingCompany,
    starts_on: date,
    months: int,
    monthly_price: Decimal,
    currency: str,
    partner: Partner | None = None,
    buyout_price: Decimal | None = None,
) -> Lease:
    """Open the lease of a leased device (when it is received, or registered by hand).
    A device has one lease: asking again returns it unchanged."""
    if not device.is_leased:
        raise ValidationError(f"{device.name} is not leased.")
    if months <= 0 or monthly_price < 0:
        raise ValidationError("A lease runs for at least a month at a price of zero or more.")
    lease, created = Lease.objects.get_or_create(
        device=device,
        defaults={
            "leasing_company": leasing_company,
            "partner": partner,
            "starts_on": starts_on,
            "ends_on": add_months(starts_on, months),
            "monthly_price": monthly_price,
            "buyout_price": buyout_price
            if buyout_price is not None
            else residual(device.price, arrangement_for(device.company_id, leasing_company.pk)),
            "currency": currency,
        },
    )
    if created:
        profiles_touch([device.owner_id])
    return lease


def leases_open_for(device_ids, at=None) -> int:
    """Open the leases of those of these devices that are leased and have none yet (they
    were just received): terms from their order line, financier from their company. One
    query when none is leased; called in the receiving transaction."""
    devices = list(
        Device.objects.filter(pk__in=list(device_ids), is_leased=True, lease__isnull=True)
        .select_related("company", "order_line")
        .only(
            "pk",
            "owner_id",
            "company_id",
            "partner_id",
            "price",
            "currency",
            "received_on",
            "company__leasing_company_id",
            "company__currency",
            "order_line__monthly_price",
            "order_line__lease_months",
            "order_line__unit_price",
            "order_line__currency",
        )
    )
    today = timezone.localdate(at) if at else timezone.localdate()
    arrangements = (
        {
            (a.company_id, a.leasing_company_id): a
            for a in LeasingArrangement.objects.filter(
                company_id__in={d.company_id for d in devices}
            )
        }
        if devices
        else {}
    )
    leases = []
    for device in devices:
        line = device.order_line
        financier = device.company.leasing_company_id
        if line is None or financier is None or not line.lease_months:
            logger.warning("leased device %s has no lease terms or financier", device.pk)
            continue
        starts_on = device.received_on or today
        leases.append(
            Lease(
                device=device,
                leasing_company_id=financier,
                partner_id=device.partner_id,
                starts_on=starts_on,
                ends_on=add_months(starts_on, line.lease_months),
                monthly_price=line.monthly_price or Decimal("0"),
                buyout_price=residual(
                    device.price if device.price is not None else line.unit_price,
                    arrangements.get((device.company_id, financier)),
                ),
                currency=line.currency or device.company.currency,
            )
        )
    if leases:
        Lease.objects.bulk_create(leases, ignore_conflicts=True)
        profiles_touch({lease.device.owner_id for lease in leases})
    return len(leases)


# --- The employee's choice ----------------------------------------------------------------------


def _lock_lease(device: Device) -> Lease:
    lease = (
        Lease.objects.select_for_update(of=("self",))
        .select_related("leasing_company", "partner")
        .filter(device=device)
        .first()
    )
    if lease is None or not device.is_leased:
        raise TransitionRefused(
            f"{device.name} is not leased: there is no lease to return it to or buy it out of."
        )
    lease.device = device
    return lease


def _load_device(device_id: int, actor) -> Device:
    """The device as this actor may see it (a 404 otherwise)."""
    return (
        Device.objects.visible_to(actor)
        .select_related("company", "owner", "partner")
        .get(pk=device_id)
    )


def lease_choose(
    *,
    device_id: int,
    actor,
    choice: str,
    source: str = Source.WEB,
    note: str = "",
    at=None,
) -> Outcome:
    """What happens to a leased device: returned (Processed for trade in, with the return
    instructions mailed by the right party) or bought out (Pending employee buyout, with
    the price; only where the company allows buyouts). Asked again, it changes nothing."""
    if choice not in (Lease.Choice.RETURN, Lease.Choice.BUYOUT):
        raise ValidationError("Choose to return the device or to buy it out.")
    now = at or timezone.now()
    with transaction.atomic():
        device = _load_device(device_id, actor)
        lease = _lock_lease(device)
        if not lease.is_open:
            raise TransitionRefused(f"The lease of {device.name} is closed.")
        if lease.choice == choice:
            return Outcome(device.pk, Result.UNCHANGED, "Already chosen.", device, device.status)
        if choice == Lease.Choice.BUYOUT and not device.company.buyout_allowed:
            raise TransitionRefused(
                f"{device.company.name} does not allow buyouts: {device.name} is returned at "
                "the end of its lease."
            )
        if device.status not in CHOOSABLE:
            raise TransitionRefused(
                f"{device.name} is {device.status_label}: a return or a buyout can only be "
                "chosen for a device that is Received or Active."
            )
        arrangement = arrangement_for(device.company_id, lease.leasing_company_id)
        transition = "start_trade_in" if choice == Lease.Choice.RETURN else "request_buyout"
        outcome = device_transition(
            device_id=device.pk,
            transition=transition,
            actor=actor,
            source=source,
            note=note,
            at=now,
        )
        lease.choice, lease.chosen_at = choice, now
        if choice == Lease.Choice.RETURN:
            days = arrangement.return_days if arrangement else 21
            lease.return_due_on = timezone.localdate(now) + timedelta(days=days)
            lease.save(update_fields=["choice", "chosen_at", "return_due_on"])
            _mail_return_instructions(lease, device, arrangement)
        else:
            lease.save(update_fields=["choice", "chosen_at"])
            buyout = Buyout.objects.create(
                lease=lease,
                company_id=device.company_id,
                employee_id=device.owner_id,
                price=buyout_price(lease, arrangement),
                currency=lease.currency,
                created_at=now,
            )
            notify(
                kind="lease_buyout_offer",
                recipient=device.owner,
                context={"device": device, "lease": lease, "buyout": buyout},
                dedup_key=f"lease_buyout_offer:{buyout.pk}",
            )
        profiles_touch([device.owner_id])
        return outcome


def _mail_return_instructions(lease: Lease, device: Device, arrangement) -> None:
    party = return_party(lease, arrangement)
    notify(
        kind="lease_return_instructions",
        recipient=device.owner,
        context={
            "device": device,
            "lease": lease,
            "party": party,
            "steps": arrangement.return_steps if arrangement else LeasingArrangement().return_steps,
        },
        dedup_key=f"lease_return:{lease.pk}:{lease.chosen_at:%Y%m%d%H%M%S}",
        from_email=party.from_email,
        reply_to=party.email,
    )


def replacement_candidates(employee: User, category: str) -> list[Device]:
    """The employee's leased devices of this category that a leased replacement would
    take the place of (received or in use, lease open)."""
    return list(
        Device.objects.filter(
            owner=employee,
            category=category,
            is_leased=True,
            status__in=CHOOSABLE,
            lease__status=Lease.Status.ACTIVE,
        )
        .select_related("lease")
        .order_by("lease__ends_on")
    )


def replacement_start(*, device_id: int, choice: str, order_number: str, actor=SYSTEM) -> Outcome:
    """On approval of a leased replacement: the old device goes back or is bought out, as
    the employee chose on the request (the system makes the change; the right party's
    e-mail goes out). A device that has moved on since the request (returned, bought out,
    its lease closed) is left as it is: the outcome says so, and the approval goes on."""
    device = Device.objects.select_related("lease").get(pk=device_id)
    lease = getattr(device, "lease", None) if device.is_leased else None
    if lease is None or not lease.is_open or device.status not in CHOOSABLE:
        if lease is not None and lease.choice == choice:
            return Outcome(device.pk, Result.UNCHANGED, "", device, device.status)
        return Outcome(
            device.pk,
            Result.UNCHANGED,
            f"{device.name} is {device.status_label} now: left as it is.",
            device,
            device.status,
        )
    return lease_choose(
        device_id=device_id,
        actor=actor,
        choice=choice,
        source=Source.SYSTEM,
        note=f"Replaced by order {order_number}.",
    )


# --- Return -------------------------------------------------------------------------------------


def trade_ins_confirm(*, device_ids, actor, source: str = Source.ADMIN, note: str = ""):
    """The partner (for the leasing company too) confirms it has the devices back: they
    become Traded in and their leases close as returned."""
    now = timezone.now()
    with transaction.atomic():
        outcomes = _devices_transition(
            device_ids=device_ids,
            transition="confirm_trade_in",
            actor=actor,
            source=source,
            note=note or "Received back by the partner.",
            at=now,
        )
        changed = [o.device for o in outcomes if o.changed]
        if changed:
            _close_leases([d.pk for d in changed], Lease.Outcome.RETURNED, now)
            mail_owners(outcomes, "lease_returned")
    return outcomes


def _close_leases(device_ids, outcome: str, now) -> None:
    Lease.objects.filter(device_id__in=device_ids, status=Lease.Status.ACTIVE).update(
        status=Lease.Status.CLOSED, outcome=outcome, closed_at=now
    )


# --- Buyout -------------------------------------------------------------------------------------


def _own_pending_buyout(device_id: int, actor, *, lock: bool) -> tuple[Device, Buyout]:
    device = _load_device(device_id, actor)
    query = Buyout.objects.filter(lease__device=device, status=Buyout.Status.PENDING)
    if lock:
        query = query.select_for_update(of=("self",))
    # No join under the lock: a locked row re-read after another transaction's commit is
    # not re-joined, so its payment must be read by a statement of its own.
    buyout = query.first() if lock else query.select_related("payment").first()
    if buyout is None:
        if Buyout.objects.filter(lease__device=device, status=Buyout.Status.PAID).exists():
            raise BuyoutRefused(f"{device.name} is already bought out and paid for.")
        raise BuyoutRefused(f"{device.name} has no buyout waiting for payment.")
    return device, buyout


def buyout_pay_by_card(*, device_id: int, actor, card: Card) -> Buyout:
    """The employee pays their buyout with their card. Declined: nothing is charged, the
    device stays Pending employee buyout, ``BuyoutRefused`` says why. A second click while
    the first payment is under way charges nothing more."""
    device, buyout = _own_pending_buyout(device_id, actor, lock=False)
    if device.owner_id != actor.pk:
        raise TransitionRefused("Only the employee who holds the device pays its buyout.")
    if device.company.buyout_payment != Buyout.Method.CARD:
        raise BuyoutRefused(f"{device.company.name} takes buyouts by salary deduction.")
    try:
        token = get_gateway().tokenize(card)
    except PaymentError as error:
        raise BuyoutRefused(f"{error} Nothing was charged.") from None
    with transaction.atomic():
        device, buyout = _own_pending_buyout(device_id, actor, lock=True)
        payment = buyout.payment
        if payment is not None and payment.status == payment.Status.PENDING:
            raise BuyoutRefused("Your payment is already being processed.")
        if payment is not None and payment.status == payment.Status.SUCCEEDED:
            paid = True  # charged, but not yet completed (a crash in between): finish it
        else:
            paid = False
            attempt = (
                CardPayment.objects.filter(key__startswith=f"charge:buyout:{buyout.pk}:").count()
                + 1
            )
            payment = budgets.payment_create(
                employee=actor,
                request_id=None,
                amount=buyout.price,
                currency=buyout.currency,
                token=token,
                purpose=f"Buyout of {device.name}",
                key=f"charge:buyout:{buyout.pk}:{attempt}",
            )
            buyout.payment, buyout.method = payment, Buyout.Method.CARD
            buyout.save(update_fields=["payment", "method"])
    if paid:
        return buyout_complete(buyout_id=buyout.pk)
    try:
        budgets.payment_charge(payment.pk)
    except CardDeclined as declined:
        raise BuyoutRefused(f"{declined} Nothing was charged.") from None
    except GatewayUnavailable:
        logger.warning("buyout %s: card payment pending, gateway unavailable", buyout.pk)
        return buyout
    return buyout_complete(buyout_id=buyout.pk)


def buyout_pay_by_salary(*, device_id: int, actor) -> Buyout:
    """The employee accepts a salary deduction (where the company takes buyouts so): it is
    recorded for the company's payroll export and the device is theirs."""
    with transaction.atomic():
        device, buyout = _own_pending_buyout(device_id, actor, lock=True)
        if device.owner_id != actor.pk:
            raise TransitionRefused("Only the employee who holds the device accepts its buyout.")
        if device.company.buyout_payment != Buyout.Method.SALARY:
            raise BuyoutRefused(f"{device.company.name} takes buyouts by card.")
        buyout.method = Buyout.Method.SALARY
        buyout.save(update_fields=["method"])
        return _complete(buyout, "Paid by salary deduction.")


def buyout_complete(*, buyout_id: int, actor=SYSTEM, note: str = "") -> Buyout:
    """The buyout is paid: the device becomes Bought out by employee and leaves the fleet,
    its lease closes. Called once the card is charged (or by an admin for a payment made
    outside Velory); twice changes nothing."""
    with transaction.atomic():
        buyout = Buyout.objects.select_for_update().get(pk=buyout_id)
        if buyout.status == Buyout.Status.PAID:
            return buyout
        if buyout.status != Buyout.Status.PENDING:
            raise BuyoutRefused("This buyout was withdrawn.")
        payment = buyout.payment
        if payment is not None and payment.status == payment.Status.PENDING:
            # The card may be charged any moment: only the payment's outcome completes it.
            raise BuyoutRefused(
                "A card payment for this buyout is being processed: it completes by itself."
            )
        if actor is SYSTEM and (payment is None or payment.status != payment.Status.SUCCEEDED):
            raise BuyoutRefused("The buyout is not paid yet.")
        if not note:
            note = (
                f"Paid by card ({payment.card_brand} •••• {payment.card_last4})."
                if payment and payment.status == payment.Status.SUCCEEDED
                else "Paid outside Velory."
            )
        return _complete(buyout, note, actor=actor)


def _complete(buyout: Buyout, note: str, actor=SYSTEM) -> Buyout:
    now = timezone.now()
    lease = Lease.objects.select_related("device", "device__owner").get(pk=buyout.lease_id)
    device_transition(
        device_id=lease.device_id,
        transition="complete_buyout",
        actor=actor,
        source=Source.SYSTEM if actor is SYSTEM else Source.ADMIN,
        note=note,
        at=now,
    )
    buyout.status, buyout.paid_at = Buyout.Status.PAID, now
    if not buyout.method:
        buyout.method = Buyout.Method.CARD if buyout.payment_id else Buyout.Method.SALARY
    buyout.save(update_fields=["status", "paid_at", "method"])
    _close_leases([lease.device_id], Lease.Outcome.BOUGHT_OUT, now)
    notify(
        kind="lease_buyout_paid",
        recipient=lease.device.owner,
        context={"device": lease.device, "buyout": buyout},
        dedup_key=f"lease_buyout_paid:{buyout.pk}",
    )
    profiles_touch([lease.device.owner_id])
    return buyout


def buyout_withdraw(*, device_id: int, actor, source: str = Source.WEB) -> Outcome:
    """The employee (or their company admin) withdraws a buyout before it is paid: the
    device is Active again and the lease runs on."""
    with transaction.atomic():
        device, buyout = _own_pending_buyout(device_id, actor, lock=True)
        payment = buyout.payment
        if payment is not None and payment.status == payment.Status.PENDING:
            raise BuyoutRefused("Your payment is being processed: it can no longer be withdrawn.")
        if payment is not None and payment.status == payment.Status.SUCCEEDED:
            raise BuyoutRefused("The buyout is paid: it can no longer be withdrawn.")
        outcome = device_transition(
            device_id=device.pk,
            transition="withdraw_buyout",
            actor=actor,
            source=source,
            note="Buyout withdrawn before payment.",
        )
        buyout.status = Buyout.Status.WITHDRAWN
        buyout.save(update_fields=["status"])
        Lease.objects.filter(pk=buyout.lease_id).update(choice="", chosen_at=None)
        profiles_touch([device.owner_id])
        return outcome


def buyouts_for_payroll(*, actor, buyout_ids) -> list[Buyout]:
    """The paid salary-deduction buyouts among these not exported yet, for the company's
    payroll export (company admins only). Each is stamped exported by the same statement
    that picks it, so two exports never both list a deduction."""
    if not (
        getattr(actor, "is_superuser", False) or getattr(actor, "role", None) == Role.COMPANY_ADMIN
    ):
        raise TransitionRefused("Only a company admin exports salary deductions.")
    with transaction.atomic():
        ids = list(
            Buyout.objects.visible_to(actor)
            .select_for_update(of=("self",))
            .filter(
                pk__in=list(buyout_ids),
                method=Buyout.Method.SALARY,
                status=Buyout.Status.PAID,
                payroll_exported_at__isnull=True,
            )
            .values_list("pk", flat=True)
        )
        Buyout.objects.filter(pk__in=ids, payroll_exported_at__isnull=True).update(
            payroll_exported_at=timezone.now()
        )
        return list(
            Buyout.objects.filter(pk__in=ids)
            .select_related("employee", "lease__device")
            .order_by("paid_at", "pk")
        )


# A buyout's card payment the gateway does not answer is given up after this (the employee
# can then pay again or withdraw), as for requests.
BUYOUT_SETTLE_GIVE_UP_SECONDS = 60 * 60
SETTLE_BATCH_SIZE = 50


def buyouts_settle_payments() -> dict[str, int]:
    """Periodic: finish buyouts whose card payment was left pending (the gateway was down)
    or charged but not completed (a worker died in between). Same idempotency key, so a
    charge that went through is not made twice."""
    counts = {"completed": 0, "failed": 0, "waiting": 0}
    stuck = (
        Buyout.objects.filter(status=Buyout.Status.PENDING)
        .filter(payment__status__in=[CardPayment.Status.PENDING, CardPayment.Status.SUCCEEDED])
        .select_related("payment")
        .order_by("pk")[:SETTLE_BATCH_SIZE]
    )
    for buyout in stuck:
        payment = buyout.payment
        try:
            if payment.status == CardPayment.Status.PENDING:
                budgets.payment_charge(payment.pk)
            buyout_complete(buyout_id=buyout.pk)
            counts["completed"] += 1
        except CardDeclined:
            counts["failed"] += 1
        except GatewayUnavailable:
            age = (timezone.now() - payment.created_at).total_seconds()
            if age > BUYOUT_SETTLE_GIVE_UP_SECONDS:
                CardPayment.objects.filter(pk=payment.pk, status=CardPayment.Status.PENDING).update(
                    status=CardPayment.Status.FAILED,
                    error="The card processor did not answer.",
                    completed_at=timezone.now(),
                )
                counts["failed"] += 1
            else:
                counts["waiting"] += 1
        except BuyoutRefused:
            counts["failed"] += 1
    return counts


# --- Removal and settlement ---------------------------------------------------------------------


@transaction.atomic
def lease_record_settlement(
    *, lease_id: int, actor, amount, reference: str = "", settled_on: date | None = None
) -> Lease:
    """A company admin records what the leasing company settled for a device leaving the
    fleet early (lost, stolen, ...): needed before a leased device can be removed."""
    lease = Lease.objects.visible_to(actor).select_for_update(of=("self",)).get(pk=lease_id)
    device = Device.objects.get(pk=lease.device_id)
    if not _is_company_admin(actor, device.company_id):
        raise TransitionRefused("Only a company admin records a settlement.")
    # zero is a settlement too (the leasing company waives the rest)
    amount = budgets.clean_amount(amount, allow_zero=True)
    lease.settlement_amount = amount
    lease.settlement_reference = reference.strip()[:100]
    lease.settled_on = settled_on or timezone.localdate()
    lease.save(update_fields=["settlement_amount", "settlement_reference", "settled_on"])
    return lease


def device_remove(
    *, device_id: int, actor, reason: str, kind: str = "", source: str = Source.ADMIN
) -> Outcome:
    """A company admin takes a device out of the fleet (lost, stolen, scrapped, sold) with a
    reason. A leased one needs the leasing company's settlement recorded first; its lease
    closes as removed."""
    reason = reason.strip()
    if not reason:
        raise ValidationError("Say why the device leaves the fleet.")
    if kind and kind not in REMOVAL_KINDS:
        raise ValidationError("Removed as lost, stolen, scrapped or sold.")
    device = _load_device(device_id, actor)
    if device.is_leased and not Lease.objects.filter(device=device).exists():
        # Leased but lost before it was received: its lease is opened now, so that the
        # leasing company's settlement has somewhere to be recorded.
        leases_open_for([device.pk])
    with transaction.atomic():
        device = _load_device(device_id, actor)
        # The device first, then its lease: the order every leasing use case locks in.
        Device.objects.select_for_update().filter(pk=device.pk).exists()
        lease = Lease.objects.select_for_update(of=("self",)).filter(device=device).first()
        unsettled = lease is None or (lease.is_open and not lease.settled)
        if device.is_leased and unsettled and device.status != S.REMOVED:
            financier = lease.leasing_company if lease else device.company.leasing_company
            raise TransitionRefused(
                f"{device.name} is leased{f' from {financier}' if financier else ''}: record "
                "the leasing company's settlement on its lease first."
            )
        note = f"{REMOVAL_KINDS[kind]}: {reason}" if kind else reason
        outcome = device_transition(
            device_id=device.pk, transition="remove", actor=actor, source=source, note=note
        )
        if outcome.changed and lease is not None:
            _close_leases([device.pk], Lease.Outcome.REMOVED, timezone.now())
        return outcome


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
    return list(
        Lease.objects.open()
        .filter(*conditions, **filters)
        .select_related("device", "device__owner", "device__company", "leasing_company", "partner")
        .select_for_update(of=("self",))
        .order_by("pk")
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
    profiles_touch({lease.device.owner_id for lease, _ in due})
    report.end_notices += len(due)


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


__all__ = [
    "Buyout",
    "BuyoutRefused",
    "buyout_complete",
    "buyout_pay_by_card",
    "buyout_pay_by_salary",
    "buyout_withdraw",
    "buyouts_for_payroll",
    "buyouts_settle_payments",
    "device_remove",
    "lease_choose",
    "lease_create",
    "lease_record_settlement",
    "leases_daily",
    "leases_open_for",
    "replacement_candidates",
    "replacement_start",
    "return_party",
    "trade_ins_confirm",
]
