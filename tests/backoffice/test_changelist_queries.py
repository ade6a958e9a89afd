"""A changelist costs the same number of queries with 1 or 100 rows, and at most 8 (the
counts are the contract: change them only on purpose).

Steady state, after a first page: a role's permissions are cached per process. A page is
the session, the user, one query per relation filter, the count, the rows (with their
related rows joined) and the devices of the orders shown. No list has a date drill-down:
it costs a DISTINCT over every row in scope on each page (a date filter does not)."""

import pytest

from tests.helpers import place_order

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("rows", [1, 100])
@pytest.mark.parametrize(
    ("role", "url", "queries"),
    [
        ("admin", "/admin/devices/device/", 5),
        ("partner_staff", "/admin/devices/device/", 5),
        ("partner_staff", "/admin/orders/workqueuedevice/", 5),
        ("partner_staff", "/admin/orders/workqueueorder/", 6),
        ("admin", "/admin/orders/order/", 6),
        ("partner_staff", "/admin/orders/order/", 6),
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

    from devices import lifecycle
    from leasing import services as leasing

    for i in range(rows):
        device = lifecycle.device_register_manually(
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
        ("admin", "/admin/leasing/lease/", 6),
        ("admin", "/admin/leasing/lease/?overdue=yes", 6),
        ("partner_staff", "/admin/leasing/lease/", 6),
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


def some_of_everything(tenant, rows, after_commit):
    """``rows`` of each kind a company admin lists: requests paid partly by card (on the
    processor's page), half of them approved (the hold captured) and then cancelled, so
    refunds exist, the other half withdrawn (the hold released); budgets, products, users,
    mail."""
    from budgets.models import Budget
    from notifications.services import notify
    from orders import services as orders
    from tests.factories import UserFactory
    from tests.helpers import card, product_for, submit

    tenant.company.card_payments_allowed = True
    tenant.company.save()
    for i in range(rows):
        employee = UserFactory(email=f"p{i}@{tenant.company.slug}.example", company=tenant.company)
        Budget.objects.filter(employee=employee).delete()
        from budgets.services import budget_create

        budget_create(employee=employee, allowance="500.00")
        product = product_for(tenant, price="700.00", name=f"Laptop {i}")
        request = submit(tenant, product, employee=employee, card_=card())
        assert request.status == "pending"  # the part over budget is held on the card
        if i % 2:
            with after_commit():
                orders.request_withdraw(request_id=request.pk, actor=employee)
        else:
            with after_commit():  # the capture runs after the approval's commit
                approved = orders.request_approve(request_id=request.pk, actor=tenant.admin)
            with after_commit():  # and the refund after the cancellation's
                orders.order_cancel(order_id=approved.order_id, actor=tenant.admin, reason="x")
        notify(
            kind="invite",
            recipient=employee,
            context={"user": employee, "link": "x"},
            dedup_key=f"q:{employee.pk}",
        )


@pytest.mark.parametrize("rows", [1, 15])
@pytest.mark.parametrize(
    ("url", "queries"),
    [
        ("/admin/orders/productrequest/", 6),
        ("/admin/orders/product/", 5),
        ("/admin/budgets/budget/", 4),
        ("/admin/budgets/cardpayment/", 6),
        ("/admin/budgets/refund/", 4),
        ("/admin/notifications/notification/", 7),
        ("/admin/companies/user/", 5),
        ("/admin/companies/company/", 4),
        ("/admin/companies/partner/", 4),
        ("/admin/companies/leasingcompany/", 4),
    ],
)
def test_company_admin_lists_cost_fixed_queries(
    login, acme, rows, url, queries, django_assert_num_queries, after_commit
):
    from budgets.models import Refund

    some_of_everything(acme, rows, after_commit)
    assert Refund.objects.filter(status="succeeded").count() == (rows + 1) // 2
    client = login(acme.admin)
    client.get(url)
    with django_assert_num_queries(queries):
        response = client.get(url)
    assert response.status_code == 200


@pytest.mark.parametrize("rows", [1, 15])
def test_distributor_connections_cost_fixed_queries(
    login, acme, rows, superuser, django_assert_num_queries
):
    from partners.models import DistributorConnection
    from tests.factories import PartnerFactory

    for i in range(rows):
        DistributorConnection.objects.create(partner=PartnerFactory(slug=f"conn-{i}"))
    client = login(superuser)
    client.get("/admin/partners/distributorconnection/")
    with django_assert_num_queries(4):
        response = client.get("/admin/partners/distributorconnection/")
    assert response.status_code == 200


def test_a_deep_page_read_by_its_keys_holds_the_rows_plain_paging_would(acme):
    """Far down a list the page is ``pk IN (its keys)``: the same rows, in the same order."""
    from django.core.paginator import Paginator

    from core.tenant_admin import KeysFirstPaginator
    from devices.models import Device

    class FromTheStart(KeysFirstPaginator):
        deep = 0

    for _ in range(7):
        place_order(acme)
    rows = Device.objects.visible_to(acme.partner_staff).select_related("owner")
    rows = rows.order_by("-created_at", "-id")
    plain = Paginator(rows, 2, orphans=1)
    assert plain.num_pages > 1
    for number in plain.page_range:
        page = FromTheStart(rows, 2, orphans=1).page(number)
        assert list(page) == list(plain.page(number))
