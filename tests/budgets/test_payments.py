"""Card payments through the Stripe gateway and the sandbox processor, over real HTTP: the
part over budget is held on the processor's hosted page (3-D Secure there), captured when
the request is approved, released when it is rejected or withdrawn, refunded exactly once
after a cancellation; a hold that runs out is asked for again; the processor being down
loses nothing."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from budgets import services, tasks
from budgets.models import CardPayment, PaymentMismatch, Refund, SandboxTransaction
from budgets.payments import get_gateway, to_minor
from budgets.services import BudgetRefused
from devices.engine import TransitionRefused
from notifications.models import Notification
from orders import services as orders
from orders.models import DispatchStatus, ProductRequest
from tests.helpers import (
    DECLINED,
    DISPUTED,
    REFUND_FAILS,
    THREE_DS,
    VISA,
    approved_order,
    budget_for,
    card,
    pay_checkout,
    processor,
    product_for,
    submit,
)

pytestmark = pytest.mark.django_db(transaction=True)
D = Decimal
P = CardPayment.Status


@pytest.fixture
def card_company(acme):
    acme.company.card_payments_allowed = True
    acme.company.save()
    return acme


def intent(payment):
    """The processor's own view of the payment, over its API."""
    payment.refresh_from_db()
    return get_gateway().intent_get(payment.charge_id)


def over_budget(tenant):
    budget_for(tenant, "800.00")
    return product_for(tenant, price="999.00")


def test_amounts_cross_the_boundary_in_minor_units():
    assert to_minor(D("12.34")) == 1234 and to_minor(D("0.01")) == 1
    with pytest.raises(ValueError):
        to_minor(D("1.005"))


def test_over_budget_without_card_top_up_is_refused_and_writes_nothing(acme):
    budget = budget_for(acme, "500.00")
    with pytest.raises(
        BudgetRefused, match=r"This costs €1,000\.00 and you have €500\.00 available"
    ):
        submit(acme, product_for(acme, price="1000.00"))
    assert not ProductRequest.objects.exists() and not budget.entries.exists()


def test_the_part_over_budget_is_held_on_the_hosted_page_and_the_admin_told_only_then(
    card_company,
):
    product = over_budget(card_company)
    request = submit(card_company, product)  # the employee has not paid yet
    assert request.status == "awaiting_payment"
    assert request.get_status_display() == "Waiting for card authentication"
    payment = request.card_payment
    assert payment.status == P.PENDING and payment.capture_method == "manual"
    assert payment.checkout_url.startswith(processor().url + "/pay/")
    assert not Notification.objects.filter(kind="request_submitted").exists()
    result = pay_checkout(payment, VISA)
    assert result.redirect.startswith(
        f"http://127.0.0.1:8000/payments/{payment.pk}/return/?session_id=cs_"
    )
    request.refresh_from_db()
    assert request.status == "pending"
    assert (payment.status, payment.card_brand, payment.card_last4) == (
        P.AUTHORIZED,
        "Visa",
        "4242",
    )
    assert payment.capture_before > timezone.now() + timedelta(days=6)
    held = intent(payment)
    assert (held.status, held.amount_capturable, held.amount_received) == (
        "requires_capture",
        19900,
        0,
    )
    assert Notification.objects.filter(kind="request_submitted").count() == 1
    assert payment.get_status_display() == "Authorized (held)"


def test_approval_captures_the_hold_and_only_then_the_order_goes_out(card_company):
    request = submit(card_company, over_budget(card_company), card_=card())
    request = orders.request_approve(request_id=request.pk, actor=card_company.admin)
    payment = CardPayment.objects.get(request=request)
    assert payment.status == P.SUCCEEDED and payment.get_status_display() == "Charged"
    assert intent(payment).amount_received == 19900
    assert request.order.dispatch_status in (DispatchStatus.PENDING, DispatchStatus.PLACED)
    receipt = Notification.objects.get(kind="payment_receipt")
    assert receipt.recipient_id == card_company.employee.pk


def test_an_order_waits_while_its_hold_is_not_captured(card_company):
    from partners.services.placing import order_place

    request = submit(card_company, over_budget(card_company), card_=card())
    processor().down = True  # the capture cannot happen yet
    request = orders.request_approve(request_id=request.pk, actor=card_company.admin)
    payment = CardPayment.objects.get(request=request)
    assert payment.status == P.AUTHORIZED and payment.decision == "capture"
    assert order_place(request.order_id) == "waiting"
    processor().down = False
    CardPayment.objects.filter(pk=payment.pk).update(next_attempt_at=timezone.now())
    orders.payments_sweep()
    payment.refresh_from_db()
    assert payment.status == P.SUCCEEDED and not payment.decision


def test_three_d_secure_challenge_passed_authorizes(card_company):
    request = submit(card_company, over_budget(card_company), card_=card(THREE_DS))
    assert request.status == "pending"
    assert request.card_payment.status == P.AUTHORIZED


def test_three_d_secure_failed_keeps_the_request_waiting_and_another_card_can_be_tried(
    card_company,
):
    request = submit(card_company, over_budget(card_company), card_=card(THREE_DS), three_ds="fail")
    assert request.status == "awaiting_payment"
    payment = request.card_payment
    assert payment.status == P.PENDING and "unable to authenticate" in payment.error
    pay_checkout(payment, VISA)
    request.refresh_from_db()
    assert request.status == "pending" and payment.status == P.AUTHORIZED


def test_a_declined_card_charges_nothing_and_withdrawing_frees_the_budget(card_company):
    request = submit(card_company, over_budget(card_company), card_=card(DECLINED))
    payment = request.card_payment
    assert request.status == "awaiting_payment" and "declined" in payment.error
    orders.request_withdraw(request_id=request.pk, actor=card_company.employee)
    payment.refresh_from_db()
    assert payment.status == P.VOIDED and payment.get_status_display() == "Released"
    budget = card_company.employee.budgets.get()
    assert budget.available == D("800.00") and budget.reserved == 0
    assert not Refund.objects.exists()


@pytest.mark.parametrize("drop", ["withdraw", "reject"])
def test_rejecting_or_withdrawing_releases_the_hold_and_charges_nothing(card_company, drop):
    request = submit(card_company, over_budget(card_company), card_=card())
    if drop == "withdraw":
        orders.request_withdraw(request_id=request.pk, actor=card_company.employee)
    else:
        orders.request_reject(request_id=request.pk, actor=card_company.admin, reason="No")
    payment = CardPayment.objects.get(request=request)
    assert payment.status == P.VOIDED
    theirs = intent(payment)
    assert (theirs.status, theirs.amount_received) == ("canceled", 0)
    assert not Refund.objects.exists()  # nothing was charged: nothing to refund


def test_a_payment_made_as_the_request_was_withdrawn_is_released(card_company):
    request = submit(card_company, over_budget(card_company))
    payment = request.card_payment
    # The employee pays on the processor's page, but withdraws before Velory has heard.
    pay_checkout(payment, VISA, report=False)
    orders.request_withdraw(request_id=request.pk, actor=card_company.employee)
    payment.refresh_from_db()
    assert payment.status == P.VOIDED and intent(payment).status == "canceled"
    # The return from the page, arriving last, changes nothing.
    orders.payment_sync(payment.pk, source="return")
    request.refresh_from_db()
    assert request.status == "withdrawn"


def test_cancel_after_capture_refunds_the_card_once(card_company):
    order = approved_order(card_company, over_budget(card_company), card_=card())
    result = orders.order_cancel(order_id=order.pk, actor=card_company.admin, reason="Wrong model")
    assert (result.refunded, result.released) == (D("199.00"), D("800.00"))
    refund = Refund.objects.get()
    assert refund.status == "succeeded" and refund.refund_id.startswith("re_")
    again = orders.order_cancel(order_id=order.pk, actor=card_company.partner_staff, reason="x")
    assert not again.changed and again.refunded == 0 and again.released == 0
    assert tasks.execute_refund(refund.pk) == "skipped"
    payment = CardPayment.objects.get()
    assert payment.refunded == payment.amount and payment.badge() == ("Refunded", "final")
    theirs = get_gateway().refunds_since(timezone.now() - timedelta(hours=1))
    assert [r.refund_id for r in theirs if r.intent_id == payment.charge_id] == [refund.refund_id]
    assert Notification.objects.filter(kind="refund_receipt").count() == 1


def test_cancel_before_the_capture_releases_the_hold_instead_of_refunding(card_company):
    request = submit(card_company, over_budget(card_company), card_=card())
    processor().down = True
    request = orders.request_approve(request_id=request.pk, actor=card_company.admin)
    result = orders.order_cancel(order_id=request.order_id, actor=card_company.admin, reason="x")
    assert (result.refunded, result.released_hold, result.released) == (
        D("0"),
        D("199.00"),
        D("800.00"),
    )
    processor().down = False
    CardPayment.objects.update(next_attempt_at=timezone.now())
    orders.payments_sweep()
    payment = CardPayment.objects.get()
    assert payment.status == P.VOIDED and intent(payment).amount_received == 0
    assert not Refund.objects.exists()


def test_processor_down_at_submit_loses_nothing_and_continue_to_payment_retries(card_company):
    processor().down = True
    request = submit(card_company, over_budget(card_company))
    payment = request.card_payment
    assert request.status == "awaiting_payment" and not payment.checkout_session_id
    processor().down = False
    payment = orders.payment_resume(payment_id=payment.pk, actor=card_company.employee)
    assert payment.checkout_url
    pay_checkout(payment, VISA)
    request.refresh_from_db()
    assert request.status == "pending"


def test_a_hold_that_runs_out_before_the_decision_is_asked_for_again(card_company):
    request = submit(card_company, over_budget(card_company), card_=card())
    processor().advance(7 * 24 * 3600 + 60)  # the processor lets the hold lapse
    payment = request.card_payment
    CardPayment.objects.filter(pk=payment.pk).update(
        capture_before=timezone.now() - timedelta(seconds=1),
        created_at=timezone.now() - timedelta(days=8),
    )
    orders.payments_sweep()
    payment.refresh_from_db()
    request.refresh_from_db()
    assert payment.status == P.EXPIRED and request.status == "awaiting_payment"
    assert Notification.objects.filter(kind="payment_authorize_again").count() == 1
    with pytest.raises(TransitionRefused, match="waiting for card authentication"):
        orders.request_approve(request_id=request.pk, actor=card_company.admin)
    payment = orders.payment_resume(payment_id=payment.pk, actor=card_company.employee)
    assert payment.attempt == 2 and payment.status == P.PENDING
    pay_checkout(payment, VISA)
    request = orders.request_approve(request_id=request.pk, actor=card_company.admin)
    payment.refresh_from_db()
    assert payment.status == P.SUCCEEDED and intent(payment).amount_received == 19900


def test_a_refund_the_processor_refuses_is_flagged_and_not_counted(card_company):
    order = approved_order(card_company, over_budget(card_company), card_=card(REFUND_FAILS))
    orders.order_cancel(order_id=order.pk, actor=card_company.admin, reason="x")
    refund = Refund.objects.get()
    processor().advance(10)  # the processor finds it cannot refund to this card
    assert services.refund_execute(refund.pk) == "refused"
    refund.refresh_from_db()
    payment = CardPayment.objects.get()
    assert refund.status == "refused" and payment.refunded == 0
    flag = PaymentMismatch.objects.get()
    assert flag.company_id == card_company.company.pk and "refused" in flag.detail


def test_the_employee_never_sees_a_card_field(card_company, login):
    product = over_budget(card_company)
    page = login(card_company.employee).get(f"/catalogue/{product.pk}/").content.decode()
    assert "Continue to card payment" in page
    for field in ("card_number", "card_cvc", "cc-number", "cc-csc", "card_expiry"):
        assert field not in page


def test_a_dismissed_failed_attempt_no_longer_shows(card_company, login):
    request = submit(card_company, over_budget(card_company), card_=card(DECLINED))
    orders.request_withdraw(request_id=request.pk, actor=card_company.employee)
    payment = CardPayment.objects.get()
    client = login(card_company.employee)
    page = client.get("/me/budget/").content.decode()
    assert 'data-testid="payment-status">Released<' in page and "Dismiss" in page
    client.post(f"/payments/{payment.pk}/dismiss/", {"next": "budget"})
    assert CardPayment.objects.get().dismissed_at is not None
    page = client.get("/me/budget/").content.decode()
    assert 'data-testid="payment-status"' not in page


def test_legacy_sandbox_payments_are_still_refunded_through_their_own_records(card_company):
    """A payment made before hosted checkout (the old in-database sandbox) is refunded
    where it was charged."""
    from budgets.payments.sandbox import SandboxGateway

    order = approved_order(card_company, over_budget(card_company), card_=card())
    payment = CardPayment.objects.get()
    reference, _ = SandboxGateway().charge(
        amount_minor=19900,
        currency="EUR",
        token="tok_sandbox-ok-4242",
        idempotency_key="legacy",
        description="x",
    )
    CardPayment.objects.filter(pk=payment.pk).update(gateway="sandbox", charge_id=reference)
    orders.order_cancel(order_id=order.pk, actor=card_company.admin, reason="x")
    refund = Refund.objects.get()
    assert refund.status == "succeeded" and refund.refund_id.startswith("re_sb_")
    assert SandboxTransaction.objects.filter(kind="refund").count() == 1


def test_a_dispute_is_flagged_to_the_company_admin(card_company, client):
    from tests.budgets.test_webhooks import deliver_all

    approved_order(card_company, over_budget(card_company), card_=card(DISPUTED))
    deliver_all(client)
    flag = PaymentMismatch.objects.get(kind="dispute")
    assert flag.company_id == card_company.company.pk
    assert CardPayment.objects.get().disputed_at is not None
    assert Notification.objects.filter(kind="payment_disputed").count() == 1


def test_the_budget_ledger_and_the_card_payments_agree_to_the_cent(card_company):
    """Whatever happened to each request, budget part + card part = its price, the ledger
    adds up to the budget's totals, and the processor holds exactly what Velory says."""
    product = over_budget(card_company)
    kept = approved_order(card_company, product, card_=card())  # charged
    rejected = submit(card_company, product_for(card_company, price="250.00"), card_=card())
    orders.request_reject(request_id=rejected.pk, actor=card_company.admin, reason="No")
    cancelled = approved_order(
        card_company, product_for(card_company, price="400.00"), card_=card()
    )
    orders.order_cancel(order_id=cancelled.pk, actor=card_company.admin, reason="x")
    budget = card_company.employee.budgets.get()
    totals = budget.ledger_totals()
    assert (budget.reserved, budget.committed, budget.spent) == (
        totals["reserved"],
        totals["committed"],
        totals["spent"],
    )
    for request in ProductRequest.objects.all():
        payment = getattr(request, "card_payment", None)
        assert request.budget_amount + request.card_amount == request.amount
        assert payment is None or payment.amount == request.card_amount
    net_at_processor = 0
    for payment in CardPayment.objects.all():
        theirs = intent(payment)
        refunded = sum((r.amount for r in payment.refunds.filter(status="succeeded")), D("0"))
        assert theirs.amount_received == to_minor(payment.amount) * (payment.status == P.SUCCEEDED)
        assert payment.refunded == refunded
        net_at_processor += theirs.amount_received - to_minor(refunded)
    assert net_at_processor == to_minor(kept.request.card_amount)
