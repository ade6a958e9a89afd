"""The ledger over whole cycles: every change an entry, the balance always the sum of the
entries, available = allowance − reserved − committed − spent in the period."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from budgets import services
from budgets.models import Budget, BudgetEntry
from core.dates import add_months
from devices import lifecycle
from devices.models import DeviceStatus
from orders import services as orders
from tests.helpers import approved_order, bring_to, budget_for, product_for, submit

pytestmark = pytest.mark.django_db
D = Decimal


def totals(budget):
    budget.refresh_from_db()
    return {
        "available": budget.available,
        "reserved": budget.reserved,
        "committed": budget.committed,
        "spent": budget.spent,
    }


def assert_ledger_adds_up(budget):
    budget.refresh_from_db()
    sums = budget.ledger_totals()
    assert sums == {
        "adjustments": budget.adjustments,
        "reserved": budget.reserved,
        "committed": budget.committed,
        "spent": budget.spent,
    }


def test_request_approve_receive(acme):
    budget = budget_for(acme, "2000.00")
    product = product_for(acme, price="1200.00")
    request = submit(acme, product)
    assert totals(budget) == {
        "available": D("800.00"),
        "reserved": D("1200.00"),
        "committed": 0,
        "spent": 0,
    }
    orders.request_approve(request_id=request.pk, actor=acme.admin)
    assert totals(budget) == {
        "available": D("800.00"),
        "reserved": 0,
        "committed": D("1200.00"),
        "spent": 0,
    }
    request.refresh_from_db()
    device = request.order.devices.get()
    bring_to(acme, device, DeviceStatus.DELIVERED)
    lifecycle.device_mark_received(device_id=device.pk, actor=acme.employee)
    assert totals(budget) == {
        "available": D("800.00"),
        "reserved": 0,
        "committed": 0,
        "spent": D("1200.00"),
    }
    kinds = list(
        BudgetEntry.objects.filter(budget=budget).order_by("id").values_list("kind", flat=True)
    )
    assert kinds == ["reserve", "commit", "spend"]
    assert_ledger_adds_up(budget)


def test_request_reject_releases(acme):
    budget = budget_for(acme, "2000.00")
    request = submit(acme, product_for(acme, price="500.00"))
    orders.request_reject(request_id=request.pk, actor=acme.admin, reason="Not this quarter")
    assert totals(budget)["available"] == D("2000.00")
    assert budget.entries.filter(kind="release").get().amount == D("500.00")
    assert_ledger_adds_up(budget)


def test_withdraw_releases(acme):
    budget = budget_for(acme, "2000.00")
    request = submit(acme, product_for(acme, price="500.00"))
    orders.request_withdraw(request_id=request.pk, actor=acme.employee)
    assert totals(budget)["available"] == D("2000.00")
    assert_ledger_adds_up(budget)


def test_order_cancel_releases_the_commitment(acme):
    budget = budget_for(acme, "2000.00")
    order = approved_order(acme, product_for(acme, price="700.00"))
    orders.order_cancel(order_id=order.pk, actor=acme.partner_staff, reason="Out of production")
    assert totals(budget) == {"available": D("2000.00"), "reserved": 0, "committed": 0, "spent": 0}
    assert_ledger_adds_up(budget)


def test_auto_received_order_is_spent(globex):
    budget = budget_for(globex, "2000.00")
    order = approved_order(globex, product_for(globex, price="300.00"))
    device = bring_to(globex, order.devices.get(), DeviceStatus.SHIPPED)
    lifecycle.devices_deliver(device_ids=[device.pk], actor=globex.partner_staff, source="admin")
    assert totals(budget)["spent"] == D("300.00")
    assert_ledger_adds_up(budget)


def test_renewal_starts_a_new_period_and_keeps_what_is_in_flight(acme):
    budget = budget_for(acme, "2000.00")
    # The period started 36 months and 10 days ago: it ended ten days ago.
    start = add_months(timezone.localdate(), -36) - timedelta(days=10)
    Budget.objects.filter(pk=budget.pk).update(
        period_start=start, period_end=start, period_months=36
    )
    services.budget_adjust(budget_id=budget.pk, amount="250.00", reason="Bonus", actor=acme.admin)
    spent_order = approved_order(acme, product_for(acme, price="400.00", name="Old laptop"))
    device = bring_to(acme, spent_order.devices.get(), DeviceStatus.RECEIVED)
    assert device.status == DeviceStatus.RECEIVED
    in_flight = submit(acme, product_for(acme, price="300.00", name="Headset", category="headset"))
    assert totals(budget)["available"] == D("1550.00")
    Budget.objects.filter(pk=budget.pk).update(period_end=add_months(start, 36))
    assert services.budgets_renew() == 1
    assert services.budgets_renew() == 0  # twice: nothing more
    budget.refresh_from_db()
    assert budget.spent == 0 and budget.adjustments == 0
    assert budget.reserved == D("300.00")  # the pending request carries over
    assert budget.available == D("1700.00")
    assert budget.period_start == add_months(start, 36)
    assert budget.period_end > timezone.localdate()
    assert budget.entries.filter(kind="reset").count() == 1
    assert in_flight.status == "pending"
    assert_ledger_adds_up(budget)


def test_adjustment_is_an_entry_with_a_reason(acme):
    budget = budget_for(acme, "1000.00")
    entry = services.budget_adjust(
        budget_id=budget.pk, amount="-200.50", reason="Moved to team", actor=acme.admin
    )
    assert entry.kind == "adjust" and entry.reason == "Moved to team" and entry.actor == acme.admin
    assert totals(budget)["available"] == D("799.50")
    assert_ledger_adds_up(budget)


@pytest.mark.parametrize("amount", ["-0", "0", "abc", "1.234", "", "NaN", "Infinity"])
def test_bad_adjustments_write_nothing(acme, amount):
    budget = budget_for(acme, "1000.00")
    with pytest.raises(ValidationError):
        services.budget_adjust(budget_id=budget.pk, amount=amount, reason="x", actor=acme.admin)
    assert not budget.entries.exists()


def test_adjustment_needs_a_reason_an_admin_and_cannot_go_below_zero(acme, globex):
    budget = budget_for(acme, "100.00")
    with pytest.raises(ValidationError, match="Say why"):
        services.budget_adjust(budget_id=budget.pk, amount="10", reason=" ", actor=acme.admin)
    with pytest.raises(services.BudgetRefused, match="Only a company admin"):
        services.budget_adjust(budget_id=budget.pk, amount="10", reason="x", actor=acme.employee)
    with pytest.raises(Budget.DoesNotExist):
        services.budget_adjust(budget_id=budget.pk, amount="10", reason="x", actor=globex.admin)
    with pytest.raises(services.BudgetRefused, match="below zero"):
        services.budget_adjust(budget_id=budget.pk, amount="-100.01", reason="x", actor=acme.admin)
    assert not budget.entries.exists()


def test_category_budget_is_used_before_the_overall_one(acme):
    overall = budget_for(acme, "2000.00")
    phones = budget_for(acme, "500.00", category="phone")
    submit(acme, product_for(acme, price="400.00", name="Phone", category="phone"))
    assert totals(phones)["reserved"] == D("400.00")
    assert totals(overall)["reserved"] == 0
