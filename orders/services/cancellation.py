"""Cancelling an order: by its partner, a company admin, or the system."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from budgets import services as budgets
from budgets.models import ZERO, CardPayment
from core.locks import order_lock, payment_lock
from core.tenancy import SYSTEM, Role
from core.transactions import use_case
from devices.engine import TransitionRefused, devices_transition
from devices.models import LABELS, WITH_PARTNER_STATUSES, Device, DeviceStatus, Source, Transition
from notifications.services import notify

from ..models import Order, OrderEvent
from .holds import payment_void
from .orders import order_event

T = Transition
S = DeviceStatus


@dataclass
class Cancellation:
    order: Order
    cancelled: list[Device] = field(default_factory=list)
    kept: list[Device] = field(default_factory=list)  # already left the partner: refused
    released: Decimal = ZERO
    refunded: Decimal = ZERO
    released_hold: Decimal = ZERO  # a card hold not yet captured, voided
    outcomes: list = field(default_factory=list)  # per device asked about

    @property
    def changed(self) -> bool:
        return bool(self.cancelled)

    @property
    def kept_message(self) -> str:
        if not self.kept:
            return ""
        names = ", ".join(f"{d.name} ({LABELS[d.status]})" for d in self.kept)
        # Translators: %(devices)s lists devices with their status: "MacBook Air (Shipped)".
        return _("Not cancelled, because already on its way or delivered: %(devices)s.") % {
            "devices": names
        }


def _may_cancel(actor, order: Order) -> bool:
    if actor is SYSTEM or getattr(actor, "is_superuser", False):
        return True
    role = getattr(actor, "role", None)
    if role == Role.COMPANY_ADMIN:
        return actor.company_id == order.company_id
    if role == Role.PARTNER_STAFF:
        return actor.partner_id == order.partner_id
    return False


@use_case
@transaction.atomic
def order_cancel(
    *, order_id: int, actor, reason: str, source: str = Source.ADMIN, device_ids=None
) -> Cancellation:
    """Cancel every device of the order still with the partner (or only ``device_ids`` of
    it); devices already shipped or later are refused, by name. The money of the cancelled
    devices comes back at once: first the employee's card payment (a refund to the same
    card), then the budget. The
    order's row lock makes two cancellations at once (two admins, a retried task) queue:
    the second finds nothing left to cancel and releases and refunds nothing."""
    reason = reason.strip()
    if not reason and actor is not SYSTEM:
        raise ValidationError(_("Give a reason for the cancellation."))
    order = order_lock(order_id, actor=actor, related=["employee", "partner"])
    if not _may_cancel(actor, order):
        raise TransitionRefused(_("Only the partner or a company admin can cancel an order."))
    devices = Device.objects.filter(order=order).order_by("pk")
    if device_ids is not None:
        devices = devices.filter(pk__in=device_ids)
    devices = list(devices)
    result = Cancellation(order=order)
    open_ids = [d.pk for d in devices if d.status in WITH_PARTNER_STATUSES]
    result.kept = [
        d for d in devices if d.status not in WITH_PARTNER_STATUSES and d.status != S.CANCELLED
    ]
    if not open_ids:
        if result.kept:
            raise TransitionRefused(
                _("Order %(number)s cannot be cancelled. %(why)s")
                % {"number": order.number, "why": result.kept_message}
            )
        return result  # cancelled already: nothing more to do
    outcomes = devices_transition(
        device_ids=open_ids, transition=T.CANCEL, actor=actor, source=source, note=reason
    )
    result.outcomes = outcomes
    result.cancelled = [o.device for o in outcomes if o.changed]
    refused = [o.message for o in outcomes if o.result.value == "refused"]
    if refused and not result.cancelled:
        raise TransitionRefused(" ".join(refused))
    value = sum((d.price or ZERO for d in result.cancelled), ZERO)
    key = f"order:{order.pk}:" + "-".join(str(d.pk) for d in result.cancelled)
    payment = CardPayment.objects.filter(request__order=order).first()
    if payment is not None and value > 0:
        payment = payment_lock(payment.pk)
        if payment.status == CardPayment.Status.SUCCEEDED:
            refund = budgets.refund_create(
                payment_id=payment.pk,
                amount=min(value, payment.refundable),
                reason=f"Order {order.number} cancelled: {reason}",
                key=f"refund:{key}",
            )
            result.refunded = refund.amount if refund else ZERO
        elif payment.status == CardPayment.Status.AUTHORIZED:
            # approved but not captured yet: the hold is released instead (a capture that
            # wins the race is refunded when it is reported)
            payment_void(payment)
            result.released_hold = min(value, payment.amount)
    if value - result.refunded - result.released_hold > 0:
        result.released = budgets.budget_release_order(
            order_id=order.pk,
            amount=value - result.refunded - result.released_hold,
            actor=actor,
            reason=f"Order {order.number} cancelled: {reason}",
            key=f"release:{key}",
        )
    # The order's history line is stored as written (not translated), like the reasons of
    # the refund and the budget release above.
    names = ", ".join(d.name for d in result.cancelled)
    money = []
    if result.released:
        money.append(f"{result.released} {order.company.currency} back in the budget")
    if result.refunded:
        money.append(f"{result.refunded} {payment.currency} refunded to the card")
    if result.released_hold:
        money.append(f"the hold of {result.released_hold} {payment.currency} on the card released")
    event = order_event(
        order,
        actor,
        OrderEvent.Kind.CANCELLED,
        f"Cancelled: {names}." + (f" {'; '.join(money).capitalize()}." if money else ""),
        {"reason": reason, "released": str(result.released), "refunded": str(result.refunded)},
    )
    notify(
        kind="order_cancelled",
        recipient=order.employee,
        context={
            "order": order,
            "cancelled": result.cancelled,
            "kept": result.kept,
            "reason": reason,
            "released": result.released,
            "refunded": result.refunded,
            "payment": payment,
            "currency": order.company.currency,
        },
        dedup_key=f"order_cancelled:{order.pk}:{event.pk}",
    )
    return result
