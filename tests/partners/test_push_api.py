"""The partner push API (/api/partner/v1/): a partner's key is the one credential, its
scope is its own orders of the companies it serves, every write is idempotent on its key,
refusals are answered per item and change nothing, and a key is rate limited."""

from datetime import timedelta
from decimal import Decimal

import httpx
import pytest
from django.db.models import Sum
from django.utils import timezone
from rest_framework.test import APIClient

from budgets.models import BudgetEntry, CardPayment, Refund
from devices.models import DeviceEvent, DeviceStatus
from notifications.models import Notification
from orders.models import Shipment
from partners.models import PartnerApiKey, PushRequest
from partners.services import keys
from tests.helpers import (
    approved_order,
    budget_for,
    card,
    device_in,
    place_order,
    product_for,
)

pytestmark = pytest.mark.django_db
S = DeviceStatus
BASE = "/api/partner/v1"


def key_for(tenant, name="ERP"):
    _key, raw = keys.api_key_create(name=name, actor=tenant.partner_staff)
    return raw


@pytest.fixture
def api(acme):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key_for(acme)}")
    return client


_keys = iter(range(1, 10**6))


def post(client, path, body=None, *, key=None):
    return client.post(
        f"{BASE}{path}",
        body if body is not None else {},
        format="json",
        headers={"Idempotency-Key": key or f"test-{next(_keys)}"},
    )


def statuses(order):
    return list(order.devices.order_by("pk").values_list("status", flat=True))


# --- Keys and scope ------------------------------------------------------------------------------


def test_every_endpoint_without_a_key_is_401(acme):
    order = place_order(acme)
    client = APIClient()
    for method, path in [
        ("get", "/orders/"),
        ("get", f"/orders/{order.number}/"),
        ("post", f"/orders/{order.number}/accept/"),
        ("post", f"/orders/{order.number}/reject/"),
        ("post", "/updates/"),
        ("post", "/returns/"),
    ]:
        response = getattr(client, method)(f"{BASE}{path}", {}, format="json")
        assert response.status_code == 401, path
        assert response.json()["error"]["code"] == "not_authenticated"
        assert response["WWW-Authenticate"].startswith("Bearer")
    assert statuses(order) == [S.ORDERED]


def test_a_wrong_or_revoked_key_is_401(acme):
    key, raw = keys.api_key_create(name="ERP", actor=acme.partner_staff)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert client.get(f"{BASE}/orders/").status_code == 200
    keys.api_key_revoke(key_id=key.pk, actor=acme.partner_staff)
    response = client.get(f"{BASE}/orders/")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "authentication_failed"
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}x")
    assert client.get(f"{BASE}/orders/").status_code == 401


def test_a_key_is_stored_as_its_hash_and_records_its_use(acme):
    key, raw = keys.api_key_create(name="ERP", actor=acme.partner_staff)
    assert raw not in key.key_hash and raw.startswith(key.prefix) and key.last_used_at is None
    assert keys.api_key_authenticate(raw).partner_id == acme.partner.pk
    key.refresh_from_db()
    assert key.last_used_at is not None
    used = key.last_used_at
    keys.api_key_authenticate(raw)  # within a few minutes: not written again
    key.refresh_from_db()
    assert key.last_used_at == used


def test_another_partners_order_is_not_found(acme, globex, api):
    theirs = place_order(globex)
    assert api.get(f"{BASE}/orders/{theirs.number}/").status_code == 404
    assert post(api, f"/orders/{theirs.number}/accept/").status_code == 404
    response = post(api, f"/orders/{theirs.number}/reject/", {"reason": "No"})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert statuses(theirs) == [S.ORDERED]
    listed = api.get(f"{BASE}/orders/").json()["results"]
    assert theirs.number not in {o["order_id"] for o in listed}
    # and its items are "not found" in a batch: nothing changes
    [device] = theirs.devices.all()
    response = post(api, "/updates/", {"items": [{"item_id": device.pk, "status": "preparing"}]})
    assert response.status_code == 409
    assert response.json()["items"][0]["result"] == "not_found"
    assert statuses(theirs) == [S.ORDERED]


# --- Reading -------------------------------------------------------------------------------------


def test_the_list_shows_the_orders_waiting_with_their_items(acme, api):
    order = place_order(acme, items=2)
    done = device_in(acme, S.ACTIVE)  # nothing waiting on the partner
    response = api.get(f"{BASE}/orders/")
    assert response.status_code == 200
    [listed] = response.json()["results"]
    assert listed["order_id"] == order.number
    assert listed["company"] == {"id": acme.company.pk, "name": acme.company.name}
    assert [i["status"] for i in listed["items"]] == ["ordered", "ordered"]
    assert set(listed["items"][0]) == {"item_id", "name", "status", "serial_number"}
    assert done.order.number not in response.content.decode()
    assert api.get(f"{BASE}/orders/", {"status": "active"}).json()["results"][0]["order_id"] == (
        done.order.number
    )
    later = (timezone.now() + timedelta(hours=1)).isoformat()
    assert api.get(f"{BASE}/orders/", {"changed_since": later}).json()["results"] == []
    assert api.get(f"{BASE}/orders/", {"company": 987654}).json()["results"] == []


def test_the_list_pages_by_cursor(acme, api):
    orders = [place_order(acme) for _ in range(3)]
    first = api.get(f"{BASE}/orders/", {"page_size": 2}).json()
    assert [o["order_id"] for o in first["results"]] == [o.number for o in orders[:2]]
    second = api.get(first["next"]).json()
    assert [o["order_id"] for o in second["results"]] == [orders[2].number]


def test_the_list_costs_the_same_queries_for_one_order_or_many(
    acme, api, django_assert_num_queries
):
    place_order(acme, items=2)
    api.get(f"{BASE}/orders/")  # the key's "last used" is written once, here
    # the key (with its partner), a page of orders (with company and employee), their items
    with django_assert_num_queries(3):
        assert len(api.get(f"{BASE}/orders/").json()["results"]) == 1
    for _ in range(4):
        place_order(acme, items=3)
    with django_assert_num_queries(3):
        assert len(api.get(f"{BASE}/orders/").json()["results"]) == 5


# --- Accepting and rejecting ---------------------------------------------------------------------


def test_accepting_acknowledges_the_ordered_items(acme, api):
    order = place_order(acme, items=2)
    response = post(api, f"/orders/{order.number}/accept/")
    assert response.status_code == 200
    assert [i["result"] for i in response.json()["items"]] == ["changed", "changed"]
    assert statuses(order) == [S.NOT_STARTED] * 2
    event = DeviceEvent.objects.filter(device__order=order, to_status=S.NOT_STARTED).first()
    assert event.source == "api" and "API key vpk_" in event.actor_name
    again = post(api, f"/orders/{order.number}/accept/")
    assert [i["result"] for i in again.json()["items"]] == ["unchanged", "unchanged"]


def test_rejecting_cancels_the_order_and_gives_the_money_back(acme, api, after_commit):
    acme.company.card_payments_allowed = True
    acme.company.save()
    budget_for(acme, "800.00")
    with after_commit():
        order = approved_order(acme, product_for(acme, price="999.00"), card_=card())
    assert CardPayment.objects.get().status == "succeeded"
    with after_commit():
        response = post(api, f"/orders/{order.number}/reject/", {"reason": "Out of stock"})
    assert response.status_code == 200, response.json()
    assert response.json()["items"][0]["result"] == "changed"
    assert statuses(order) == [S.CANCELLED]
    released = BudgetEntry.objects.filter(kind=BudgetEntry.Kind.RELEASE).aggregate(s=Sum("amount"))[
        "s"
    ]
    assert abs(released) == Decimal("800.00")
    assert Refund.objects.get().amount == Decimal("199.00")
    assert Notification.objects.filter(kind="order_cancelled").count() == 1


def test_rejecting_needs_a_reason(acme, api):
    order = place_order(acme)
    response = post(api, f"/orders/{order.number}/reject/", {"reason": "  "})
    assert response.status_code == 400
    assert "reason" in response.json()["error"]["fields"]
    assert statuses(order) == [S.ORDERED]


def test_rejecting_a_shipped_order_is_refused_by_name(acme, api):
    device = device_in(acme, S.SHIPPED)
    response = post(api, f"/orders/{device.order.number}/reject/", {"reason": "Too late"})
    assert response.status_code == 409
    [item] = response.json()["items"]
    assert item["result"] == "refused" and device.name in item["message"]
    device.refresh_from_db()
    assert device.status == S.SHIPPED


# --- Idempotency ---------------------------------------------------------------------------------


def test_a_retry_with_the_same_key_replays_the_answer_and_changes_nothing(acme, api):
    order = place_order(acme)
    [device] = order.devices.all()
    body = {"items": [{"item_id": device.pk, "status": "preparing"}]}
    first = post(api, "/updates/", body, key="k-1")
    assert first.status_code == 200 and first.json()["items"][0]["result"] == "changed"
    events = DeviceEvent.objects.count()
    again = post(api, "/updates/", body, key="k-1")
    assert again.status_code == 200 and again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert DeviceEvent.objects.count() == events
    assert PushRequest.objects.filter(partner=acme.partner, key="k-1").count() == 1


def test_the_same_key_with_another_body_is_422(acme, api):
    order = place_order(acme)
    [device] = order.devices.all()
    post(api, "/updates/", {"items": [{"item_id": device.pk, "status": "preparing"}]}, key="k")
    response = post(
        api, "/updates/", {"items": [{"item_id": device.pk, "status": "on_hold"}]}, key="k"
    )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "idempotency_key_reused"
    device.refresh_from_db()
    assert device.status == S.PREPARING


def test_a_write_without_an_idempotency_key_is_400(acme, api):
    order = place_order(acme)
    response = api.post(f"{BASE}/orders/{order.number}/accept/", {}, format="json")
    assert response.status_code == 400
    assert "Idempotency-Key" in response.json()["error"]["fields"]
    assert statuses(order) == [S.ORDERED]


def test_keys_are_per_partner(acme, globex, api):
    ours, theirs = place_order(acme), place_order(globex)
    other = APIClient()
    other.credentials(HTTP_AUTHORIZATION=f"Bearer {key_for(globex)}")
    assert post(api, f"/orders/{ours.number}/accept/", key="same").status_code == 200
    assert post(other, f"/orders/{theirs.number}/accept/", key="same").status_code == 200
    assert statuses(theirs) == [S.NOT_STARTED]


# --- Statuses, shipments, serial numbers ---------------------------------------------------------


def test_a_batch_applies_what_it_can_and_refuses_the_rest_by_item(acme, api):
    order = place_order(acme)
    [fresh] = order.devices.all()
    shipped = device_in(acme, S.SHIPPED)
    response = post(
        api,
        "/updates/",
        {
            "items": [
                {"item_id": fresh.pk, "status": "preparing", "serial_number": "SN-1"},
                {"item_id": shipped.pk, "status": "preparing", "serial_number": "SN-2"},
            ]
        },
    )
    assert response.status_code == 200
    ok, refused = response.json()["items"]
    assert (ok["result"], ok["status"]) == ("changed", "preparing")
    assert refused["result"] == "refused" and "Shipped" in refused["message"]
    fresh.refresh_from_db()
    shipped.refresh_from_db()
    assert (fresh.status, fresh.serial_number) == (S.PREPARING, "SN-1")
    assert (shipped.status, shipped.serial_number) == (S.SHIPPED, "")  # nothing of it applied


def test_a_batch_whose_every_item_is_refused_is_409_and_changes_nothing(acme, api):
    shipped = device_in(acme, S.SHIPPED)
    order = place_order(acme)
    response = post(
        api,
        "/updates/",
        {
            "items": [{"item_id": shipped.pk, "status": "not_started"}],
            "shipments": [{"order_id": order.number, "carrier": "DHL", "tracking_number": "X1"}],
        },
    )
    assert response.status_code == 409
    assert response.json()["items"][0]["result"] == "refused"
    assert not Shipment.objects.filter(order=order).exists()


def test_a_tracking_partner_ships_only_with_a_tracking_number(acme, api, after_commit):
    order = place_order(acme, items=2)
    items = [{"item_id": d.pk, "status": "shipped"} for d in order.devices.order_by("pk")]
    refused = post(api, "/updates/", {"items": items})
    assert refused.status_code == 409
    assert "tracking number" in refused.json()["items"][0]["message"]
    assert statuses(order) == [S.ORDERED] * 2
    with after_commit():
        response = post(
            api,
            "/updates/",
            {
                "items": items,
                "shipments": [
                    {
                        "order_id": order.number,
                        "carrier": "PostNord",
                        "tracking_number": "PN123SE",
                        "tracking_url": "https://tracking.example/PN123SE",
                        "events": [{"at": timezone.now().isoformat(), "description": "Picked up"}],
                    }
                ],
            },
        )
    assert response.status_code == 200
    assert response.json()["shipments"] == [{"order_id": order.number, "result": "recorded"}]
    assert statuses(order) == [S.SHIPPED] * 2
    shipment = Shipment.objects.get(order=order)
    assert shipment.tracking_number == "PN123SE" and shipment.events.count() == 1
    assert set(order.devices.values_list("shipment_id", flat=True)) == {shipment.pk}
    history = list(
        DeviceEvent.objects.filter(device=order.devices.first())
        .order_by("at", "id")
        .values_list("to_status", "source")
    )
    assert history[1:] == [(S.NOT_STARTED, "api"), (S.PREPARING, "api"), (S.SHIPPED, "api")]
    assert Notification.objects.filter(kind="order_shipped").count() == 1


def test_delivered_is_received_at_once_where_the_company_says_so(globex):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key_for(globex)}")
    device = device_in(globex, S.SHIPPED)  # Globex: auto-receive on delivery
    response = post(client, "/updates/", {"items": [{"item_id": device.pk, "status": "delivered"}]})
    assert response.status_code == 200
    assert response.json()["items"][0]["status"] == S.RECEIVED


def test_cancelled_items_give_their_money_back(acme, api):
    budget_for(acme, "2000.00")
    order = approved_order(acme, product_for(acme, price="999.00"))
    [device] = order.devices.all()
    response = post(api, "/updates/", {"items": [{"item_id": device.pk, "status": "cancelled"}]})
    assert response.status_code == 200
    assert statuses(order) == [S.CANCELLED]
    assert BudgetEntry.objects.filter(kind=BudgetEntry.Kind.RELEASE).exists()


def test_an_unknown_status_is_400_for_the_whole_batch(acme, api):
    order = place_order(acme)
    [device] = order.devices.all()
    response = post(api, "/updates/", {"items": [{"item_id": device.pk, "status": "processing"}]})
    assert response.status_code == 400
    assert statuses(order) == [S.ORDERED]


def test_an_oversized_batch_is_413(acme, api):
    items = [{"item_id": i, "status": "preparing"} for i in range(1, 502)]
    response = post(api, "/updates/", {"items": items})
    assert response.status_code == 413
    assert "at most 500" in response.json()["error"]["message"]
    assert post(api, "/returns/", {"items": list(range(1, 502))}).status_code == 413


# --- Returns -------------------------------------------------------------------------------------


def test_confirming_a_return_trades_the_device_in(acme, api):
    device = device_in(acme, S.PROCESSING_TRADE_IN)
    response = post(api, "/returns/", {"items": [device.pk, 987654]})
    assert response.status_code == 200
    results = {i["item_id"]: i["result"] for i in response.json()["items"]}
    assert results == {device.pk: "changed", 987654: "not_found"}
    device.refresh_from_db()
    assert device.status == S.TRADED_IN


def test_confirming_a_device_not_being_returned_is_409(acme, api):
    device = device_in(acme, S.ACTIVE)
    response = post(api, "/returns/", {"items": [device.pk]})
    assert response.status_code == 409
    device.refresh_from_db()
    assert device.status == S.ACTIVE


# --- Rate limit ----------------------------------------------------------------------------------


def test_a_key_over_its_rate_gets_429_with_retry_after(acme, api, settings):
    settings.PARTNER_API_RATE = "3/m"
    for _ in range(3):
        assert api.get(f"{BASE}/orders/").status_code == 200
    response = api.get(f"{BASE}/orders/")
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "rate_limited"
    assert 0 < int(response["Retry-After"]) <= 60
    other = APIClient()  # another key of the same partner has its own window
    other.credentials(HTTP_AUTHORIZATION=f"Bearer {key_for(acme, 'Other')}")
    assert other.get(f"{BASE}/orders/").status_code == 200


# --- The admin -----------------------------------------------------------------------------------


def test_partner_staff_make_a_key_in_the_admin_and_see_it_once(acme, login):
    client = login(acme.partner_staff)
    response = client.post("/admin/partners/partnerapikey/add/", {"name": "Our ERP"})
    assert response.status_code == 200
    key = PartnerApiKey.objects.get(partner=acme.partner)
    raw = response.context["raw"]
    assert raw.startswith(key.prefix) and raw in response.content.decode()
    listing = client.get("/admin/partners/partnerapikey/").content.decode()
    assert "Our ERP" in listing and raw not in listing
    page = client.get(f"/admin/partners/partnerapikey/{key.pk}/change/").content.decode()
    assert raw not in page and key.key_hash not in page


def test_company_admins_cannot_make_partner_keys(acme, login):
    client = login(acme.admin)
    response = client.post("/admin/partners/partnerapikey/add/", {"name": "X"})
    assert response.status_code in (403, 404, 302)
    assert not PartnerApiKey.objects.exists()


# --- Over real HTTP ------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_partner_pushes_over_http(live_server, acme):
    raw = key_for(acme)
    order = place_order(acme)
    headers = {"Authorization": f"Bearer {raw}"}
    with httpx.Client(base_url=f"{live_server.url}{BASE}", headers=headers, timeout=10) as http:
        assert http.get("/orders/", headers={"Authorization": ""}).status_code == 401
        listed = http.get("/orders/")
        assert listed.status_code == 200
        assert listed.headers["Cache-Control"] == "no-store"
        assert [o["order_id"] for o in listed.json()["results"]] == [order.number]
        accepted = http.post(
            f"/orders/{order.number}/accept/", headers={"Idempotency-Key": "http-1"}
        )
        assert accepted.status_code == 200, accepted.text
        again = http.post(f"/orders/{order.number}/accept/", headers={"Idempotency-Key": "http-1"})
        assert again.headers["Idempotent-Replayed"] == "true"
        schema = http.get("/schema/", headers={"Authorization": ""})
        assert schema.status_code == 200 and "openapi: 3" in schema.text
        docs = http.get("/docs/", headers={"Authorization": ""})
        assert docs.status_code == 200 and "/api/partner/v1/updates/" in docs.text
        assert "script-src 'self'" in docs.headers["Content-Security-Policy"]
    assert statuses(order) == [S.NOT_STARTED]


def test_stored_answers_are_forgotten_after_a_week_in_batches(acme, api, monkeypatch):
    from partners.services import pushing

    order = place_order(acme)
    assert post(api, f"/orders/{order.number}/accept/", key="old").status_code == 200
    assert post(api, f"/orders/{order.number}/accept/", key="new").status_code == 200
    PushRequest.objects.filter(key="old").update(
        created_at=timezone.now() - timedelta(days=pushing.IDEMPOTENCY_DAYS, minutes=1)
    )
    monkeypatch.setattr(pushing, "PURGE_BATCH", 1)
    assert pushing.push_requests_purge() == 1
    assert list(PushRequest.objects.values_list("key", flat=True)) == ["new"]
    assert pushing.push_requests_purge() == 0
    from partners import tasks

    assert tasks.purge_push_requests() == 0  # the daily task, as beat runs it
    again = post(api, f"/orders/{order.number}/accept/", key="old")  # forgotten: runs anew
    assert again.status_code == 200 and "Idempotent-Replayed" not in again.headers
