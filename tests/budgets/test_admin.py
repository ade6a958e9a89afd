"""The money side in the admin: approve and reject requests, cancel orders, adjust budgets,
follow refunds — through the same services as everything else."""

from decimal import Decimal

import pytest

from budgets.models import Budget, BudgetEntry
from devices.models import DeviceStatus
from tests.helpers import approved_order, budget_for, product_for, submit

pytestmark = pytest.mark.django_db


def test_company_admin_approves_a_request_in_the_admin(login, acme):
    budget_for(acme, "1000.00")
    request = submit(acme, product_for(acme, price="400.00"))
    client = login(acme.admin)
    page = client.get(f"/admin/orders/productrequest/{request.pk}/change/").content.decode()
    assert 'data-testid="action-approve"' in page and 'data-testid="action-reject"' in page
    response = client.post(
        f"/admin/orders/productrequest/{request.pk}/act/approve/", {"note": ""}, follow=True
    )
    assert "Approved. Order VO-" in response.content.decode()
    request.refresh_from_db()
    assert (
        request.status == "approved" and request.order.devices.get().status == DeviceStatus.ORDERED
    )


def test_reject_in_the_admin_needs_a_reason(login, acme):
    budget_for(acme, "1000.00")
    request = submit(acme, product_for(acme, price="400.00"))
    client = login(acme.admin)
    empty = client.post(f"/admin/orders/productrequest/{request.pk}/act/reject/", {"reason": ""})
    assert empty.status_code == 200 and "This field is required" in empty.content.decode()
    client.post(
        f"/admin/orders/productrequest/{request.pk}/act/reject/", {"reason": "Budget freeze"}
    )
    request.refresh_from_db()
    assert request.status == "rejected" and request.decision_reason == "Budget freeze"


def test_partner_staff_never_see_requests(login, acme):
    budget_for(acme, "1000.00")
    request = submit(acme, product_for(acme, price="400.00"))
    client = login(acme.partner_staff)
    assert client.get("/admin/orders/productrequest/").status_code == 403
    assert client.post(
        f"/admin/orders/productrequest/{request.pk}/act/approve/", {}
    ).status_code in (403, 404)
    request.refresh_from_db()
    assert request.status == "pending"


@pytest.mark.parametrize("who", ["admin", "partner_staff"])
def test_cancel_button_on_the_order_page(login, acme, who):
    budget = budget_for(acme, "1000.00")
    order = approved_order(acme, product_for(acme, price="400.00"))
    client = login(getattr(acme, who))
    assert (
        'data-testid="action-cancel"'
        in client.get(f"/admin/orders/order/{order.pk}/change/").content.decode()
    )
    response = client.post(
        f"/admin/orders/order/{order.pk}/act/cancel/", {"reason": "Discontinued"}, follow=True
    )
    page = response.content.decode()
    assert "Cancel: done for 1 of 1 items." in page
    # The money is the company's: its admin sees what was released, the partner does not.
    assert ("400.00 released to the budget" in page) == (who == "admin")
    budget.refresh_from_db()
    assert budget.available == Decimal("1000.00")


def test_cancelling_a_foreign_order_is_not_found(login, acme, globex):
    budget_for(acme, "1000.00")
    order = approved_order(acme, product_for(acme, price="400.00"))
    for intruder in (globex.admin, globex.partner_staff):
        response = login(intruder).post(
            f"/admin/orders/order/{order.pk}/act/cancel/", {"reason": "x"}
        )
        assert response.status_code == 404
    assert order.devices.get().status == DeviceStatus.ORDERED


def test_adjust_budget_with_a_reason_in_the_admin(login, acme):
    budget = budget_for(acme, "1000.00")
    client = login(acme.admin)
    response = client.post(
        f"/admin/budgets/budget/{budget.pk}/act/adjust/",
        {"amount": "150.00", "reason": "New role"},
        follow=True,
    )
    assert "adjusted by +€150.00" in response.content.decode()
    entry = BudgetEntry.objects.get(kind="adjust")
    assert entry.amount == Decimal("150.00") and entry.reason == "New role"
    bad = client.post(
        f"/admin/budgets/budget/{budget.pk}/act/adjust/", {"amount": "abc", "reason": "x"}
    )
    assert "Enter a number" in bad.content.decode()
    assert BudgetEntry.objects.filter(kind="adjust").count() == 1


def test_company_admin_creates_a_budget_for_their_employee_only(login, acme, globex):
    client = login(acme.admin)
    response = client.post(
        "/admin/budgets/budget/add/",
        {
            "employee": acme.colleague.pk,
            "category": "",
            "allowance": "1500.00",
            "period_months": 36,
            "period_start": "2026-01-01",
        },
    )
    assert response.status_code == 302
    assert Budget.objects.get(employee=acme.colleague).allowance == Decimal("1500.00")
    foreign = client.post(
        "/admin/budgets/budget/add/",
        {
            "employee": globex.employee.pk,
            "category": "",
            "allowance": "1.00",
            "period_months": 36,
            "period_start": "2026-01-01",
        },
    )
    assert "Select a valid choice" in foreign.content.decode()
    assert not Budget.objects.filter(employee=globex.employee).exists()


def test_budgets_are_not_for_partner_staff(login, acme):
    budget_for(acme, "1000.00")
    assert login(acme.partner_staff).get("/admin/budgets/budget/").status_code == 403
