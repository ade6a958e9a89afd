"""Your Details reads through compiled statements (core.fastread): each gives what the ORM
queryset it replaced gave, field by field, for every kind of actor the tenant scope tells
apart; the page built on them shows everything a rich employee has, and nobody else's."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import AnonymousUser
from django.db import connection
from django.db.models import Count, Prefetch, Q
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from budgets.models import Budget, CardPayment, Refund
from devices.models import Device
from orders.models import ProductRequest, RequestStatus
from people.models import Attestation, OffboardingCase
from people.selectors import OPEN_ATTESTATION, OPEN_CASE, inbox_for
from portal import selectors
from tests.factories import SuperuserFactory
from tests.portal.rich import rich_employee
from tests.portal.test_queries import ME_QUERIES

pytestmark = pytest.mark.django_db


# --- What the page read before: the ORM querysets, as the selectors wrote them -----------------


def devices_by_orm(user):
    return list(
        Device.objects.visible_to(user)
        .filter(owner=user)
        .order_by("-created_at", "-pk")
        .values(*selectors.DEVICE_ROW_FIELDS)
    )


def requests_by_orm(user, since):
    turned_down = [RequestStatus.REJECTED, RequestStatus.WITHDRAWN, RequestStatus.FAILED]
    waiting = [RequestStatus.PENDING, RequestStatus.AWAITING_PAYMENT]
    unpaid = [CardPayment.Status.PENDING, CardPayment.Status.EXPIRED]
    return list(
        ProductRequest.objects.visible_to(user)
        .filter(employee=user)
        .filter(
            Q(status__in=waiting)
            | Q(status__in=turned_down, decided_at__gte=since)
            | Q(status=RequestStatus.APPROVED, card_payment__status__in=unpaid)
        )
        .select_related("card_payment")
        .order_by("-created_at")
    )


def payments_by_orm(user):
    return list(
        CardPayment.objects.visible_to(user)
        .filter(employee=user, dismissed_at__isnull=True)
        .select_related("request")
        .prefetch_related(Prefetch("refunds", queryset=Refund.objects.order_by("created_at")))
        .order_by("-created_at")
    )


def budgets_by_orm(user):
    return list(Budget.objects.visible_to(user).filter(employee=user).order_by("category"))


def case_by_orm(user):
    return (
        OffboardingCase.objects.visible_to(user)
        .open()
        .filter(employee=user)
        .annotate(
            to_choose=Count("items", filter=Q(items__outcome="", items__choice="")),
            to_settle=Count("items", filter=Q(items__outcome="")),
        )
        .first()
    )


def attestation_by_orm(user):
    return Attestation.objects.visible_to(user).open().filter(employee=user).first()


# --- Field by field -------------------------------------------------------------------------


def assert_same(a, b, path="row", seen=None):
    """Two model instances alike: every concrete field, every related object loaded with
    them (select_related, and the way back), every annotation; or two values equal, of
    one type."""
    if a is None or b is None:
        assert a is None and b is None, path
        return
    seen = set() if seen is None else seen
    if (id(a), id(b)) in seen:
        return
    seen.add((id(a), id(b)))
    assert type(a) is type(b), (path, type(a), type(b))
    if not hasattr(a, "_meta"):
        assert a == b, path
        return
    for f in type(a)._meta.concrete_fields:
        x, y = getattr(a, f.attname), getattr(b, f.attname)
        assert type(x) is type(y) and x == y, (f"{path}.{f.attname}", x, y)
    assert a._state.db == b._state.db and a._state.adding is b._state.adding is False
    assert a._state.fields_cache.keys() == b._state.fields_cache.keys(), path
    for name, related in a._state.fields_cache.items():
        assert_same(related, b._state.fields_cache[name], f"{path}.{name}", seen)
    extra = {k for k in vars(a) if k not in ("_state", "_prefetched_objects_cache")}
    assert extra == {k for k in vars(b) if k not in ("_state", "_prefetched_objects_cache")}


def assert_same_rows(got, expected, path):
    assert len(got) == len(expected), (path, len(got), len(expected))
    for i, (a, b) in enumerate(zip(got, expected, strict=True)):
        if isinstance(a, dict):
            assert a.keys() == b.keys(), path
            for key in a:
                assert type(a[key]) is type(b[key]) and a[key] == b[key], (path, i, key)
        else:
            assert_same(a, b, f"{path}[{i}]")


def no_queries(fn):
    with CaptureQueriesContext(connection) as queries:
        result = fn()
    assert not queries.captured_queries, queries.captured_queries
    return result


@pytest.fixture
def people(acme, globex, after_commit):
    """Every kind of actor the tenant scope tells apart, Erin the richest of them."""
    erin = rich_employee(acme, after_commit, others=globex)
    inactive = acme.colleague
    inactive.is_active = False
    inactive.save()
    return {
        "employee": erin,
        "other company's employee": globex.employee,
        "company admin": acme.admin,
        "partner staff": acme.partner_staff,
        "superuser": SuperuserFactory(),
        "inactive": inactive,
        "anonymous": AnonymousUser(),
    }


def test_each_compiled_read_gives_what_its_queryset_gave(people):
    since = timezone.now() - timedelta(days=30)
    for who, user in people.items():
        if who == "anonymous":  # the querysets filtered by the user object: not for nobody
            continue
        assert_same_rows(selectors.DEVICE_ROWS.fetch(user), devices_by_orm(user), who)
        assert_same_rows(
            selectors.REQUESTS.fetch(user, since=since), requests_by_orm(user, since), who
        )
        assert_same_rows(
            [c.budget for c in selectors.budget_cards_for(user)], budgets_by_orm(user), who
        )
        got, expected = selectors.payments_for(user), payments_by_orm(user)
        assert_same_rows(got, expected, who)
        for mine, theirs in zip(got, expected, strict=True):
            refunds = no_queries(lambda mine=mine: list(mine.refunds.all()))
            assert_same_rows(refunds, list(theirs.refunds.all()), f"{who} refunds")
            assert all(r.payment is mine for r in refunds)
            assert no_queries(mine.badge) == theirs.badge()
        [case] = OPEN_CASE.fetch(user) or [None]
        assert_same(case, case_by_orm(user), f"{who} case")
        if case is not None:
            assert (case.to_choose, case.to_settle) == (
                case_by_orm(user).to_choose,
                case_by_orm(user).to_settle,
            )
        [question] = OPEN_ATTESTATION.fetch(user) or [None]
        assert_same(question, attestation_by_orm(user), f"{who} attestation")
    # what Erin has, to be sure the comparison compared something
    erin = people["employee"]
    assert len(devices_by_orm(erin)) == 24
    assert {p.status for p in payments_by_orm(erin)} == {
        "pending",
        "authorized",
        "succeeded",
        "voided",
    }
    assert [r.status for p in payments_by_orm(erin) for r in p.refunds.all()] == ["succeeded"]
    assert case_by_orm(erin).to_choose == 12 and attestation_by_orm(erin) is not None
    assert len(budgets_by_orm(erin)) == 2


def test_an_actor_who_may_see_nothing_costs_no_query(people):
    for who in ("inactive", "anonymous"):
        user = people[who]
        assert no_queries(lambda user=user: selectors.DEVICE_ROWS.fetch(user)) == []
        assert no_queries(lambda user=user: selectors.payments_for(user)) == []
    # partner staff may see devices (their partner's), never requests or budgets
    staff = people["partner staff"]
    assert no_queries(lambda: selectors.requests_for(staff)) == []
    assert no_queries(lambda: selectors.budget_cards_for(staff)) == []
    assert no_queries(lambda: inbox_for(staff)) == (None, None)


def text(response):
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def between(body, start, end):
    """What ``body`` has after ``start`` up to the next ``end``."""
    at = body.index(start) + len(start)
    return body[at : body.index(end, at)]


def test_your_details_of_a_rich_employee_shows_all_of_it_and_nothing_of_others(
    people, login, settings, django_assert_num_queries
):
    settings.PAGE_CACHE = False
    erin = people["employee"]
    client = login(erin)
    with django_assert_num_queries(ME_QUERIES):
        body = text(client.get("/me/"))
    token = re.compile(r'value="[^"]{64}"')
    assert token.sub("", text(client.get("/me/live/"))) in token.sub("", body)
    hardware = body[body.index('data-testid="leaving-todo"') - 200 :]

    # the action inbox
    assert "Choose what happens to 12 devices" in hardware
    names = between(hardware, "Do you still have these devices?</strong> ", ". Please answer")
    # newest first, escaped, with no stray comma at the end (the old list left one when a
    # device it asked about was no longer held)
    assert names == (
        "Leased notice, Old dock, Erin&#x27;s &quot;Q&amp;A&quot; &lt;tablet&gt;, "
        "Active laptop, Received laptop"
    )
    assert hardware.count('name="csrfmiddlewaretoken"') == 1 and "@@CSRF@@" not in hardware
    assert "Delivered laptop was delivered on" in hardware
    assert 'data-testid="lease-due"' in hardware and "The lease of your Leased notice" in hardware
    assert hardware.count('data-testid="return-due"') == 2
    assert "Return by" in hardware and "The deadline has passed" in hardware
    assert "Your buyout of Leased buyout is waiting for payment." in hardware

    # budgets
    assert hardware.count('class="card section budget-card"') == 2
    assert "Accessory budget" in hardware and "Hardware budget" in hardware

    # requests: waiting, turned down with its reason, a declined card to try again
    requests = between(hardware, 'id="requests-h"', "</section>")
    for name in ("Cable", "Mouse &amp; pad", "Workstation", "Held laptop"):
        assert name in requests
    assert "We have &lt;spares&gt;" in requests and ">Rejected<" in requests
    assert "Last attempt: Your card was declined." in requests
    assert "Continue to payment" in requests and "Cancel request" in requests
    assert "Stand" not in requests and "Dropped tablet" not in requests  # past items

    # orders on their way: one line per open order, its items and what it can do
    orders = between(hardware, 'id="orders-h"', "</section>")
    assert orders.count('<li class="item">') == 8
    assert "Monitor, Monitor, Monitor and 2 more" in orders
    assert 'badge-info">Shipped</span><span class="small muted">2 of 5 items<' in orders
    assert "Acme &amp; Sons &lt;Partner&gt;" in orders and " · Expected " in orders
    assert orders.count("Track Order") == 3  # the orders with something shipped

    # devices: in use and in all, each line linked, labelled and escaped
    devices = between(hardware, 'id="devices-h"', "</section>")
    assert "5 in use · 20 in all" in devices
    assert devices.count('<li class="item">') == 20
    assert (
        '<a href="/me/devices/' in devices
        and "Erin&#x27;s &quot;Q&amp;A&quot; &lt;tablet&gt;</a>" in devices
    )
    assert 'badge-warn">Pending employee buyout<' in devices
    ends = timezone.localdate() + timedelta(days=45)  # tests/portal/rich.py
    assert "Registered manually" in devices and f"Lease ends {ends.day} " in devices

    # card payments and refunds
    payments = between(hardware, 'id="payments-h"', "</section>")
    assert 'Refund of <span class="money">€199.00</span> to the same card: Refunded' in (payments)
    assert ">Refunded<" in payments and "held until" in payments

    # past items
    past = hardware[hardware.index('data-testid="past-items"') :]
    assert "(7: cancelled or returned devices" in past
    for name in ("Leased returned", "Lost phone", "Cancelled laptop", "Pricey &lt;Pro&gt;"):
        assert name in between(past, 'id="past-devices-h"', "</ul>")
    assert "Stand" in past and "Dropped tablet" in past and ">Released<" in past

    # nobody else's hardware
    for other in ("Colleague", "Stranger"):
        assert other not in body


def test_the_cached_page_is_the_page(people, login, django_assert_num_queries):
    client = login(people["employee"])
    first = text(client.get("/me/"))
    with django_assert_num_queries(2):
        again = text(client.get("/me/"))
    token = re.compile(r'value="[^"]{64}"')
    assert token.sub("", first) == token.sub("", again)
