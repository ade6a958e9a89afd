"""Card payments through the sandbox gateway: charged once, refunded to the same card
exactly once, a declined card changes nothing, a gateway that is down loses nothing."""

from decimal import Decimal

import pytest
from django.utils import timezone

from budgets import services, tasks
from budgets.models import CardPayment, Refund, SandboxTransaction
from budgets.payments import CardDeclined, GatewayUnavailable, to_minor
from budgets.payments.sandbox import SandboxGateway
from budgets.services import BudgetRefused
from devices.engine import TransitionRefused
from orders import services as orders
from orders.models import ProductRequest
from tests.helpers import (
    DECLINED,
    GATEWAY_DOWN,
    approved_order,
    budget_for,
    card,
    product_for,
    submit,
)

pytestmark = pytest.mark.django_db
D = Decimal


@pytest.fixture
def card_company(acme):
    acme.company.card_payments_allowed = True
    acme.company.save()
    return acme


def test_amounts_cross_the_boundary_in_minor_units():
    assert to_minor(D("12.34")) == 1234 and to_minor(D("0.01")) == 1
    with pytest.raises(ValueError):
        to_minor(D("1.005"))


def test_over_budget_without_card_top_up_is_refused_and_writes_nothing(acme):
    budget = budget_for(acme, "500.00")
    with pytest.raises(
        BudgetRefused, match=r"This costs 1000\.00 EUR and you have 500\.00 EUR available"
    ):
        submit(acme, product_for(acme, price="1000.00"))
    assert not ProductRequest.objects.exists() and not budget.entries.exists()


def test_over_budget_is_paid_partly_by_card(card_company):
    budget = budget_for(card_company, "800.00")
    request = submit(card_company, product_for(card_company, price="999.00"), card_=card())
    assert (request.budget_amount, request.card_amount) == (D("800.00"), D("199.00"))
    payment = CardPayment.objects.get(request=request)
    assert payment.status == "succeeded" and payment.card_last4 == "4242" and payment.charge_id
    charge = SandboxTransaction.objects.get(kind="charge")
    assert charge.amount_minor == 19900 and charge.idempotency_key == payment.key
    budget.refresh_from_db()
    assert budget.available == 0


def test_card_is_required_for_the_part_over_budget(card_company):
    budget_for(card_company, "800.00")
    with pytest.raises(BudgetRefused, match="Enter your card"):
        submit(card_company, product_for(card_company, price="999.00"))
    assert not ProductRequest.objects.exists()


def test_declined_card_sends_nothing_and_frees_the_budget(card_company):
    budget = budget_for(card_company, "800.00")
    with pytest.raises(BudgetRefused, match=r"declined\. Nothing was charged"):
        submit(card_company, product_for(card_company, price="999.00"), card_=card(DECLINED))
    request = ProductRequest.objects.get()
    assert request.status == "failed"
    budget.refresh_from_db()
    assert budget.available == D("800.00") and budget.reserved == 0
    assert not SandboxTransaction.objects.exists()
    assert CardPayment.objects.get().status == "failed"


def test_invalid_card_number_is_refused_before_anything_is_written(card_company):
    budget_for(card_company, "800.00")
    with pytest.raises(CardDeclined, match="not valid"):
        submit(
            card_company, product_for(card_company, price="999.00"), card_=card("4242424242424241")
        )
    assert not ProductRequest.objects.exists()


def test_gateway_down_at_submit_is_settled_later_with_the_same_key(card_company, monkeypatch):
    budget_for(card_company, "800.00")
    request = submit(
        card_company, product_for(card_company, price="999.00"), card_=card(GATEWAY_DOWN)
    )
    payment = CardPayment.objects.get(request=request)
    assert payment.status == "pending" and "not answering" in payment.error
    with pytest.raises(TransitionRefused, match="not confirmed"):
        orders.request_approve(request_id=request.pk, actor=card_company.admin)
    # The processor comes back: the periodic job charges with the same idempotency key.
    CardPayment.objects.filter(pk=payment.pk).update(payment_method="tok_sandbox-ok-0119")
    assert orders.requests_settle_payments() == {"paid": 1, "failed": 0, "waiting": 0}
    assert orders.requests_settle_payments() == {"paid": 0, "failed": 0, "waiting": 0}
    assert SandboxTransaction.objects.filter(kind="charge").count() == 1
    orders.request_approve(request_id=request.pk, actor=card_company.admin)


@pytest.mark.parametrize("drop", ["withdraw", "reject"])
def test_a_late_charge_for_a_dropped_request_is_refunded_once(card_company, drop, after_commit):
    from budgets.models import Refund

    budget_for(card_company, "800.00")
    request = submit(
        card_company, product_for(card_company, price="999.00"), card_=card(GATEWAY_DOWN)
    )
    if drop == "withdraw":
        orders.request_withdraw(request_id=request.pk, actor=card_company.employee)
    else:
        orders.request_reject(request_id=request.pk, actor=card_company.admin, reason="No")
    assert not Refund.objects.exists()  # nothing was charged yet: nothing to refund
    # The processor answers later: the charge goes through, and is refunded at once.
    payment = CardPayment.objects.get(request=request)
    CardPayment.objects.filter(pk=payment.pk).update(payment_method="tok_sandbox-ok-0119")
    with after_commit():
        assert orders.requests_settle_payments()["paid"] == 1
    refund = Refund.objects.get()
    assert refund.amount == payment.amount and "before the card payment" in refund.reason
    with after_commit():
        orders.requests_settle_payments()
    assert Refund.objects.count() == 1
    assert SandboxTransaction.objects.filter(kind="refund").count() == 1


def test_gateway_calls_are_idempotent():
    gateway = SandboxGateway()
    token = gateway.tokenize(card()).token
    first = gateway.charge(
        amount_minor=500, currency="EUR", token=token, idempotency_key="k1", description="x"
    )
    again = gateway.charge(
        amount_minor=500, currency="EUR", token=token, idempotency_key="k1", description="x"
    )
    assert first == again and SandboxTransaction.objects.count() == 1
    r1 = gateway.refund(
        charge_id=first.charge_id, amount_minor=500, currency="EUR", idempotency_key="r1"
    )
    r2 = gateway.refund(
        charge_id=first.charge_id, amount_minor=500, currency="EUR", idempotency_key="r1"
    )
    assert r1 == r2
    with pytest.raises(CardDeclined, match="larger than"):
        gateway.refund(
            charge_id=first.charge_id, amount_minor=1, currency="EUR", idempotency_key="r2"
        )


def _paid_order(tenant):
    budget_for(tenant, "800.00")
    return approved_order(tenant, product_for(tenant, price="999.00"), card_=card())


def test_cancel_refunds_the_card_once_and_releases_the_budget(card_company, after_commit):
    order = _paid_order(card_company)
    with after_commit():
        result = orders.order_cancel(
            order_id=order.pk, actor=card_company.admin, reason="Wrong model"
        )
    assert (result.refunded, result.released) == (D("199.00"), D("800.00"))
    refund = Refund.objects.get()
    assert refund.status == "succeeded" and refund.refund_id.startswith("re_sb_")
    assert (
        SandboxTransaction.objects.get(kind="refund").charge_reference == refund.payment.charge_id
    )
    # a second click, a retried task: nothing more
    again = orders.order_cancel(order_id=order.pk, actor=card_company.partner_staff, reason="again")
    assert not again.changed and again.refunded == 0 and again.released == 0
    assert tasks.execute_refund(refund.pk) == "skipped"
    assert tasks.retry_refunds() == {"refunded": 0, "skipped": 0, "error": 0, "waiting": 0}
    assert (
        Refund.objects.count() == 1
        and SandboxTransaction.objects.filter(kind="refund").count() == 1
    )
    payment = CardPayment.objects.get()
    assert payment.refunded == payment.amount


class FlakyGateway(SandboxGateway):
    """The sandbox, with refunds failing while ``down`` is set (a gateway outage)."""

    down = True

    def refund(self, **kwargs):
        if FlakyGateway.down:
            raise GatewayUnavailable("The card processor failed. Try again shortly.")
        return super().refund(**kwargs)


def test_failed_refund_stays_visible_and_is_retried(card_company, settings, after_commit, login):
    order = _paid_order(card_company)
    settings.PAYMENTS_GATEWAY = "tests.budgets.test_payments.FlakyGateway"
    FlakyGateway.down = True
    with after_commit():
        orders.order_cancel(order_id=order.pk, actor=card_company.admin, reason="Wrong model")
    refund = Refund.objects.get()
    assert refund.status == "failed" and refund.attempts == 1 and "failed" in refund.last_error
    assert refund.next_attempt_at > timezone.now()
    assert Refund.objects.visible_to(card_company.admin).filter(status="failed").exists()
    # The employee is not told "Refunded" before the money is on its way back.
    page = login(card_company.employee).get("/me/budget/").content.decode()
    assert "Refund under way" in page and ">Refunded<" not in page
    Refund.objects.filter(pk=refund.pk).update(
        next_attempt_at=timezone.now() - timezone.timedelta(minutes=5)
    )
    FlakyGateway.down = False
    assert tasks.retry_refunds() == {"refunded": 1, "skipped": 0, "error": 0, "waiting": 0}
    refund.refresh_from_db()
    assert refund.status == "succeeded" and refund.attempts == 2
    assert SandboxTransaction.objects.filter(kind="refund").count() == 1
    page = login(card_company.employee).get("/me/budget/").content.decode()
    assert ">Refunded<" in page and "Refund under way" not in page


class SlowRefundGateway(SandboxGateway):
    """The sandbox, with refunds accepted but not finished while ``pending`` is set (as
    Stripe answers for some cards)."""

    pending = True

    def refund(self, **kwargs):
        from budgets.payments import RefundResult

        result = super().refund(**kwargs)  # same key: the same refund every time
        return RefundResult(result.refund_id, "pending" if self.pending else result.status)


def test_a_refund_the_gateway_has_not_finished_is_asked_about_again(
    card_company, settings, after_commit
):
    order = _paid_order(card_company)
    settings.PAYMENTS_GATEWAY = "tests.budgets.test_payments.SlowRefundGateway"
    SlowRefundGateway.pending = True
    with after_commit():
        orders.order_cancel(order_id=order.pk, actor=card_company.admin, reason="Wrong model")
    refund = Refund.objects.get()
    assert refund.status == "pending" and refund.refund_id and refund.completed_at is None
    Refund.objects.filter(pk=refund.pk).update(
        next_attempt_at=timezone.now() - timezone.timedelta(minutes=5)
    )
    SlowRefundGateway.pending = False
    assert tasks.retry_refunds()["refunded"] == 1
    refund.refresh_from_db()
    assert refund.status == "succeeded" and refund.completed_at is not None
    assert SandboxTransaction.objects.filter(kind="refund").count() == 1


def test_reject_and_withdraw_refund_the_card(card_company, after_commit):
    budget_for(card_company, "800.00")
    product = product_for(card_company, price="999.00")
    rejected = submit(card_company, product, card_=card())
    withdrawn = submit(card_company, product, card_=card())
    with after_commit():
        orders.request_reject(request_id=rejected.pk, actor=card_company.admin, reason="No")
        orders.request_withdraw(request_id=withdrawn.pk, actor=card_company.employee)
        orders.request_withdraw(request_id=withdrawn.pk, actor=card_company.employee)  # again
    # the second request found the budget used by the first: all of it went on the card
    assert sorted(Refund.objects.values_list("amount", "status")) == [
        (D("199.00"), "succeeded"),
        (D("999.00"), "succeeded"),
    ]


def test_refund_is_capped_at_what_is_left_of_the_payment(card_company):
    order = _paid_order(card_company)
    payment = CardPayment.objects.get()
    from django.db import transaction

    with transaction.atomic():
        assert services.refund_create(
            payment_id=payment.pk, amount=D("5000"), reason="x", key="k"
        ).amount == D("199.00")
        assert (
            services.refund_create(payment_id=payment.pk, amount=D("1"), reason="x", key="k2")
            is None
        )
    assert order.pk
