"""Your Details and the detail pages cost a fixed number of queries, however many devices
(the exact counts are the contract: change them only on purpose)."""

import re

import pytest

from core.tenancy import SYSTEM
from devices import lifecycle
from tests.helpers import place_order

pytestmark = pytest.mark.django_db

# session, user (+company, partner), devices (+order, partner, shipment, lease), budgets,
# requests, card payments (with their refunds, joined), the open offboarding case and the
# open attestation question (the action inbox); the last six sent together
# (core.fastread.run)
ME_QUERIES = 8
# once rendered, the hardware sections come from the cache until the profile changes
ME_QUERIES_CACHED = 2


@pytest.mark.parametrize("devices", [0, 1, 50])
def test_your_details_costs_the_same_with_0_1_or_50_devices(
    login, acme, devices, django_assert_num_queries
):
    if devices:
        for _ in range(devices // 10 or 1):
            place_order(acme, items=min(devices, 10))
    client = login(acme.employee)
    with django_assert_num_queries(ME_QUERIES):
        response = client.get("/me/")
    assert response.status_code == 200
    with django_assert_num_queries(ME_QUERIES_CACHED):
        cached = client.get("/me/")
    strip_token = lambda r: re.sub(rb'value="[^"]{64}"', b"", r.content)  # noqa: E731
    assert strip_token(cached) == strip_token(response)
    assert response.content.decode().count('class="item-title"') == devices + (
        devices // 10 or 1 if devices else 0
    )


@pytest.mark.parametrize("items", [1, 20])
def test_order_page_and_track_page_cost_the_same_for_1_or_20_items(
    login, acme, items, django_assert_num_queries
):
    order = place_order(acme, items=items)
    ids = list(order.devices.values_list("pk", flat=True))
    lifecycle.devices_advance(
        device_ids=ids, transition="start_preparing", actor=SYSTEM, source="poll"
    )
    lifecycle.devices_ship(
        device_ids=ids, actor=SYSTEM, source="poll", carrier="DHL", tracking_number="JD1"
    )
    client = login(acme.employee)
    # session, user, order (+partner, employee, company), devices, events
    with django_assert_num_queries(5):
        assert client.get(f"/me/orders/{order.pk}/").status_code == 200
    with django_assert_num_queries(2):  # session, user: the page's main part is cached
        assert client.get(f"/me/orders/{order.pk}/").status_code == 200
    # session, user, order (+partner), devices, shipments, shipment events
    with django_assert_num_queries(6):
        assert client.get(f"/me/orders/{order.pk}/track/").status_code == 200


def test_device_page_costs_a_fixed_number_of_queries(login, acme, django_assert_num_queries):
    device = place_order(acme).devices.get()
    client = login(acme.employee)
    # session, user, device (+company, partner, order, shipment, lease, owner), history
    with django_assert_num_queries(4):
        assert client.get(f"/me/devices/{device.pk}/").status_code == 200
    with django_assert_num_queries(2):  # session, user: the page's main part is cached
        assert client.get(f"/me/devices/{device.pk}/").status_code == 200


def test_a_change_to_my_hardware_shows_at_once_despite_the_cache(login, acme):
    order = place_order(acme)
    client = login(acme.employee)
    assert 'badge-neutral">Ordered<' in client.get("/me/").content.decode()
    lifecycle.devices_advance(
        device_ids=[order.devices.get().pk], transition="acknowledge", actor=SYSTEM, source="poll"
    )
    body = client.get("/me/").content.decode()
    assert 'badge-neutral">Not started<' in body and ">Ordered<" not in body


def test_your_details_works_when_the_cache_is_down(login, acme, settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",  # nothing listens there
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
    }
    from django.core.cache import caches

    caches._settings = None  # rebuild the cache handler from the new settings
    place_order(acme, name="Offline laptop")
    response = login(acme.employee).get("/me/")
    assert response.status_code == 200
    assert "Offline laptop" in response.content.decode()


def test_your_details_with_budget_requests_and_card_payments_costs_the_same(
    login, acme, django_assert_num_queries, after_commit
):
    from budgets.models import CardPayment
    from tests.helpers import approved_order, budget_for, card, product_for, submit

    acme.company.card_payments_allowed = True
    acme.company.save()
    budget_for(acme, "800.00")
    with after_commit():  # the approval's capture runs after its commit
        approved_order(acme, product_for(acme, price="999.00"), card_=card())
    submit(
        acme, product_for(acme, price="100.00", name="Mouse", category="accessory"), card_=card()
    )
    assert sorted(CardPayment.objects.values_list("status", flat=True)) == [
        "authorized",
        "succeeded",
    ]
    client = login(acme.employee)
    with django_assert_num_queries(ME_QUERIES):  # the refunds come with the payments
        client.get("/me/")
