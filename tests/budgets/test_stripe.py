"""The Stripe gateway, with the official library, over real HTTP against a local server
that answers like Stripe."""

import pytest

from budgets.models import Refund
from budgets.payments import Card, CardDeclined, GatewayUnavailable
from budgets.payments.stripe_gateway import StripeGateway
from orders import services as orders
from tests.budgets.fake_stripe import FakeStripe
from tests.helpers import budget_for, card, product_for, submit

pytestmark = pytest.mark.django_db


@pytest.fixture
def stripe_api(settings):
    fake = FakeStripe().start()
    settings.PAYMENTS_GATEWAY = "budgets.payments.stripe_gateway.StripeGateway"
    settings.STRIPE_SECRET_KEY = "sk_test_velory"
    settings.STRIPE_API_BASE = fake.url
    settings.STRIPE_TIMEOUT = 1
    yield fake
    fake.stop()


def test_charge_and_refund_through_stripe(stripe_api, acme, after_commit):
    acme.company.card_payments_allowed = True
    acme.company.save()
    budget_for(acme, "800.00")
    request = submit(acme, product_for(acme, price="999.00"), card_=card())
    payment = request.card_payment
    assert payment.status == "succeeded" and payment.gateway == "stripe"
    [intent] = stripe_api.charges.values()
    assert intent["amount"] == 19900 and intent["currency"] == "eur"
    *_, headers = next(r for r in stripe_api.requests if r[0] == "/v1/payment_intents")
    assert headers["Idempotency-Key"] == payment.key
    assert headers["Authorization"] == "Bearer sk_test_velory"
    assert "4242424242424242" not in str(payment.__dict__)  # the number is never stored
    order = orders.request_approve(request_id=request.pk, actor=acme.admin).order
    with after_commit():
        orders.order_cancel(order_id=order.pk, actor=acme.admin, reason="Changed plans")
    refund = Refund.objects.get()
    assert refund.status == "succeeded" and refund.refund_id.startswith("re_")
    [stripe_refund] = stripe_api.refunds.values()
    assert stripe_refund["amount"] == 19900 and stripe_refund["payment_intent"] == payment.charge_id


def test_retried_charge_uses_the_same_key_and_charges_once(stripe_api):
    gateway = StripeGateway()
    token = gateway.tokenize(card()).token
    first = gateway.charge(
        amount_minor=100, currency="EUR", token=token, idempotency_key="k", description="x"
    )
    second = gateway.charge(
        amount_minor=100, currency="EUR", token=token, idempotency_key="k", description="x"
    )
    assert first == second and len(stripe_api.charges) == 1


def test_declined_card_is_a_clear_refusal(stripe_api):
    gateway = StripeGateway()
    token = gateway.tokenize(Card("4000000000000002", 12, 2040, "123")).token
    with pytest.raises(CardDeclined, match="Your card was declined"):
        gateway.charge(
            amount_minor=100, currency="EUR", token=token, idempotency_key="d", description="x"
        )


def test_server_error_and_timeout_mean_try_again(stripe_api):
    gateway = StripeGateway()
    stripe_api.fail_next = 1
    with pytest.raises(GatewayUnavailable):
        gateway.tokenize(card())
    stripe_api.delay = 1.5  # longer than STRIPE_TIMEOUT
    with pytest.raises(GatewayUnavailable):
        gateway.tokenize(card())
    stripe_api.delay = 0


def test_refund_above_the_charge_is_refused(stripe_api):
    gateway = StripeGateway()
    token = gateway.tokenize(card()).token
    charge = gateway.charge(
        amount_minor=100, currency="EUR", token=token, idempotency_key="c", description="x"
    )
    with pytest.raises(CardDeclined):
        gateway.refund(
            charge_id=charge.charge_id, amount_minor=101, currency="EUR", idempotency_key="r"
        )


def test_not_configured_is_a_clear_error(settings):
    settings.STRIPE_SECRET_KEY = ""
    with pytest.raises(GatewayUnavailable, match="not configured"):
        StripeGateway()
