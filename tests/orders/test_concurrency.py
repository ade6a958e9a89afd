"""Real concurrent transactions on PostgreSQL (threads, each with its own connection): the
budget row lock keeps simultaneous requests from overspending, and the order row lock keeps
simultaneous cancellations from refunding or releasing twice."""

from datetime import timedelta
from decimal import Decimal

import pytest

from budgets.models import Budget, BudgetEntry, CardPayment, Refund
from budgets.payments import get_gateway
from budgets.services import BudgetRefused
from devices.engine import TransitionRefused
from orders import services as orders
from orders.models import ProductRequest
from tests.helpers import approved_order, budget_for, card, product_for, run_at_once, submit

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_simultaneous_requests_never_overspend_the_budget(acme):
    budget = budget_for(acme, "1000.00")
    product = product_for(acme, price="300.00")
    results = run_at_once(10, lambda i: submit(acme, product))
    ok = [r for r in results if isinstance(r, ProductRequest)]
    refused = [r for r in results if isinstance(r, BudgetRefused)]
    assert len(ok) == 3 and len(refused) == 7, results
    budget.refresh_from_db()
    assert budget.reserved == Decimal("900.00") and budget.available == Decimal("100.00")
    assert budget.ledger_totals()["reserved"] == budget.reserved
    assert BudgetEntry.objects.filter(kind="reserve").count() == 3


def test_thirty_two_cancellations_at_once_refund_and_release_once(acme):
    acme.company.card_payments_allowed = True
    acme.company.save()
    budget_for(acme, "800.00")
    order = approved_order(acme, product_for(acme, price="999.00"), card_=card())
    payment = CardPayment.objects.get()
    assert payment.status == "succeeded"  # captured after the approval's commit
    actors = [acme.admin, acme.partner_staff]
    results = run_at_once(
        32,
        lambda i: orders.order_cancel(order_id=order.pk, actor=actors[i % 2], reason=f"click {i}"),
    )
    errors = [r for r in results if isinstance(r, Exception)]
    assert not errors, errors
    assert sum(1 for r in results if r.changed) == 1
    assert Refund.objects.count() == 1
    assert BudgetEntry.objects.filter(kind="release").count() == 1
    budget = Budget.objects.get()
    assert budget.available == Decimal("800.00") and budget.committed == 0
    assert budget.ledger_totals()["committed"] == 0
    refund = Refund.objects.get()
    assert refund.status == "succeeded"
    # The processor's own list: one refund of this payment, however many clicks.
    theirs = get_gateway().refunds_since(payment.created_at - timedelta(minutes=1))
    assert [r.refund_id for r in theirs if r.intent_id == payment.charge_id] == [refund.refund_id]


def test_approve_and_withdraw_at_once_do_one_or_the_other(acme):
    budget_for(acme, "1000.00")
    request = submit(acme, product_for(acme, price="300.00"))

    def work(i):
        if i % 2:
            return orders.request_withdraw(request_id=request.pk, actor=acme.employee)
        return orders.request_approve(request_id=request.pk, actor=acme.admin)

    results = run_at_once(8, work)
    request.refresh_from_db()
    assert request.status in ("approved", "withdrawn")
    assert all(isinstance(r, ProductRequest | TransitionRefused) for r in results), results
    budget = Budget.objects.get()
    if request.status == "approved":
        assert budget.committed == Decimal("300.00") and budget.reserved == 0
    else:
        assert budget.committed == 0 and budget.reserved == 0 and not request.order_id
    assert budget.ledger_totals()["reserved"] == budget.reserved


def test_two_pollers_at_once_apply_each_update_once(acme, clock):
    """Two workers with the same partner answer in hand apply it once: the batch's order
    rows are locked and a version is applied only when it is newer."""
    from devices.models import DeviceEvent
    from partners import services as partners
    from partners.adapters import adapter_for
    from partners.fake import FakeConfig, FakeDistributor
    from tests.conftest import connect
    from tests.helpers import place_order

    fake = FakeDistributor(FakeConfig(step_seconds=10, clock=clock)).start()
    try:
        connect(acme.partner, fake)
        orders = [place_order(acme) for _ in range(20)]  # placed after each commit
        assert len(fake.orders_for("test-key")) == 20
        clock.advance(25)  # shipped: three transitions each
        ids = [o.pk for o in orders]
        answer = adapter_for(acme.partner).fetch_updates(ids).updates
        results = run_at_once(4, lambda i: partners.tracking_apply(acme.partner.pk, answer, ids))
        assert not [r for r in results if isinstance(r, Exception)], results
        assert sum(r.transitions for r in results) == 20 * 3
        per_device = DeviceEvent.objects.filter(source="poll").values_list("device_id", "to_status")
        assert len(per_device) == len(set(per_device)) == 20 * 3
    finally:
        fake.stop()


def test_only_one_poller_per_partner_at_a_time(acme, fake_distributor):
    from partners import services as partners
    from tests.conftest import connect
    from tests.helpers import place_order

    connect(acme.partner, fake_distributor)
    order = place_order(acme)  # placed after commit
    from django.utils import timezone

    from orders.models import Order

    Order.objects.filter(pk=order.pk).update(next_poll_at=timezone.now())
    reports = run_at_once(6, lambda i: partners.partner_poll(acme.partner.pk))
    assert sum(1 for r in reports if not r.skipped) >= 1
    assert sum(r.polled for r in reports) == 1
