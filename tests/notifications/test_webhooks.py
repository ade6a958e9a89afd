"""Signed outbound webhooks, tested against a receiver written from docs/webhooks.md alone:
a small HTTP server on 127.0.0.1 that checks each request the way the documentation says.
Events come from real service calls; sending runs after commit (Celery eager in tests)."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from core import crypto
from devices.models import DeviceStatus
from notifications import webhooks
from notifications.models import WebhookDelivery, WebhookEndpoint
from tests.conftest import free_port
from tests.helpers import bring_to, device_in, place_order

pytestmark = pytest.mark.django_db
S = DeviceStatus
Status = WebhookDelivery.Status

# --- The receiver, as docs/webhooks.md tells one to write it --------------------------------------

TOLERANCE = 300  # seconds


def verify(secret: str, headers: dict, body: bytes) -> bool:
    """True when the delivery is Velory's, made with this secret, and fresh."""
    event_id = headers.get("Velory-Event-Id", "")
    timestamp = headers.get("Velory-Timestamp", "")
    given = headers.get("Velory-Signature", "")
    if not (event_id and timestamp.isdigit() and given.startswith("v1=")):
        return False
    if abs(time.time() - int(timestamp)) > TOLERANCE:
        return False
    signed = f"{event_id}.{timestamp}.".encode() + body
    expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return hmac.compare_digest(given[3:], expected)


class Receiver:
    """Answers 2xx to a verified delivery and 400 to anything else; ``mode`` makes it
    misbehave ("500", "slow")."""

    def __init__(self, secret: str = ""):
        self.secret = secret
        self.mode = "ok"
        self.slow_seconds = 2.0
        self.received: list[dict] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = dict(self.headers.items())
                ok = verify(receiver.secret, headers, body)
                receiver.received.append({"headers": headers, "body": body, "verified": ok})
                if receiver.mode == "slow":
                    time.sleep(receiver.slow_seconds)
                status = 500 if receiver.mode == "500" else (204 if ok else 400)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def events(self) -> list[dict]:
        return [json.loads(r["body"]) for r in self.received]

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receivers():
    made = []

    def make(secret=""):
        made.append(Receiver(secret))
        return made[-1]

    yield make
    for r in made:
        r.stop()


def endpoint_for(actor, url, events=("device.shipped",)):
    return webhooks.webhook_endpoint_create(actor=actor, url=url, events=list(events))


def registered(actor, receiver, events=("device.shipped",)):
    endpoint, secret = endpoint_for(actor, receiver.url, events)
    receiver.secret = secret
    return endpoint


def refused_url() -> str:
    return f"http://127.0.0.1:{free_port()}/hooks"  # nothing listens there


def run_due_again(endpoint):
    """Bring the endpoint's pending deliveries' next attempt to now, and sweep."""
    WebhookDelivery.objects.filter(endpoint=endpoint, status=Status.PENDING).update(
        next_attempt_at=timezone.now() - timedelta(seconds=1)
    )
    return webhooks.webhooks_send_due()


# --- A real event, verified by the documented receiver --------------------------------------------


def test_a_shipped_device_reaches_a_receiver_that_verifies_it_as_the_docs_say(
    acme, receivers, after_commit
):
    receiver = receivers()
    endpoint = registered(acme.admin, receiver)
    device = place_order(acme).devices.get()
    with after_commit():
        bring_to(acme, device, S.SHIPPED)
    [request] = receiver.received
    assert request["verified"]
    event = json.loads(request["body"])
    assert event["type"] == "device.shipped"
    assert event["id"] == request["headers"]["Velory-Event-Id"]
    data = event["data"]
    assert data["device"]["id"] == device.pk
    assert (data["device"]["status"], data["device"]["status_label"]) == ("shipped", "Shipped")
    assert data["previous_status"] == "preparing"
    assert data["order"] == {"id": device.order_id, "number": device.order.number}
    assert data["employee"] == {"id": acme.employee.pk, "name": "Erin Employee"}
    assert "delivery_address" not in request["body"].decode()
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    assert (delivery.status, delivery.response_code, delivery.attempts) == (Status.SENT, 204, 1)
    assert delivery.duration_ms is not None and delivery.delivered_at is not None


def test_a_receiver_with_the_wrong_secret_refuses_the_delivery(acme, receivers, after_commit):
    receiver = receivers()
    endpoint = registered(acme.admin, receiver)
    receiver.secret = "whsec_not-the-one-velory-has"
    with after_commit():
        device_in(acme, S.SHIPPED)
    [request] = receiver.received
    assert not request["verified"]
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    assert (delivery.status, delivery.response_code) == (Status.PENDING, 400)


def test_a_stale_timestamp_fails_the_documented_check(acme):
    body = b'{"id":"x"}'
    old = int(time.time()) - TOLERANCE - 1
    headers = {
        "Velory-Event-Id": "x",
        "Velory-Timestamp": str(old),
        "Velory-Signature": webhooks.signature("whsec_k", "x", old, body),
    }
    assert not verify("whsec_k", headers, body)
    now = int(time.time())
    headers.update(
        {
            "Velory-Timestamp": str(now),
            "Velory-Signature": webhooks.signature("whsec_k", "x", now, body),
        }
    )
    assert verify("whsec_k", headers, body)


# --- Failures: retried with backoff, then failed, logged ------------------------------------------


@pytest.mark.parametrize("mode", ["down", "slow", "500"])
def test_a_failing_receiver_is_retried_with_backoff_then_failed_and_logged(
    acme, receivers, after_commit, settings, caplog, mode
):
    settings.WEBHOOK_MAX_ATTEMPTS = 3
    settings.WEBHOOK_READ_TIMEOUT = 0.5
    receiver = receivers()
    receiver.mode, receiver.slow_seconds = mode, 2.0
    url = refused_url() if mode == "down" else receiver.url
    endpoint, receiver.secret = endpoint_for(acme.admin, url)
    with after_commit():
        device_in(acme, S.SHIPPED)
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    expected_error = {"down": "ConnectError", "slow": "ReadTimeout", "500": "HTTP 500"}[mode]
    assert delivery.status == Status.PENDING and delivery.attempts == 1
    assert expected_error in delivery.error
    assert delivery.response_code == (500 if mode == "500" else None)
    wait = delivery.next_attempt_at - timezone.now()
    assert timedelta(seconds=50) < wait <= timedelta(seconds=60)  # 1 minute after the first
    if mode == "slow":
        assert delivery.duration_ms < 1900  # the read timeout, not the receiver's 2 s
    run_due_again(endpoint)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (Status.PENDING, 2)
    wait = delivery.next_attempt_at - timezone.now()
    assert timedelta(seconds=110) < wait <= timedelta(seconds=120)  # then 2 minutes
    with caplog.at_level(logging.WARNING, logger="notifications.webhooks"):
        run_due_again(endpoint)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (Status.FAILED, 3)
    assert any("failed for good" in r.getMessage() for r in caplog.records)
    run_due_again(endpoint)  # failed: never tried again by the sweeper
    delivery.refresh_from_db()
    assert delivery.attempts == 3


def test_the_sweeper_leaves_a_just_written_delivery_to_its_after_commit_task(acme, receivers):
    receiver = receivers()
    registered(acme.admin, receiver)
    device_in(acme, S.SHIPPED)  # committed (as far as the sweeper can tell), task not run
    assert webhooks.webhooks_send_due()["endpoints"] == 0
    WebhookDelivery.objects.update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    webhooks.webhooks_send_due()
    assert [e["type"] for e in receiver.events] == ["device.shipped"]
    assert WebhookDelivery.objects.get().status == Status.SENT


def test_one_endpoint_down_does_not_stop_another_endpoints_delivery(acme, receivers, after_commit):
    receiver = receivers()
    down, _ = endpoint_for(acme.admin, refused_url())
    up = registered(acme.partner_staff, receiver)  # the partner's own endpoint
    with after_commit():
        device_in(acme, S.SHIPPED)
    assert WebhookDelivery.objects.get(endpoint=down).status == Status.PENDING
    assert WebhookDelivery.objects.get(endpoint=up).status == Status.SENT
    assert [e["type"] for e in receiver.events] == ["device.shipped"]


# --- Replay ---------------------------------------------------------------------------------------


def test_replay_sends_the_same_event_id_and_body_again_signed_anew(
    acme, receivers, after_commit, login
):
    receiver = receivers()
    registered(acme.admin, receiver)
    with after_commit():
        device_in(acme, S.SHIPPED)
    delivery = WebhookDelivery.objects.get()
    client = login(acme.admin)
    with after_commit():
        response = client.post(
            "/admin/notifications/webhookdelivery/",
            {"action": "replay", "_selected_action": [delivery.pk]},
        )
    assert response.status_code == 302
    first, again = receiver.received
    assert again["verified"]
    assert again["body"] == first["body"]
    assert again["headers"]["Velory-Event-Id"] == first["headers"]["Velory-Event-Id"]
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (Status.SENT, 1)


def test_a_failed_delivery_is_replayed_with_a_fresh_round_of_attempts(
    acme, receivers, after_commit, settings
):
    settings.WEBHOOK_MAX_ATTEMPTS = 1
    receiver = receivers()
    receiver.mode = "500"
    endpoint = registered(acme.admin, receiver)
    with after_commit():
        device_in(acme, S.SHIPPED)
    assert WebhookDelivery.objects.get().status == Status.FAILED
    receiver.mode = "ok"
    with after_commit():
        assert (
            webhooks.webhook_deliveries_replay(
                actor=acme.admin, delivery_ids=[WebhookDelivery.objects.get().pk]
            )
            == 1
        )
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    assert (delivery.status, delivery.response_code, delivery.error) == (Status.SENT, 204, "")


# --- Emitting: once, at a constant cost -----------------------------------------------------------


def test_an_order_accepted_device_by_device_is_emitted_once(acme, receivers, after_commit):
    receiver = receivers()
    endpoint = registered(acme.admin, receiver, events=("order.accepted",))
    order = place_order(acme, items=2)
    first, second = order.devices.order_by("pk")
    with after_commit():
        bring_to(acme, first, S.NOT_STARTED)
    with after_commit():
        bring_to(acme, second, S.NOT_STARTED)  # the partner acknowledges the second one
    assert [e["type"] for e in receiver.events] == ["order.accepted"]
    assert receiver.events[0]["data"]["order"]["number"] == order.number
    assert WebhookDelivery.objects.filter(endpoint=endpoint).count() == 1


def test_a_retried_use_case_emits_nothing_twice(acme, receivers, after_commit):
    receiver = receivers()
    registered(acme.admin, receiver, events=("order.placed",))
    order = place_order(acme)

    def emit_again():
        return webhooks.emit(
            event="order.placed",
            company_id=acme.company.pk,
            partner_id=acme.partner.pk,
            data={"order": {"id": order.pk}},
            dedup_key=f"order.placed:{order.pk}",
        )

    with after_commit():
        emit_again()
    assert WebhookDelivery.objects.count() == 1
    assert receiver.received == []  # the existing row is not sent again by the repeat


@pytest.mark.parametrize("endpoints", [1, 6])
def test_emitting_costs_two_queries_whatever_the_number_of_endpoints(acme, endpoints):
    for i in range(endpoints):
        endpoint_for(acme.admin, f"https://hooks{i}.example.com/velory")
    with CaptureQueriesContext(connection) as ctx:
        written = webhooks.emit_many(
            webhooks.Event(
                "device.shipped",
                f"device.shipped:{n}",
                {"n": n},
                company_id=acme.company.pk,
                partner_id=acme.partner.pk,
            )
            for n in range(5)
        )
    assert written == 5 * endpoints
    assert len(ctx.captured_queries) == 2  # the endpoints' SELECT, the deliveries' INSERT


def test_an_event_nobody_subscribed_to_costs_one_query_and_writes_nothing(
    acme, django_assert_num_queries
):
    endpoint_for(acme.admin, "https://hooks.example.com/velory", events=("lease.ending",))
    with django_assert_num_queries(1):
        webhooks.emit(
            event="device.shipped",
            company_id=acme.company.pk,
            partner_id=acme.partner.pk,
            data=lambda: pytest.fail("built for nobody"),
            dedup_key="device.shipped:1",
        )
    assert not WebhookDelivery.objects.exists()


def test_a_partner_endpoint_hears_only_of_its_own_devices(acme, globex, receivers, after_commit):
    receiver = receivers()
    registered(globex.partner_staff, receiver)
    with after_commit():
        device_in(acme, S.SHIPPED)
    assert receiver.received == [] and not WebhookDelivery.objects.exists()


def test_an_inactive_endpoint_is_sent_nothing(acme, receivers, after_commit):
    receiver = receivers()
    endpoint = registered(acme.admin, receiver)
    webhooks.webhook_endpoint_update(
        endpoint_id=endpoint.pk,
        actor=acme.admin,
        url=endpoint.url,
        events=endpoint.events,
        is_active=False,
    )
    with after_commit():
        device_in(acme, S.SHIPPED)
    assert receiver.received == [] and not WebhookDelivery.objects.exists()


# --- Endpoints: secrets, URLs, tenants ------------------------------------------------------------


def test_the_secret_is_stored_encrypted_and_rotating_replaces_it(acme):
    endpoint, secret = endpoint_for(acme.admin, "https://hooks.example.com/velory")
    assert secret.startswith("whsec_") and secret not in endpoint.secret_encrypted
    _, rotated = webhooks.webhook_secret_rotate(endpoint_id=endpoint.pk, actor=acme.admin)
    endpoint.refresh_from_db()
    assert rotated != secret and rotated not in endpoint.secret_encrypted
    assert endpoint.secret_rotated_at is not None


@pytest.mark.parametrize(
    "url",
    [
        "http://hooks.example.com/velory",  # plain http on the internet
        "https://10.0.0.7/velory",  # a private network
        "https://169.254.169.254/latest",  # the cloud's metadata service
        "ftp://hooks.example.com/",
        "https://user:pw@hooks.example.com/",
    ],
)
def test_an_endpoint_url_must_be_https_on_the_internet(acme, url):
    with pytest.raises(ValidationError):
        endpoint_for(acme.admin, url)


def test_plain_http_is_allowed_on_this_machine_only_outside_production(acme, settings):
    endpoint_for(acme.admin, "http://127.0.0.1:8000/hooks")
    endpoint_for(acme.admin, "http://localhost:8000/hooks")
    settings.WEBHOOKS_ALLOW_LOCAL_HTTP = False
    with pytest.raises(ValidationError):
        endpoint_for(acme.admin, "http://127.0.0.1:8000/hooks")


def test_employees_register_no_endpoints(acme):
    with pytest.raises(ValidationError):
        endpoint_for(acme.employee, "https://hooks.example.com/velory")


def test_the_admin_shows_a_new_secret_once(acme, login):
    client = login(acme.admin)
    response = client.post(
        "/admin/notifications/webhookendpoint/add/",
        {"url": "https://hooks.example.com/velory", "events": ["device.shipped", "order.placed"]},
    )
    assert response.status_code == 200
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.company_id == acme.company.pk and endpoint.partner_id is None
    assert endpoint.events == ["order.placed", "device.shipped"]
    raw = response.context["raw"]
    assert raw in response.content.decode()
    page = client.get(f"/admin/notifications/webhookendpoint/{endpoint.pk}/change/")
    assert raw not in page.content.decode()
    rotated = client.post(f"/admin/notifications/webhookendpoint/{endpoint.pk}/act/rotate/")
    assert rotated.status_code == 200 and rotated.context["raw"] != raw


def test_a_company_admin_never_sees_another_companys_endpoints_or_deliveries(acme, globex, login):
    theirs, _ = endpoint_for(globex.admin, "https://globex-hooks.example.com/velory")
    webhooks.emit(
        event="device.shipped",
        company_id=globex.company.pk,
        partner_id=None,
        data={},
        dedup_key="x",
    )
    delivery = WebhookDelivery.objects.get()
    client = login(acme.admin)
    base = "/admin/notifications/"
    for url in (
        f"{base}webhookendpoint/{theirs.pk}/change/",
        f"{base}webhookendpoint/{theirs.pk}/act/rotate/",
        f"{base}webhookdelivery/{delivery.pk}/change/",
        f"{base}webhookdelivery/{delivery.pk}/act/replay/",
    ):
        assert client.get(url).status_code == 404, url
    assert client.post(f"{base}webhookendpoint/{theirs.pk}/act/rotate/").status_code == 404
    for listing in ("webhookendpoint", "webhookdelivery"):
        page = client.get(f"{base}{listing}/")
        assert page.status_code == 200 and "globex-hooks" not in page.content.decode()
    assert webhooks.webhook_deliveries_replay(actor=acme.admin, delivery_ids=[delivery.pk]) == 0
    with pytest.raises(WebhookEndpoint.DoesNotExist):
        webhooks.webhook_secret_rotate(endpoint_id=theirs.pk, actor=acme.admin)


def test_partner_staff_see_their_partners_endpoints_not_the_companys(acme, login):
    company_endpoint, _ = endpoint_for(acme.admin, "https://company-hooks.example.com/v")
    partner_endpoint, _ = endpoint_for(acme.partner_staff, "https://partner-hooks.example.com/v")
    client = login(acme.partner_staff)
    page = client.get("/admin/notifications/webhookendpoint/").content.decode()
    assert "partner-hooks" in page and "company-hooks" not in page
    url = f"/admin/notifications/webhookendpoint/{company_endpoint.pk}/change/"
    assert client.get(url).status_code == 404
    assert partner_endpoint.partner_id == acme.partner.pk


# --- Where the events come from -----------------------------------------------------------------


def payloads(event_type) -> list[dict]:
    return [d.payload for d in WebhookDelivery.objects.filter(event_type=event_type).order_by("pk")]


ALL_EVENTS = tuple(webhooks.EVENT_TYPES)


def test_approving_a_request_emits_request_approved_and_order_placed(acme):
    from orders import services as orders_
    from tests.helpers import budget_for, product_for, submit

    endpoint_for(acme.admin, "https://hooks.example.com/v", ALL_EVENTS)
    endpoint_for(acme.partner_staff, "https://partner.example.com/v", ALL_EVENTS)
    budget_for(acme, "5000.00")
    request = submit(acme, product_for(acme, price="1200.00"))
    request = orders_.request_approve(request_id=request.pk, actor=acme.admin)
    [approved] = payloads("request.approved")  # the company's only: partners see orders
    assert approved["request"]["number"] == request.number
    assert approved["request"]["status_label"] == "Approved"
    assert approved["order"]["number"] == request.order.number
    placed = payloads("order.placed")
    assert len(placed) == 2  # the company's endpoint and the partner's
    assert placed[0]["order"]["number"] == request.order.number
    assert placed[0]["items"][0]["unit_price"] == "1200.00"


def test_rejecting_a_request_emits_request_rejected_without_the_reason(acme):
    from orders import services as orders_
    from tests.helpers import budget_for, product_for, submit

    endpoint_for(acme.admin, "https://hooks.example.com/v", ALL_EVENTS)
    budget_for(acme, "5000.00")
    request = submit(acme, product_for(acme, price="100.00"))
    orders_.request_reject(request_id=request.pk, actor=acme.admin, reason="Private matter")
    [rejected] = payloads("request.rejected")
    assert rejected["request"]["status"] == "rejected"
    assert "Private matter" not in json.dumps(rejected)


def test_a_lease_end_notice_emits_lease_ending_once(acme):
    from leasing import services as leasing
    from leasing.models import Lease

    endpoint_for(acme.admin, "https://hooks.example.com/v", ["lease.ending"])
    device = device_in(acme, S.ACTIVE, leased=True)
    lease = Lease.objects.get(device=device)
    lease.starts_on = timezone.localdate() - timedelta(days=1000)
    lease.ends_on = timezone.localdate() + timedelta(days=20)
    lease.save()
    leasing.leases_daily()
    leasing.leases_daily()  # the same day again: nothing twice
    [ending] = payloads("lease.ending")
    assert ending["lease"]["id"] == lease.pk and ending["lease"]["notice_days"] == 30
    assert ending["device"]["id"] == device.pk
    assert ending["employee"] == {"id": acme.employee.pk, "name": "Erin Employee"}


def test_a_leavers_case_emits_opened_then_closed(acme):
    from people.models import OffboardingCase
    from people.services import offboarding
    from people.services import provisioning as people

    endpoint_for(acme.admin, "https://hooks.example.com/v", ALL_EVENTS)
    people.person_set_exit_date(
        user_id=acme.colleague.pk, exit_date=timezone.localdate(), actor=acme.admin
    )
    case = OffboardingCase.objects.get(employee=acme.colleague)
    [opened] = payloads("offboarding.opened")
    assert opened["case"]["id"] == case.pk and opened["case"]["status"] == "open"
    assert opened["employee"] == {"id": acme.colleague.pk, "name": "Cole League"}
    offboarding.offboarding_daily()  # nothing to give back, exit date come: closed
    [closed] = payloads("offboarding.closed")
    assert closed["case"]["status"] == "closed" and closed["case"]["closed_at"]


# --- A receiver that trickles, a name that points inside ------------------------------------------


class Trickler:
    """Sends its status line and then one header byte every ``every`` seconds, forever:
    each read comes within the read timeout, so only a deadline on the whole request
    stops it."""

    def __init__(self, every=0.2):
        import socket as sockets

        self.every = every
        self.server = sockets.socket()
        self.server.bind(("127.0.0.1", 0))
        self.server.listen()
        self.url = f"http://127.0.0.1:{self.server.getsockname()[1]}/hooks"
        self.stopped = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while not self.stopped.is_set():
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            try:
                conn.recv(65536)
                conn.sendall(b"HTTP/1.1 200 OK\r\nX-Slow: ")
                while not self.stopped.is_set():
                    conn.sendall(b"a")
                    time.sleep(self.every)
            except OSError:
                pass
            finally:
                conn.close()

    def stop(self):
        self.stopped.set()
        self.server.close()


def test_a_trickling_receiver_is_cut_off_at_the_deadline(acme, settings):
    settings.WEBHOOK_DEADLINE = 1.5
    settings.WEBHOOK_READ_TIMEOUT = 1.0  # every trickled byte comes well within it
    trickler = Trickler()
    try:
        endpoint, _secret = endpoint_for(acme.admin, trickler.url)
        device_in(acme, S.SHIPPED)  # emitted; sent below, in this (the main) thread
        started = time.monotonic()
        run_due_again(endpoint)
        took = time.monotonic() - started
    finally:
        trickler.stop()
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    assert took < 3, took  # the deadline, not the receiver, ended it
    assert delivery.status == Status.PENDING and "within 1.5 s" in delivery.error


def test_a_name_that_resolves_inside_is_not_sent_to(acme, settings, monkeypatch):
    """DNS rebinding: the name was on the internet when registered, and points at a private
    address when Velory connects: refused at the connection, nothing sent."""
    import socket as sockets

    endpoint = WebhookEndpoint.objects.create(
        company=acme.company,
        url="https://hooks.acme-receiver.example/velory",
        events=["device.shipped"],
        secret_encrypted=crypto.encrypt("whsec_test"),
    )
    real = sockets.getaddrinfo
    asked = []

    def resolve(host, port, *args, **kwargs):
        if host == "hooks.acme-receiver.example":
            asked.append(host)
            return [(sockets.AF_INET, sockets.SOCK_STREAM, 6, "", ("10.0.0.7", port))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(sockets, "getaddrinfo", resolve)
    device_in(acme, S.SHIPPED)
    run_due_again(endpoint)
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    assert asked  # resolved when connecting
    assert delivery.status == Status.PENDING and delivery.response_code is None
    assert "resolves to 10.0.0.7" in delivery.error
