"""Races on PostgreSQL, real transactions and threads: the employee's return from the
processor's page against the processor's webhooks (whichever comes first wins, the others
change nothing), and a capture against a cancellation's void (the money ends up back with
the employee exactly once, whichever wins)."""

import json
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone

from budgets.models import CardPayment, Refund
from budgets.payments import get_gateway
from notifications.models import Notification
from orders import services as orders
from orders.models import ProductRequest
from tests.factories import UserFactory
from tests.helpers import (
    VISA,
    budget_for,
    pay_checkout,
    processor,
    product_for,
    run_at_once,
    submit,
)

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def card_company(acme):
    acme.company.card_payments_allowed = True
    acme.company.save()
    budget_for(acme, "800.00")
    return acme


def test_the_return_and_the_webhooks_at_once_apply_the_payment_once(card_company):
    from core.tenancy import Role

    UserFactory(
        email="second-admin@acme.example", company=card_company.company, role=Role.COMPANY_ADMIN
    )
    processor().take_undelivered()
    request = submit(card_company, product_for(card_company, price="999.00"))
    payment = request.card_payment
    pay_checkout(payment, VISA, report=False)
    events = [json.dumps(e).encode() for e in processor().take_undelivered()]
    assert events

    def one(i):
        try:
            if i % 2:
                return orders.payment_returned(
                    payment_id=payment.pk,
                    actor=card_company.employee,
                    session_id=payment.checkout_session_id,
                ).status
            body = events[(i // 2) % len(events)]
            row, _new = orders.events_receive(body, processor().signature_header(body))
            return orders.event_process(row.pk)
        finally:
            connection.close()

    results = run_at_once(12, one)
    assert not [r for r in results if isinstance(r, Exception)], results
    payment.refresh_from_db()
    request.refresh_from_db()
    assert payment.status == "authorized" and request.status == "pending"
    # The request went to the admins once: one mail each, one status change logged.
    assert Notification.objects.filter(kind="request_submitted").count() == 2
    from django_fsm_log.models import StateLog

    assert StateLog.objects.filter(object_id=request.pk, transition="card_authorized").count() == 1


@pytest.mark.parametrize("cancellers", [1, 4])
def test_a_capture_and_a_cancellation_at_once_give_the_money_back_exactly_once(
    card_company, cancellers
):
    request = submit(card_company, product_for(card_company, price="999.00"), card_=VISA)
    processor().down = True  # the capture waits ...
    request = orders.request_approve(request_id=request.pk, actor=card_company.admin)
    processor().down = False  # ... and now runs while the admin cancels
    payment = CardPayment.objects.get(request=request)
    CardPayment.objects.filter(pk=payment.pk).update(next_attempt_at=timezone.now())

    def one(i):
        try:
            if i < 2:
                return orders.payment_decision_run(payment.pk)
            return orders.order_cancel(
                order_id=request.order_id, actor=card_company.admin, reason=f"race {i}"
            )
        finally:
            connection.close()

    results = run_at_once(2 + cancellers, one)
    assert not [r for r in results if isinstance(r, Exception)], results
    # Whatever the order, anything still decided is carried out, and refunds are sent.
    CardPayment.objects.filter(pk=payment.pk).exclude(decision="").update(
        next_attempt_at=timezone.now(), claimed_until=None
    )
    orders.payments_sweep()
    payment.refresh_from_db()
    theirs = get_gateway().intent_get(payment.charge_id)
    refunds = Refund.objects.filter(payment=payment)
    refunded = sum((r.amount for r in refunds), Decimal("0"))
    if payment.status == "succeeded":  # the capture won: refunded once
        assert refunds.count() == 1 and refunded == payment.amount
        assert theirs.amount_received == 19900
        assert all(r.status == "succeeded" for r in refunds)
    else:  # the void won: nothing was ever charged
        assert payment.status == "voided" and theirs.status == "canceled"
        assert theirs.amount_received == 0 and not refunds.exists()
    budget = card_company.employee.budgets.get()
    assert budget.available == Decimal("800.00") and budget.reserved == 0
    assert ProductRequest.objects.get().status == "approved"
