"""Product requests: submit (reserving the budget, and where the company allows asking the
employee's card, on the processor's hosted page, to hold the part over it), withdraw,
approve (which makes the order and captures the hold) and reject (which releases it)."""

from __future__ import annotations

import logging
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from budgets import services as budgets
from budgets.models import ZERO, CardPayment
from budgets.payments import PaymentError
from budgets.services import BudgetRefused
from companies.models import User
from companies.services import profiles_touch
from core.locks import budget_lock, payment_lock, request_lock
from core.tenancy import SYSTEM, Role
from core.transactions import use_case
from devices.engine import TransitionRefused
from devices.models import Source
from leasing.selectors import replacement_candidates
from leasing.services import replacement_start
from notifications import webhooks
from notifications.services import Message, notify, notify_many

from ..models import OrderEvent, Product, ProductRequest, RequestStatus
from ..selectors import request_quote
from .holds import payment_capture, payment_void
from .orders import LineSpec, order_create, order_event

logger = logging.getLogger(__name__)


def _company_admins(company_id: int) -> list[User]:
    return list(User.objects.company_admins(company_id))


def request_submit(
    *,
    employee: User,
    product_id: int,
    delivery_address: str,
    note: str = "",
    replaces_device_id: int | None = None,
    replacement_choice: str = "",
    at=None,
) -> ProductRequest:
    """An employee requests a product. The budget part is reserved under the budget's row
    lock, so two requests at once can never together overspend it. A part over the budget
    (where the company allows it) is held on the employee's card: the request waits for
    card authentication, the hosted checkout is made after commit (``request.card_payment
    .checkout_url`` is where to send the employee), and the request goes to the company
    admin once the processor confirms the hold."""
    if employee.company_id is None or not employee.is_active:
        raise TransitionRefused(_("Only an employee of a company can request hardware."))
    product = (
        Product.objects.visible_to(employee).active().select_related("partner").get(pk=product_id)
    )
    delivery_address, note = delivery_address.strip(), note.strip()
    if not delivery_address:
        raise ValidationError(_("Enter the delivery address."))
    replaces = _check_replacement(employee, product, replaces_device_id, replacement_choice)
    first = request_quote(employee=employee, product=product)
    if not first.allowed:
        raise BudgetRefused(first.message)
    request, payment = _request_record(
        employee=employee,
        product=product,
        budget_id=first.budget.pk,
        delivery_address=delivery_address,
        note=note,
        replaces=replaces,
        replacement_choice=replacement_choice,
        at=at,
    )
    if payment is None:
        _tell_admins(request)
        return request
    try:
        budgets.payment_checkout_start(payment.pk)
    except PaymentError as exc:
        # The request and its reservation are kept; "Continue to payment" tries again.
        logger.warning("checkout for request %s not made yet: %s", request.pk, exc)
    request.refresh_from_db()
    return request


@use_case
def _request_record(
    *,
    employee,
    product,
    budget_id,
    delivery_address,
    note,
    replaces,
    replacement_choice,
    at,
):
    """The request's database part, under the budget's lock (a use case of its own, so a
    lost deadlock is retried without asking the card gateway again)."""
    budget = budget_lock(budget_id)
    quote = request_quote(employee=employee, product=product, budget=budget)
    if not quote.allowed:
        raise BudgetRefused(
            (
                _(
                    "Your available budget changed while you were requesting. Check the new "
                    "amounts and send the request again. %(reason)s"
                )
                % {"reason": quote.message}
            ).strip()
        )
    request = ProductRequest.objects.create(
        company_id=employee.company_id,
        employee=employee,
        product=product,
        partner=product.partner,
        name=product.name,
        category=product.category,
        amount=quote.amount,
        currency=quote.currency,
        budget_amount=quote.budget_amount,
        card_amount=quote.card_amount,
        is_leased=product.is_leased,
        delivery_address=delivery_address,
        note=note,
        replaces_device=replaces,
        replacement_choice=replacement_choice if replaces else "",
        status=RequestStatus.AWAITING_PAYMENT if quote.card_amount > 0 else RequestStatus.PENDING,
        created_at=at or timezone.now(),
    )
    if quote.budget_amount > 0:
        budgets.budget_reserve(
            budget=budget,
            amount=quote.budget_amount,
            request_id=request.pk,
            actor=employee,
            at=at,
        )
    payment = None
    if quote.card_amount > 0:
        payment = budgets.payment_open(
            employee=employee,
            request_id=request.pk,
            amount=quote.card_amount,
            currency=quote.currency,
            # stored (and sent to the processor) as written: not translated
            purpose=f"{product.name} (request {request.number}), the part over your budget",
            key=f"hold:request:{request.pk}",
            capture=False,
            at=at,
        )
    profiles_touch([employee.pk])  # a new request: the one place a request is created
    return request, payment


def _check_replacement(employee, product, device_id, choice):
    """A leased product asked for while the employee holds a leased device of its kind:
    the request says what happens to that one (return it, or buy it out where the policy
    allows). Returns the device replaced, or None."""
    if not product.is_leased:
        return None
    candidates = {d.pk: d for d in replacement_candidates(employee, product.category)}
    if not candidates:
        return None
    if device_id is None and len(candidates) == 1:
        device_id = next(iter(candidates))
    device = candidates.get(device_id)
    if device is None:
        raise ValidationError(_("Choose which of your leased devices this one replaces."))
    if choice not in ("return", "buyout"):
        raise ValidationError(
            _("Choose what happens to your %(device)s: return it or buy it out.")
            % {"device": device.name}
        )
    if choice == "buyout" and not employee.company.buyout_allowed:
        raise ValidationError(
            _("%(company)s does not allow buyouts: your %(device)s is returned.")
            % {"company": employee.company.name, "device": device.name}
        )
    return device


def _tell_admins(request: ProductRequest) -> None:
    with transaction.atomic():
        notify_many(
            [
                Message(
                    kind="request_submitted",
                    recipient=admin,
                    context={"request": request, "employee": request.employee},
                    dedup_key=f"request_submitted:{request.pk}:{admin.pk}",
                )
                for admin in _company_admins(request.company_id)
            ]
        )


def fail_request(request: ProductRequest, reason: str) -> None:
    """A request whose card part was never held is not sent: its reservation is released.
    In the caller's transaction, the request locked."""
    if request.status not in (RequestStatus.PENDING, RequestStatus.AWAITING_PAYMENT):
        return
    request.fail_payment(by=None, description=reason)
    _request_saved(request)
    budgets.budget_release_request(
        request_id=request.pk, actor=SYSTEM, reason="Card payment failed."
    )


def _request_saved(request: ProductRequest) -> None:
    """The one way a request's change is written: saved, and its employee's Your Details
    (which lists requests) renewed."""
    request.save()
    profiles_touch([request.employee_id])


def _lock_request(request_id: int, actor) -> ProductRequest:
    return request_lock(request_id, actor=actor, related=["employee", "product", "partner"])


def _refund_request_card(request: ProductRequest, reason: str) -> Decimal:
    """Give the card part back: a hold is released (nothing was charged), money captured
    is refunded to the same card, once (the key is the request's)."""
    payment = CardPayment.objects.filter(request=request).first()
    if payment is None:
        return ZERO
    payment = payment_lock(payment.pk)
    if payment.status in (CardPayment.Status.PENDING, CardPayment.Status.AUTHORIZED):
        payment_void(payment)
        return ZERO
    refund = budgets.refund_create(
        payment_id=payment.pk,
        amount=payment.amount,
        reason=reason,
        key=f"refund:request:{request.pk}",
    )
    return refund.amount if refund else ZERO


@use_case
@transaction.atomic
def request_withdraw(*, request_id: int, actor) -> ProductRequest:
    """The employee takes back a request not yet decided: the reservation is released and
    a hold on their card voided (nothing was charged)."""
    request = _lock_request(request_id, actor)
    if request.employee_id != getattr(actor, "pk", None):
        raise TransitionRefused(_("Only the employee who made the request can withdraw it."))
    if request.status == RequestStatus.WITHDRAWN:
        return request
    if request.status not in (RequestStatus.PENDING, RequestStatus.AWAITING_PAYMENT):
        # Translators: %(status)s is the request's status in lower case (docs/glossary.md).
        raise TransitionRefused(
            _("Request %(number)s is %(status)s: it can no longer be withdrawn.")
            % {"number": request.number, "status": request.get_status_display().lower()}
        )
    # (the log's description and the ledger's reason are stored as written: not translated)
    request.withdraw(by=actor, description="Withdrawn by the employee.")
    _request_saved(request)
    budgets.budget_release_request(request_id=request.pk, actor=actor, reason="Request withdrawn.")
    _refund_request_card(request, "Request withdrawn.")
    return request


def _check_admin(actor, request: ProductRequest) -> None:
    if getattr(actor, "is_superuser", False) or actor is SYSTEM:
        return
    if getattr(actor, "role", None) != Role.COMPANY_ADMIN or actor.company_id != request.company_id:
        raise TransitionRefused(_("Only a company admin decides on requests."))


@use_case
@transaction.atomic
def request_approve(*, request_id: int, actor, note: str = "", at=None) -> ProductRequest:
    """A company admin approves: the order is made (one device per unit, Ordered) and goes
    to the partner; the reserved budget becomes committed; the employee is told."""
    request = _lock_request(request_id, actor)
    _check_admin(actor, request)
    if request.status == RequestStatus.APPROVED:
        return request
    if request.status != RequestStatus.PENDING:
        # Translators: %(status)s is the request's status in lower case (docs/glossary.md).
        raise TransitionRefused(
            _(
                "Request %(number)s is %(status)s: only a request waiting for approval can be "
                "approved."
            )
            % {"number": request.number, "status": request.get_status_display().lower()}
        )
    payment = None
    if request.card_amount > 0:
        payment = payment_lock(filters=Q(request=request))
        if payment is None or payment.status != CardPayment.Status.AUTHORIZED:
            raise TransitionRefused(
                _(
                    "The card hold for request %(number)s is not authorized yet: it can be "
                    "approved once the employee's card is."
                )
                % {"number": request.number}
            )
        if payment.capture_before and payment.capture_before <= timezone.now():
            raise TransitionRefused(
                _(
                    "The card hold for request %(number)s has run out; the employee is asked "
                    "to authorize it again."
                )
                % {"number": request.number}
            )
    product = request.product
    order = order_create(
        employee_id=request.employee_id,
        partner_id=request.partner_id,
        lines=[
            LineSpec(
                name=request.name,
                category=request.category,
                unit_price=request.amount,
                currency=request.currency,
                product_id=product.pk,
                is_leased=request.is_leased,
                monthly_price=product.monthly_price,
                lease_months=product.lease_months,
            )
        ],
        delivery_address=request.delivery_address,
        note=request.note,
        actor=actor,
        source=Source.ADMIN,
        at=at,
    )
    request.approve(by=actor if getattr(actor, "pk", None) else None, description=note.strip())
    request.order = order
    _request_saved(request)
    if request.replaces_device_id:
        try:
            replaced = replacement_start(
                device_id=request.replaces_device_id,
                choice=request.replacement_choice,
                order_number=order.number,
            )
            if replaced.message:
                order_event(order, actor, OrderEvent.Kind.NOTE, replaced.message, at=at)
        except (TransitionRefused, ValidationError) as refusal:
            message = refusal.messages[0] if isinstance(refusal, ValidationError) else refusal
            # Translators: %(choice)s is "returned" or "bought out" (what happens to the replaced
            # device), %(reason)s why it cannot be.
            raise TransitionRefused(
                _(
                    "Request %(number)s replaces %(device)s, which cannot be %(choice)s now: "
                    "%(reason)s"
                )
                % {
                    "number": request.number,
                    "device": request.replaces_device.name,
                    "choice": request.get_replacement_choice_display().lower(),
                    "reason": message,
                }
            ) from None
    budgets.budget_commit(request_id=request.pk, order_id=order.pk, actor=actor, at=at)
    order_event(  # stored as written (history lines are not translated)
        order, actor, OrderEvent.Kind.NOTE, f"Approved from request {request.number}.", at=at
    )
    if payment is not None:
        payment_capture(payment)  # after commit; the order goes out once it is captured
    notify(
        kind="request_approved",
        recipient=request.employee,
        context={"request": request, "order": order},
        dedup_key=f"request_approved:{request.pk}",
    )
    _request_webhook(request, "request.approved")
    return request


@use_case
@transaction.atomic
def request_reject(*, request_id: int, actor, reason: str) -> ProductRequest:
    """A company admin rejects, with a reason that is mailed to the employee; the reserved
    budget is released and the hold on the card voided."""
    reason = reason.strip()
    if not reason:
        raise ValidationError(_("Give the employee a reason."))
    request = _lock_request(request_id, actor)
    _check_admin(actor, request)
    if request.status == RequestStatus.REJECTED:
        return request
    if request.status != RequestStatus.PENDING:
        # Translators: %(status)s is the request's status in lower case (docs/glossary.md).
        raise TransitionRefused(
            _(
                "Request %(number)s is %(status)s: only a request waiting for approval can be "
                "rejected."
            )
            % {"number": request.number, "status": request.get_status_display().lower()}
        )
    request.reject(by=actor if getattr(actor, "pk", None) else None, description=reason)
    _request_saved(request)
    released = budgets.budget_release_request(request_id=request.pk, actor=actor, reason=reason)
    refunded = _refund_request_card(request, f"Request rejected: {reason}")
    notify(
        kind="request_rejected",
        recipient=request.employee,
        context={"request": request, "reason": reason, "released": released, "refunded": refunded},
        dedup_key=f"request_rejected:{request.pk}",
    )
    _request_webhook(request, "request.rejected")
    return request


def _request_webhook(request: ProductRequest, event: str) -> None:
    """The decision, for the company's receivers (partners see orders, never requests). The
    reason stays out: it is free text for the employee."""

    def data() -> dict:
        order = request.order if request.order_id else None
        with translation.override(None):  # machine-facing: the source (English) label
            status_label = request.get_status_display()
        return {
            "request": {
                "id": request.pk,
                "number": request.number,
                "name": request.name,
                "category": request.category,
                "amount": request.amount,
                "currency": request.currency,
                "status": request.status,
                "status_label": status_label,
                "decided_at": request.decided_at,
            },
            "order": {"id": order.pk, "number": order.number} if order else None,
            "employee": {"id": request.employee_id, "name": request.employee.get_full_name()},
            "company_id": request.company_id,
        }

    webhooks.emit(
        event=event,
        company_id=request.company_id,
        partner_id=None,
        data=data,
        dedup_key=f"{event}:{request.pk}",
    )


__all__ = [
    "fail_request",
    "request_approve",
    "request_reject",
    "request_submit",
    "request_withdraw",
]
