"""A changelist costs the same number of queries with 1 or 100 rows, and at most 8 (the
counts are the contract: change them only on purpose).

Steady state, after a first page: a role's permissions are cached per process. A page is
the session, the user, one query per relation filter, the count, the rows (with their
related rows joined), the devices of the orders shown, and two for the date drill-down."""

import pytest

from tests.helpers import place_order

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("rows", [1, 100])
@pytest.mark.parametrize(
    ("role", "url", "queries"),
    [
        ("admin", "/admin/devices/device/", 7),
        ("partner_staff", "/admin/devices/device/", 7),
        ("partner_staff", "/admin/orders/workqueuedevice/", 5),
        ("admin", "/admin/orders/order/", 8),
        ("partner_staff", "/admin/orders/order/", 8),
    ],
)
def test_changelists_cost_fixed_queries(
    login, acme, rows, role, url, queries, django_assert_num_queries
):
    for _ in range(rows):
        place_order(acme)
    client = login(getattr(acme, role))
    client.get(url)  # the role's permissions are cached from here on
    with django_assert_num_queries(queries):
        response = client.get(url)
    assert response.status_code == 200
    assert len(response.context["cl"].result_list) == min(rows, 50)


def leased_fleet(tenant, rows):
    """``rows`` leased devices (registered by hand: one call each), half up for buyout."""
    from decimal import Decimal

    from leasing import services as leasing
    from orders import services as orders

    for i in range(rows):
        device = orders.device_register_manually(
            actor=tenant.admin,
            owner_id=tenant.employee.pk,
            name=f"Leased laptop {i}",
            category="laptop",
            leased=True,
            lease_months=24,
            monthly_price=Decimal("30.00"),
        )
        choice = "buyout" if i % 2 == 0 else "return"
        leasing.lease_choose(device_id=device.pk, actor=tenant.employee, choice=choice)


@pytest.mark.parametrize("rows", [1, 30])
@pytest.mark.parametrize(
    ("role", "url", "queries"),
    [
        ("admin", "/admin/leasing/lease/", 8),
        ("admin", "/admin/leasing/lease/?overdue=yes", 8),
        ("partner_staff", "/admin/leasing/lease/", 8),
        ("admin", "/admin/leasing/buyout/", 4),
        ("admin", "/admin/leasing/leasingarrangement/", 4),
        ("admin", "/admin/leasing/lease/forecast/", 3),
    ],
)
def test_leasing_pages_cost_fixed_queries(
    login, acme, rows, role, url, queries, django_assert_num_queries
):
    from leasing.models import LeasingArrangement

    LeasingArrangement.objects.create(
        company=acme.company, leasing_company=acme.company.leasing_company, partner=acme.partner
    )
    leased_fleet(acme, rows)
    client = login(getattr(acme, role))
    client.get(url)
    with django_assert_num_queries(queries):
        response = client.get(url)
    assert response.status_code == 200
