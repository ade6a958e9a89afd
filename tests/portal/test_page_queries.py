"""The employee's budget page costs the same queries with one request or many."""

import pytest

from tests.helpers import budget_for, product_for, submit

pytestmark = pytest.mark.django_db

# session, user, the budgets, their ledger entries with requests and orders, card payments
BUDGET_PAGE_QUERIES = 5


@pytest.mark.parametrize("requests", [1, 12])
def test_budget_history_costs_fixed_queries(login, acme, requests, django_assert_num_queries):
    budget_for(acme, "50000.00")
    for i in range(requests):
        submit(acme, product_for(acme, price="100.00", name=f"Mouse {i}"))
    client = login(acme.employee)
    client.get("/me/budget/")
    with django_assert_num_queries(BUDGET_PAGE_QUERIES):
        response = client.get("/me/budget/")
    assert response.status_code == 200 and "Mouse 0" in response.content.decode()
