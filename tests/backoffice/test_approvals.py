"""Approvals with context: the company admin's list opens on what waits for them, oldest
first; a request's page shows the employee's budget, devices, open orders and earlier
requests beside it (in a fixed number of queries); Approve is the primary button; and
several requests are rejected at once with one reason."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.messages import get_messages
from django.utils import timezone

from devices import lifecycle
from devices.models import DeviceStatus
from orders import services as orders
from orders.admin import ProductRequestAdmin
from orders.models import ProductRequest, RequestStatus
from orders.selectors import request_context_for
from tests.helpers import bring_to, budget_for, card, place_order, product_for, submit

pytestmark = pytest.mark.django_db

LIST = "/admin/orders/productrequest/"
# The list's date column as its ``o`` parameter numbers it (the checkbox column first).
DATE = str(["action_checkbox", *ProductRequestAdmin.list_display].index("created_at"))


def page_of(request) -> str:
    return f"{LIST}{request.pk}/change/"


def aged(request, days: int):
    """The request as if sent ``days`` ago."""
    ProductRequest.objects.filter(pk=request.pk).update(
        created_at=timezone.now() - timedelta(days=days)
    )
    request.refresh_from_db()
    return request


def in_use(tenant, name, *, owner=None):
    return lifecycle.device_register_manually(
        actor=tenant.admin, owner_id=(owner or tenant.employee).pk, name=name, category="laptop"
    )


def shown(response) -> list[int]:
    return [r.pk for r in response.context["cl"].result_list]


def notes(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


# --- The list ----------------------------------------------------------------------------------


def test_the_list_opens_on_requests_waiting_for_approval_oldest_first(login, acme):
    budget_for(acme, "9000.00")
    product = product_for(acme, price="100.00")
    newer = aged(submit(acme, product), 1)
    older = aged(submit(acme, product), 5)
    rejected = aged(submit(acme, product), 9)
    orders.request_reject(request_id=rejected.pk, actor=acme.admin, reason="No")
    client = login(acme.admin)

    response = client.get(LIST)

    assert response.status_code == 200
    assert shown(response) == [older.pk, newer.pk]
    cl = response.context["cl"]
    assert cl.params["status__exact"] == "pending" and cl.params["o"] == DATE
    # The sidebar says so: "Waiting for approval" is the chosen status.
    status = next(f for f in cl.filter_specs if f.lookup_kwarg == "status__exact")
    chosen = [c for c in status.choices(cl) if c["selected"]]
    assert [c["display"] for c in chosen] == ["Waiting for approval"]
    # "All" is one click away, and shows every request, oldest first.
    everything = next(c for c in status.choices(cl) if c["display"] == "All")
    all_of_them = client.get(LIST + everything["query_string"])
    assert shown(all_of_them) == [rejected.pk, older.pk, newer.pk]


def test_a_filter_or_order_in_the_query_string_is_kept(login, acme):
    budget_for(acme, "9000.00")
    product = product_for(acme, price="100.00")
    pending = aged(submit(acme, product), 1)
    rejected = aged(submit(acme, product), 3)
    orders.request_reject(request_id=rejected.pk, actor=acme.admin, reason="No")
    client = login(acme.admin)

    assert shown(client.get(LIST, {"status__exact": "rejected"})) == [rejected.pk]
    newest_first = client.get(LIST, {"o": f"-{DATE}"})
    assert shown(newest_first) == [pending.pk, rejected.pk]
    # From a filtered list without an order, "All" still means all.
    cl = client.get(LIST, {"status__exact": "rejected"}).context["cl"]
    status = next(f for f in cl.filter_specs if f.lookup_kwarg == "status__exact")
    everything = next(c for c in status.choices(cl) if c["display"] == "All")
    assert set(shown(client.get(LIST + everything["query_string"]))) == {pending.pk, rejected.pk}


def test_show_all_beside_a_search_shows_every_request(login, acme):
    budget_for(acme, "9000.00")
    product = product_for(acme, price="100.00")
    pending = submit(acme, product)
    rejected = aged(submit(acme, product), 2)
    orders.request_reject(request_id=rejected.pk, actor=acme.admin, reason="No")
    client = login(acme.admin)
    searched = client.get(LIST, {"q": "nobody", "status__exact": "pending", "o": DATE})
    assert shown(searched) == []
    show_all = searched.context["cl"].show_all_query
    assert show_all == f"?o={DATE}" and f'href="{show_all}"' in searched.content.decode()
    assert shown(client.get(LIST + show_all)) == [rejected.pk, pending.pk]


def test_the_list_of_one_employees_requests_and_no_other_lookup(login, acme):
    budget_for(acme, "9000.00")
    budget_for(acme, "9000.00", employee=acme.colleague)
    product = product_for(acme, price="100.00")
    own = submit(acme, product)
    submit(acme, product, employee=acme.colleague)
    client = login(acme.admin)
    assert shown(client.get(LIST, {"employee__id__exact": acme.employee.pk})) == [own.pk]
    assert client.get(LIST, {"employee__email__startswith": "e"}).status_code == 400


# --- The request's page ------------------------------------------------------------------------


def test_the_page_shows_the_employees_budget_devices_orders_and_earlier_requests(
    login, acme, globex
):
    budget_for(acme, "3000.00")
    budget_for(acme, "3000.00", employee=acme.colleague)
    budget_for(globex, "3000.00")
    in_use(acme, "Erin's Dell XPS")
    in_use(acme, "Cole's MacBook", owner=acme.colleague)
    in_use(globex, "Globex ThinkPad")
    on_its_way = place_order(acme, name="Erin's monitor")
    theirs = place_order(acme, employee=acme.colleague, name="Cole's monitor")
    earlier = aged(submit(acme, product_for(acme, price="200.00", name="Erin's headset")), 3)
    orders.request_reject(request_id=earlier.pk, actor=acme.admin, reason="One is enough")
    submit(acme, product_for(acme, price="50.00", name="Cole's mouse"), employee=acme.colleague)
    submit(globex, product_for(globex, price="50.00", name="Globex mouse"))
    request = submit(acme, product_for(acme, price="400.00", name="ThinkPad T14"))

    context = request_context_for(request, acme.admin)

    assert context.budget.employee_id == acme.employee.pk
    # 3000, the rejected request's 200 released, this one's 400 reserved
    assert context.available == Decimal("2600.00")
    assert context.request.budget_amount == Decimal("400.00") and context.payment is None
    assert [d["name"] for d in context.devices] == ["Erin's Dell XPS"]
    assert [d["label"] for d in context.devices] == ["Active"]
    assert [o["number"] for o in context.open_orders] == [on_its_way.number]
    assert context.open_orders[0]["status"].label == "Ordered"
    assert [(e["number"], e["name"], e["label"]) for e in context.earlier] == [
        (earlier.number, "Erin's headset", "Rejected")
    ]
    page = login(acme.admin).get(page_of(request)).content.decode()
    for mine in ("Erin&#x27;s Dell XPS", on_its_way.number, earlier.number, "€2,600.00"):
        assert mine in page, mine
    for foreign in ("Cole&#x27;s", theirs.number, "Globex", "Cole League"):
        assert foreign not in page, foreign


def test_another_companys_admin_gets_nothing_of_the_request(login, acme, globex):
    budget_for(acme, "3000.00")
    request = submit(acme, product_for(acme, price="400.00"))
    assert login(globex.admin).get(page_of(request)).status_code == 404
    with pytest.raises(ProductRequest.DoesNotExist):
        request_context_for(request, globex.admin)


def test_the_card_part_shows_its_payment(login, acme):
    acme.company.card_payments_allowed = True
    acme.company.save()
    budget_for(acme, "500.00")
    request = submit(acme, product_for(acme, price="700.00"), card_=card())
    assert request.status == RequestStatus.PENDING

    context = request_context_for(request, acme.admin)

    assert context.payment.get_status_display() == "Authorized (held)"
    assert context.payment.capture_before is not None and context.card_warning == ""
    page = login(acme.admin).get(page_of(request)).content.decode()
    assert 'data-testid="budget-share">€500.00' in page
    assert 'data-testid="card-share">€200.00' in page
    assert 'data-testid="card-status">Authorized (held)' in page
    assert "•••• 4242" in page and "Held until" in page
    assert 'data-testid="budget-available">€0.00' in page


def test_approve_is_the_primary_button_and_reject_asks_for_a_reason(login, acme):
    budget_for(acme, "1000.00")
    request = submit(acme, product_for(acme, price="400.00"))
    client = login(acme.admin)
    page = client.get(page_of(request)).content.decode()
    assert 'class="vr-btn vr-primary" data-testid="action-approve"' in page
    assert 'class="vr-btn vr-secondary" data-testid="action-reject"' in page
    assert page.count('data-testid="action-approve"') == 1
    form = client.get(f"{LIST}{request.pk}/act/reject/").content.decode()
    assert '<label for="id_reason" class="required">Reason</label>' in form


def earlier_requests_and_devices(tenant, n):
    product = product_for(tenant, price="10.00")
    for i in range(n):
        in_use(tenant, f"Laptop {i}")
        place_order(tenant, name=f"Monitor {i}")
        earlier = aged(submit(tenant, product), 30 - i)
        if i % 2:
            orders.request_reject(request_id=earlier.pk, actor=tenant.admin, reason="No")


# Steady state (permissions cached): the session, the user, the request (looked up twice:
# its buttons and Django's page), and the context: the request with its card payment, the
# budget, the devices with their orders, the earlier requests.
PAGE_QUERIES = 8
CONTEXT_QUERIES = 4


@pytest.mark.parametrize("n", [1, 10])
def test_the_page_costs_fixed_queries(login, acme, n, django_assert_num_queries):
    budget_for(acme, "9000.00")
    earlier_requests_and_devices(acme, n)
    request = submit(acme, product_for(acme, price="400.00"))
    client = login(acme.admin)
    client.get(page_of(request))
    with django_assert_num_queries(PAGE_QUERIES):
        response = client.get(page_of(request))
    context = response.context["approval"]
    assert len(context.devices) == n and len(context.open_orders) == n
    assert len(context.earlier) == n
    with django_assert_num_queries(CONTEXT_QUERIES):
        request_context_for(request, acme.admin)


def test_the_last_ten_earlier_requests_are_shown(login, acme):
    budget_for(acme, "9000.00")
    earlier_requests_and_devices(acme, 12)
    request = submit(acme, product_for(acme, price="400.00"))
    context = request_context_for(request, acme.admin)
    assert len(context.earlier) == 10 and context.more_earlier
    dates = [e["created_at"] for e in context.earlier]
    assert dates == sorted(dates, reverse=True)  # newest first, the oldest two left out
    page = login(acme.admin).get(page_of(request)).content.decode()
    assert f"?employee__id__exact={acme.employee.pk}" in page


# --- Bulk reject -------------------------------------------------------------------------------


def reject(client, requests, **extra):
    data = {"action": "reject_selected", "_selected_action": [r.pk for r in requests], **extra}
    return client.post(LIST, data)


def test_bulk_reject_asks_one_reason_then_rejects_each(login, acme, colleague_budget):
    product = product_for(acme, price="400.00")
    first = submit(acme, product)
    second = submit(acme, product, employee=acme.colleague)
    client = login(acme.admin)

    asked = reject(client, [first, second])

    assert asked.status_code == 200
    body = asked.content.decode()
    assert first.number in body and second.number in body and 'name="reason"' in body
    assert ProductRequest.objects.filter(status=RequestStatus.PENDING).count() == 2

    empty = reject(client, [first, second], apply="1", reason="  ")
    assert empty.status_code == 200 and "This field is required" in empty.content.decode()
    too_long = reject(client, [first, second], apply="1", reason="x" * 1001)
    assert "at most 1000 characters" in too_long.content.decode()
    assert ProductRequest.objects.filter(status=RequestStatus.PENDING).count() == 2

    done = reject(client, [first, second], apply="1", reason="Budget freeze")

    assert done.status_code == 302
    for request in (first, second):
        request.refresh_from_db()
        assert request.status == RequestStatus.REJECTED
        assert request.decision_reason == "Budget freeze"
        assert request.decided_by == acme.admin
    assert sorted(notes(done)) == [
        f"{first.number} rejected; {acme.employee} has been told why.",
        f"{second.number} rejected; {acme.colleague} has been told why.",
    ]
    from budgets.models import Budget

    assert {b.reserved for b in Budget.objects.all()} == {Decimal("0.00")}


@pytest.fixture
def colleague_budget(acme):
    budget_for(acme, "1000.00")
    budget_for(acme, "1000.00", employee=acme.colleague)


def test_bulk_reject_reports_what_it_cannot_reject(login, acme, colleague_budget):
    product = product_for(acme, price="400.00")
    pending = submit(acme, product)
    approved = submit(acme, product, employee=acme.colleague)
    orders.request_approve(request_id=approved.pk, actor=acme.admin)
    client = login(acme.admin)
    listed = client.get(LIST, {"o": DATE})  # "All": the approved one is listed too
    assert set(shown(listed)) == {pending.pk, approved.pk}

    asked = client.post(
        f"{LIST}?o={DATE}",
        {"action": "reject_selected", "_selected_action": [pending.pk, approved.pk]},
    )
    assert "1 of these is not waiting for approval" in asked.content.decode()
    done = client.post(
        f"{LIST}?o={DATE}",
        {
            "action": "reject_selected",
            "_selected_action": [pending.pk, approved.pk],
            "apply": "1",
            "reason": "Budget freeze",
        },
    )

    assert done.status_code == 302
    pending.refresh_from_db()
    approved.refresh_from_db()
    assert pending.status == RequestStatus.REJECTED
    assert approved.status == RequestStatus.APPROVED and approved.order is not None
    messages = notes(done)
    assert f"{pending.number} rejected; {acme.employee} has been told why." in messages
    assert (
        f"{approved.number}: refused — Request {approved.number} is approved: only a request "
        "waiting for approval can be rejected." in messages
    )
    # The messages are shown on the list the admin is sent back to.
    assert approved.number in client.get(done["Location"]).content.decode()


def test_another_companys_admin_cannot_reject(login, acme, globex, colleague_budget):
    request = submit(acme, product_for(acme, price="400.00"))
    client = login(globex.admin)
    done = reject(client, [request], apply="1", reason="Forged")
    assert done.status_code == 302
    assert notes(done) == ["None of the selected requests was found: nothing rejected."]
    request.refresh_from_db()
    assert request.status == RequestStatus.PENDING and request.decision_reason == ""


def test_bulk_reject_is_for_company_admins_only(login, acme, colleague_budget, rf):
    from django.contrib import admin

    request = submit(acme, product_for(acme, price="400.00"))
    model_admin = admin.site._registry[ProductRequest]
    as_admin = rf.get(LIST)
    as_admin.user = acme.admin
    assert "reject_selected" in model_admin.get_actions(as_admin)
    as_partner = rf.get(LIST)
    as_partner.user = acme.partner_staff
    assert "reject_selected" not in model_admin.get_actions(as_partner)
    for outsider in (acme.partner_staff, acme.employee):
        response = reject(login(outsider), [request], apply="1", reason="Forged")
        assert response.status_code == 403
    request.refresh_from_db()
    assert request.status == RequestStatus.PENDING


def test_a_device_in_an_open_order_is_not_counted_as_in_use(acme):
    budget_for(acme, "1000.00")
    order = place_order(acme, items=2, name="Phone")
    bring_to(acme, order.devices.order_by("pk").first(), DeviceStatus.SHIPPED)
    request = submit(acme, product_for(acme, price="100.00"))
    context = request_context_for(request, acme.admin)
    assert context.devices == []
    assert context.open_orders[0]["status"].text == "Shipped — 1 of 2 items"
