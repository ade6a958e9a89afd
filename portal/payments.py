"""The employee's side of card payments: coming back from the processor's hosted page,
continuing to it, dismissing a failed attempt; and the processor's webhook. Thin: every
change goes through orders.services.payments."""

from __future__ import annotations

import logging

from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.http import Http404, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from budgets import services as budgets
from budgets.models import CardPayment
from budgets.payments import PaymentError
from budgets.services import BudgetRefused
from core.money import money
from leasing.models import Buyout
from orders import services as orders
from people.models import OffboardingItem
from people.services import offboarding

logger = logging.getLogger(__name__)
MAX_WEBHOOK_BYTES = 512 * 1024


def _own_payment(request, payment_id: int) -> CardPayment:
    try:
        return (
            CardPayment.objects.visible_to(request.user)
            .filter(employee=request.user)
            .select_related("request")
            .get(pk=payment_id)
        )
    except CardPayment.DoesNotExist:
        raise Http404("No such payment") from None


def _where_next(payment: CardPayment) -> str:
    """The page the payment belongs to: Your Details for a request, the device for a
    buyout."""
    if payment.request_id:
        return "/me/"
    buyout = Buyout.objects.filter(payment=payment).select_related("lease").first()
    if buyout:
        return f"/me/devices/{buyout.lease.device_id}/"
    if OffboardingItem.objects.filter(payment=payment).exists():
        return "/me/leaving/"  # a device bought on leaving
    return "/me/budget/"


def _say(request, payment: CardPayment) -> None:
    S = CardPayment.Status
    what = (
        # Translators: inside "… and %(what)s is waiting for approval." / "… for %(what)s."
        _("request %(number)s") % {"number": payment.request.number}
        if payment.request_id
        else payment.purpose.lower()
    )
    values = {"amount": money(payment.amount, payment.currency), "what": what}
    if payment.status == S.AUTHORIZED:
        messages.success(
            request,
            # Translators: %(what)s is "request <number>" or what the payment is for.
            _(
                "Your card is authorized: %(amount)s is held (not charged) and %(what)s is "
                "waiting for approval."
            )
            % values,
        )
    elif payment.status == S.SUCCEEDED:
        messages.success(
            request,
            # Translators: %(what)s is "request <number>" or what the payment is for.
            _("Paid: %(amount)s for %(what)s. A receipt is on its way.") % values,
        )
    elif payment.status == S.PENDING:
        messages.info(
            request,
            _(
                "Your card payment is not confirmed yet. It usually takes a few seconds: this "
                "page shows it as soon as the card processor does."
            ),
        )
    else:
        messages.error(
            request,
            (_("The card payment did not go through.") + f" {payment.error}").strip(),
        )


@never_cache
@require_GET
def payment_return(request, payment_id: int):
    """The processor's page sends the employee here (its success_url)."""
    payment = _own_payment(request, payment_id)
    try:
        payment = orders.payment_returned(
            payment_id=payment.pk,
            actor=request.user,
            session_id=request.GET.get("session_id", "")[:200],
        )
    except PaymentError as refusal:
        messages.error(request, str(refusal))
        return redirect(_where_next(payment))
    _say(request, payment)
    # a device bought on leaving is settled now, not at the next run of the daily job
    offboarding.offboarding_sync_payment(employee=request.user, payment_id=payment.pk)
    return redirect(_where_next(payment))


@never_cache
@require_GET
def payment_cancel(request, payment_id: int):
    """The employee left the processor's page without paying (its cancel_url)."""
    payment = _own_payment(request, payment_id)
    if payment.status == CardPayment.Status.PENDING:
        messages.info(
            request,
            _(
                "You left the card payment page, nothing was charged. Continue to payment when "
                "you are ready, or withdraw."
            ),
        )
    return redirect(_where_next(payment))


@require_http_methods(["GET", "POST"])
def payment_continue(request, payment_id: int):
    """ "Continue to payment" / "Authorize again": back to the processor's page. A link
    (Your Details is cached without forms): it moves no money, it only opens or reuses the
    employee's own checkout."""
    payment = _own_payment(request, payment_id)
    try:
        payment = orders.payment_resume(payment_id=payment.pk, actor=request.user)
    except PaymentError as refusal:
        messages.error(request, str(refusal))
        return redirect(_where_next(payment))
    if not payment.checkout_url:
        messages.error(request, _("The card processor is not answering. Try again shortly."))
        return redirect(_where_next(payment))
    return redirect(payment.checkout_url)


@require_POST
def payment_dismiss(request, payment_id: int):
    payment = _own_payment(request, payment_id)
    try:
        budgets.payment_dismiss(payment_id=payment.pk, actor=request.user)
    except BudgetRefused as refusal:
        messages.error(request, str(refusal))
    return redirect("/me/budget/" if request.POST.get("next") == "budget" else "/me/")


@csrf_exempt
@login_not_required
@require_POST
def processor_webhook(request):
    """The card processor's signed events. A bad signature or an old timestamp is refused
    (400) and changes nothing; an event already stored answers 200 and changes nothing."""
    if len(request.body) > MAX_WEBHOOK_BYTES:
        return HttpResponseBadRequest("too large")
    signature = request.headers.get("Stripe-Signature", "")
    try:
        _event, new = orders.events_receive(request.body, signature)
    except orders.EventRefused as refusal:
        return HttpResponseBadRequest(f"refused: {refusal}")
    return HttpResponse("ok" if new else "already received", content_type="text/plain")
