"""Buyouts: paying by card (on the processor's hosted page, captured at once) or salary
deduction, completing, withdrawing, payroll exports."""

from __future__ import annotations

import logging

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from budgets import services as budgets
from budgets.models import CardPayment
from budgets.payments import PaymentError
from core.jobs import enqueue_named
from core.locks import buyout_lock, buyouts_lock, payment_lock
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
            raise BuyoutRefused(
                _("%(device)s is already bought out and paid for.") % {"device": device.name}
            )
        raise BuyoutRefused(
            _("%(device)s has no buyout waiting for payment.") % {"device": device.name}
        )
    return device, buyout


def buyout_checkout(*, device_id: int, actor) -> CardPayment:
    """The employee pays their buyout by card: on the processor's hosted page, captured at
    once. Returns the payment (its ``checkout_url`` is where to send the employee). An
    unfinished checkout is reused, so a second click never makes a second payment; a
    failed one is started over. ``BuyoutRefused`` when the processor does not answer
    (nothing is charged)."""
    device, buyout = _own_pending_buyout(device_id, actor, lock=False)
    if device.owner_id != actor.pk:
        raise TransitionRefused(_("Only the employee who holds the device pays its buyout."))
    if device.company.buyout_payment != Buyout.Method.CARD:
        raise BuyoutRefused(
            _("%(company)s takes buyouts by salary deduction.") % {"company": device.company.name}
        )
    with transaction.atomic():
        device, buyout = _own_pending_buyout(device_id, actor, lock=True)
        payment = buyout.payment and payment_lock(buyout.payment_id)
        if payment is not None and payment.status == CardPayment.Status.SUCCEEDED:
            raise BuyoutRefused(_("Your payment went through: the buyout completes by itself."))
        if (
            payment is None
            or payment.decision
            or payment.status
            not in (
                CardPayment.Status.PENDING,
                CardPayment.Status.FAILED,
                CardPayment.Status.VOIDED,
            )
        ):
            payment = None
        if payment is None or payment.status == CardPayment.Status.VOIDED:
            attempt = CardPayment.objects.filter(key__startswith=f"buyout:{buyout.pk}:").count()
            payment = budgets.payment_open(
                employee=actor,
                amount=buyout.price,
                currency=buyout.currency,
                purpose=f"Buyout of {device.name}",  # stored (and sent) as written
                key=f"buyout:{buyout.pk}:{attempt + 1}",
                capture=True,
            )
            buyout.payment, buyout.method = payment, Buyout.Method.CARD
            buyout.save(update_fields=["payment", "method"])
    try:
        if payment.status == CardPayment.Status.FAILED or (
            payment.checkout_session_id and _checkout_closed(payment)
        ):
            payment = budgets.payment_new_attempt(payment.pk, capture=True)
        return budgets.payment_checkout_start(payment.pk)
    except PaymentError as error:
        # Translators: %(error)s is the card processor's refusal, a sentence of its own.
        raise BuyoutRefused(_("%(error)s Nothing was charged.") % {"error": error}) from None


def _checkout_closed(payment: CardPayment) -> bool:
    state = budgets.payment_state_fetch(payment.pk)
    return state is not None and state.session_status != "open"


def buyout_payment_changed(buyout_id: int, payment: CardPayment, change: str) -> None:
    """The buyout's side of its card payment's change (in the reporting transaction, the
    buyout and then the payment locked): captured, it completes; captured for a buyout
    withdrawn meanwhile, the money goes back."""
    if change != budgets.CAPTURED:
        return
    buyout = Buyout.objects.get(pk=buyout_id)
    # (the notes and the refund's reason are stored as written: not translated)
    if buyout.status == Buyout.Status.PENDING and buyout.payment_id == payment.pk:
        _complete(buyout, f"Paid by card ({payment.card_brand} •••• {payment.card_last4}).")
    elif buyout.status != Buyout.Status.PAID or buyout.payment_id != payment.pk:
        budgets.refund_create(
            payment_id=payment.pk,
            amount=payment.amount,
            reason="The buyout was withdrawn before the card payment went through.",
            key=f"refund:buyout-payment:{payment.pk}",
        )


@use_case
def buyout_pay_by_salary(*, device_id: int, actor) -> Buyout:
    """The employee accepts a salary deduction (where the company takes buyouts so): it is
    recorded for the company's payroll export and the device is theirs."""
    with transaction.atomic():
        device, buyout = _own_pending_buyout(device_id, actor, lock=True)
        if device.owner_id != actor.pk:
            raise TransitionRefused(_("Only the employee who holds the device accepts its buyout."))
        if device.company.buyout_payment != Buyout.Method.SALARY:
            raise BuyoutRefused(
                _("%(company)s takes buyouts by card.") % {"company": device.company.name}
            )
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
            raise BuyoutRefused(_("This buyout was withdrawn."))
        payment = buyout.payment
        under_way = payment is not None and payment.status == payment.Status.PENDING
        if under_way and (payment.charge_id or payment.checkout_session_id):
            # The card may be charged any moment (the employee may be on the processor's
            # page, or have paid a moment ago): only the payment's outcome completes it.
            raise BuyoutRefused(
                _(
                    "A card payment for this buyout is being processed: it completes by itself "
                    "(or the employee cancels it)."
                )
            )
        if actor is SYSTEM and (payment is None or payment.status != payment.Status.SUCCEEDED):
            raise BuyoutRefused(_("The buyout is not paid yet."))
        if not note:  # stored in the history as written (not translated)
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
        raise TransitionRefused(
            _("%(device)s has no buyout waiting for payment.") % {"device": device.name}
        )
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
        payment = buyout.payment_id and payment_lock(buyout.payment_id)
        if payment and payment.status == payment.Status.SUCCEEDED:
            raise BuyoutRefused(_("The buyout is paid: it can no longer be withdrawn."))
        if payment and payment.status == payment.Status.PENDING and not payment.decision:
            # an unfinished checkout is closed at the processor (a payment that still
            # goes through is refunded when it is reported)
            budgets.payment_decide(payment, CardPayment.Decision.VOID)
            payment_id = payment.pk
            transaction.on_commit(
                lambda: enqueue_named("orders.tasks.payment_decision", payment_id)
            )
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
        raise TransitionRefused(_("Only a company admin exports salary deductions."))
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
