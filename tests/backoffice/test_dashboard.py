"""The console's landing dashboard: what waits on each role, counted within their own scope,
each count a link to the list that shows it, in a constant number of queries."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from backoffice.dashboard import dashboard_for
from devices.models import Device
from orders.models import DispatchStatus, Order
from tests.helpers import budget_for, device_in, place_order, product_for, submit

pytestmark = pytest.mark.django_db


def item(board, label):
    return next(i for i in board.inbox if i.label.startswith(label))


def some_work(tenant, n=1):
    if not tenant.employee.budgets.exists():
        budget_for(tenant, "100000.00")
    for i in range(n):
        submit(tenant, product_for(tenant, price="100.00", name=f"Thing {i}"))
        device_in(tenant, "shipped")
        order = place_order(tenant)
        Order.objects.filter(pk=order.pk).update(dispatch_status=DispatchStatus.FAILED)
    # Delivered nine days ago and not marked received (set directly: the lifecycle's own
    # tests cover how a device gets there).
    Device.objects.filter(company=tenant.company, status="shipped").update(
        status="delivered", delivered_at=timezone.now() - timedelta(days=9)
    )


def test_the_company_admin_sees_what_waits_on_them_and_only_theirs(acme, globex):
    some_work(acme, 2)
    some_work(globex, 1)
    board = dashboard_for(acme.admin)
    assert item(board, "Requests waiting for approval").count == 2
    assert item(board, "Orders that could not be placed").count == 2
    assert item(board, "Deliveries not confirmed").count == 2
    assert item(board, "Deliveries not confirmed").age == "9 days"
    assert item(board, "Requests waiting for approval").url.endswith("?status__exact=pending")
    assert dashboard_for(globex.admin).inbox[0].count == 1
    assert board.spend[0]["allowance"] > 0 and board.spend[0]["currency"] == "EUR"
    assert len(board.leases_by_month) == 12 and len(board.spend_by_month[0]["bars"]) == 12


def test_an_employee_gets_no_dashboard(acme):
    assert dashboard_for(acme.employee) is None


def test_the_partner_sees_its_queue_per_company(acme):
    budget_for(acme, "100000.00")
    device_in(acme, "preparing")
    device_in(acme, "ordered")
    shipped = device_in(acme, "shipped")
    board = dashboard_for(acme.partner_staff)
    [company] = board.companies
    assert company["name"] == acme.company.name
    labels = {i.label: i.count for i in company["waiting"]}
    assert labels == {"Ordered": 1, "Preparing": 1}
    assert item(board, "Items waiting on you").count == 2
    assert company["sla"][30]["devices"] == 3
    assert company["sla"][30]["median_to_ship"] is not None
    assert shipped.pk  # shipped is not waiting on the partner


@pytest.mark.parametrize("who", ["admin", "partner_staff"])
def test_the_dashboard_costs_the_same_queries_however_much_there_is(acme, login, who):
    client = login(getattr(acme, who))
    some_work(acme, 1)
    client.get("/admin/")  # warm: permissions, session
    with CaptureQueriesContext(connection) as few:
        assert client.get("/admin/").status_code == 200
    some_work(acme, 6)
    with CaptureQueriesContext(connection) as many:
        page = client.get("/admin/")
    assert page.status_code == 200 and 'data-testid="inbox"' in page.content.decode()
    assert len(many) == len(few), [q["sql"][:120] for q in many.captured_queries]


def test_every_inbox_link_opens_its_list_for_the_company_admin(acme, login):
    some_work(acme, 1)
    client = login(acme.admin)
    for entry in dashboard_for(acme.admin).inbox:
        answer = client.get(entry.url)
        assert answer.status_code == 200, (entry.label, entry.url, answer.status_code)
        assert "?e=1" not in answer.get("Location", ""), entry.url  # a lookup the list refuses


def test_every_inbox_link_opens_its_list_for_the_partner(acme, login):
    budget_for(acme, "100000.00")
    device_in(acme, "preparing")
    client = login(acme.partner_staff)
    board = dashboard_for(acme.partner_staff)
    for entry in board.inbox + board.companies[0]["waiting"]:
        answer = client.get(entry.url)
        assert answer.status_code == 200, (entry.label, entry.url, answer.status_code)
        assert "?e=1" not in answer.get("Location", ""), entry.url


LIVE = "/admin/live/dashboard/"


@pytest.mark.parametrize("who", ["admin", "partner_staff"])
def test_the_live_part_is_the_dashboards_cards_alone_in_constant_queries(acme, login, who):
    client = login(getattr(acme, who))
    some_work(acme, 1)
    page = client.get("/admin/").content.decode()
    assert f'data-live-url="{LIVE}"' in page and 'data-live-every="30"' in page
    client.get(LIVE)
    with CaptureQueriesContext(connection) as few:
        part = client.get(LIVE)
    some_work(acme, 4)
    with CaptureQueriesContext(connection) as many:
        again = client.get(LIVE)
    assert part.status_code == again.status_code == 200
    body = again.content.decode()
    assert 'data-testid="inbox"' in body and "<html" not in body and "<form" not in body
    assert "no-store" in again["Cache-Control"]  # never from a cache: it is the news
    assert len(many) == len(few)


def test_the_live_part_follows_the_news(acme, login):
    budget_for(acme, "100000.00")
    client = login(acme.admin)
    before = client.get(LIVE).content.decode()
    submit(acme, product_for(acme, price="100.00"))
    after = client.get(LIVE).content.decode()
    assert before != after and "Requests waiting for approval" in after


def test_the_live_part_is_not_for_employees_or_strangers(acme, login):
    from django.test import Client

    assert Client().get(LIVE).status_code == 302  # to the sign-in page
    assert login(acme.employee).get(LIVE).status_code == 403


def test_the_service_figures_are_the_same_in_sql_and_in_python(acme):
    """PostgreSQL computes them in one aggregate; SQLite (the demo) in Python: alike."""
    from backoffice.dashboard import SLA_WINDOWS, _partner_sla, _partner_sla_in_python

    budget_for(acme, "100000.00")
    for status in ("shipped", "received", "cancelled", "preparing"):
        device_in(acme, status)
    now = timezone.now()
    since = {days: now - timedelta(days=days) for days in SLA_WINDOWS}
    in_python = _partner_sla_in_python(acme.partner_staff, since)
    assert in_python[acme.company.name][30]["devices"] == 4
    if connection.vendor == "postgresql":
        assert _partner_sla(acme.partner_staff, now) == in_python
