"""Buyouts: paying by card or salary deduction, completing, withdrawing, payroll exports,
and settling card payments the gateway answered late."""

from __future__ import annotations

import logging

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from budgets import services as budgets
from budgets.models import CardPayment
from budgets.payments import Card, CardDeclined, GatewayUnavailable, PaymentError, get_gateway
from core.locks import buyout_lock, buyouts_lock
from core.tenancy import SYSTEM, acts_as_company_admin
from core.transactions import use_case
from devices.engine import (
    Outcome,
    Result,
    TransitionRefused,
    device_transition,
)
from devices.models import Device, DeviceStatus, Source, Transition
from notifications.services import notify

from ..models import (
    Buyout,
    Lease,
)
from .base import BuyoutRefused, device_visible, leases_close_now

T = Transition
logger = logging.getLogger(__name__)
S = DeviceStatus


# --- Buyout -------------------------------------------------------------------------------------


def _own_pending_buyout(device_id: int, actor, *, lock: bool) -> tuple[Device, Buyout]:
    device = device_visible(device_id, actor)
    pending = Q(lease__device=device, status=Buyout.Status.PENDING)
    # No join under the lock: a locked row re-read after another transaction's commit is
    # not re-joined, so its payment must be read by a statement of its own.
    buyout = (
        buyout_lock(filters=pending)
        if lock
        else Buyout.objects.filter(pending).select_related("payment").first()
    )
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


@use_case
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


@use_case
def buyout_complete(*, buyout_id: int, actor=SYSTEM, note: str = "") -> Buyout:
    """The buyout is paid: the device becomes Bought out by employee and leaves the fleet,
    its lease closes. Called once the card is charged (or by an admin for a payment made
    outside Velory); twice changes nothing."""
    with transaction.atomic():
        buyout = buyout_lock(buyout_id)
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
        transition=T.COMPLETE_BUYOUT,
        actor=actor,
        source=Source.SYSTEM if actor is SYSTEM else Source.ADMIN,
        note=note,
        at=now,
    )
    buyout.status, buyout.paid_at = Buyout.Status.PAID, now
    if not buyout.method:
        buyout.method = Buyout.Method.CARD if buyout.payment_id else Buyout.Method.SALARY
    buyout.save(update_fields=["status", "paid_at", "method"])
    leases_close_now([lease.device_id], Lease.Outcome.BOUGHT_OUT, now)
    notify(
        kind="lease_buyout_paid",
        recipient=lease.device.owner,
        context={"device": lease.device, "buyout": buyout},
        dedup_key=f"lease_buyout_paid:{buyout.pk}",
    )
    # Your Details is renewed by the engine: the device moved in this transaction.
    return buyout


@use_case
def buyout_record_paid(*, device_id: int, actor, note: str = "") -> Outcome:
    """A company admin (or the partner) records a buyout paid outside Velory; a card
    payment completes by itself."""
    device = device_visible(device_id, actor)
    buyout = Buyout.objects.filter(lease__device=device, status=Buyout.Status.PENDING).first()
    if buyout is None:
        raise TransitionRefused(f"{device.name} has no buyout waiting for payment.")
    buyout_complete(
        buyout_id=buyout.pk, actor=actor, note=note or "Paid outside Velory (recorded by admin)."
    )
    device.refresh_from_db()
    return Outcome(device.pk, Result.CHANGED, "", device, S.PENDING_BUYOUT)


@use_case
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
            transition=T.WITHDRAW_BUYOUT,
            actor=actor,
            source=source,
            note="Buyout withdrawn before payment.",
        )
        buyout.status = Buyout.Status.WITHDRAWN
        buyout.save(update_fields=["status"])
        Lease.objects.filter(pk=buyout.lease_id).update(choice="", chosen_at=None)
        return outcome  # Your Details is renewed by the engine: the device moved


@use_case
def buyouts_for_payroll(*, actor, buyout_ids) -> list[Buyout]:
    """The paid salary-deduction buyouts among these not exported yet, for the company's
    payroll export (company admins only). Each is stamped exported by the same statement
    that picks it, so two exports never both list a deduction."""
    if not acts_as_company_admin(actor):
        raise TransitionRefused("Only a company admin exports salary deductions.")
    with transaction.atomic():
        ids = [
            b.pk
            for b in buyouts_lock(
                buyout_ids,
                actor=actor,
                filters=Q(
                    method=Buyout.Method.SALARY,
                    status=Buyout.Status.PAID,
                    payroll_exported_at__isnull=True,
                ),
                only=["pk"],
            )
        ]
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
