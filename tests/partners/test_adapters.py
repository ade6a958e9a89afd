"""The HTTP adapter against the bundled fake distributor over real HTTP on 127.0.0.1:
every call of the API, and every way the fake can misbehave."""

import time

import pytest

from devices.models import DeviceStatus
from partners.adapters import AdapterError, adapter_for
from partners.adapters import http as http_adapter
from partners.adapters.email import EmailDistributor
from partners.adapters.http import HttpDistributor
from partners.fake import FakeConfig, FakeDistributor
from tests.conftest import connect
from tests.helpers import place_order

pytestmark = pytest.mark.django_db
S = DeviceStatus


@pytest.fixture
def order(acme, fake_distributor):
    connect(acme.partner, fake_distributor)
    return place_order(acme, items=2)


def adapter(acme):
    return adapter_for(acme.partner)


def test_partner_with_a_connection_uses_http_and_others_email(acme, globex, fake_distributor):
    connect(acme.partner, fake_distributor)
    assert isinstance(adapter_for(acme.partner), HttpDistributor)
    assert isinstance(adapter_for(globex.partner), EmailDistributor)
    assert adapter_for(acme.partner).tracks and not adapter_for(globex.partner).tracks


def test_place_is_idempotent_on_velorys_order_id(acme, order, fake_distributor):
    first = adapter(acme).place_order(order)
    again = adapter(acme).place_order(order)
    assert first.created and not again.created
    assert first.partner_ref == again.partner_ref and first.partner_ref.startswith("FD-")
    [stored] = fake_distributor.orders_for("test-key")
    assert stored["order_id"] == order.number
    assert sorted(i["item_id"] for i in stored["items"]) == sorted(
        order.devices.values_list("pk", flat=True)
    )


def test_fetch_follows_the_partner_through_every_status(acme, order, fake_distributor, clock):
    adapter(acme).place_order(order)
    expected = [
        ("received", S.NOT_STARTED),
        ("processing", S.PREPARING),
        ("shipped", S.SHIPPED),
        ("delivered", S.DELIVERED),
    ]
    for version, (raw, ours) in enumerate(expected, start=1):
        [update] = adapter(acme).fetch_updates([order.pk]).updates
        assert (update.raw_status, update.status, update.version) == (raw, ours, version)
        clock.advance(10)
    assert update.shipments[0].carrier == "PostNord"
    assert update.shipments[0].tracking_number.startswith("FD")
    assert update.shipments[0].events


def test_orders_the_partner_never_heard_of_are_listed(acme, order):
    result = adapter(acme).fetch_updates([order.pk])
    assert result.updates == [] and result.unknown == [order.pk]


@pytest.mark.parametrize(
    ("switch", "message"),
    [
        ({"error_rate": 1.0}, "failed on its side"),
        ({"malformed_rate": 1.0}, "could not be read"),
        ({"throttle_rate": 1.0}, "slow down"),
    ],
)
def test_misbehaving_partner_raises_a_retryable_error(acme, order, switch, message, clock):
    fake = FakeDistributor(FakeConfig(step_seconds=10, clock=clock, seed=1, **switch)).start()
    try:
        connect(acme.partner, fake)
        with pytest.raises(AdapterError, match=message) as caught:
            adapter(acme).fetch_updates([order.pk])
        assert caught.value.retryable
    finally:
        fake.stop()


def test_a_partner_that_hangs_times_out(acme, order, clock):
    fake = FakeDistributor(
        FakeConfig(step_seconds=10, clock=clock, hang_rate=1.0, hang_seconds=2)
    ).start()
    try:
        connect(acme.partner, fake, timeout=0.3)
        started = time.monotonic()
        with pytest.raises(AdapterError, match=r"did not answer within 0\.3 s"):
            adapter(acme).fetch_updates([order.pk])
        assert time.monotonic() - started < 1.5
    finally:
        fake.stop()


def test_rate_limit_is_honoured_with_retry_after(acme, order, clock):
    fake = FakeDistributor(FakeConfig(step_seconds=10, clock=clock, throttle_rate=1.0)).start()
    try:
        connect(acme.partner, fake)
        with pytest.raises(AdapterError) as caught:
            adapter(acme).fetch_updates([order.pk])
        assert caught.value.retry_after == 1.0
        # every worker now waits before calling this partner again
        started = time.monotonic()
        adapter(acme).limiter.acquire()
        assert time.monotonic() - started >= 0.5
    finally:
        fake.stop()


def test_our_own_limiter_keeps_under_the_partners_rate(acme, order, clock):
    fake = FakeDistributor(FakeConfig(step_seconds=10, clock=clock, rate_limit=5)).start()
    try:
        # One under the partner's limit: a call counted at the end of one of our seconds can
        # reach the partner in its next one (as with any real partner's clock).
        connect(acme.partner, fake, rate=4)
        started = time.monotonic()
        for _ in range(11):
            adapter(acme).fetch_updates([order.pk])
        assert time.monotonic() - started >= 1.0  # 11 calls at 4 a second cross two seconds
        assert fake.stats()["responses"].get("429", 0) == 0
    finally:
        fake.stop()


def test_unknown_status_and_strangers_are_rejected_per_order(acme, order, clock):
    fake = FakeDistributor(
        FakeConfig(step_seconds=10, clock=clock, unknown_status_rate=1.0, stranger_rate=1.0)
    ).start()
    try:
        connect(acme.partner, fake)
        adapter(acme).place_order(order)
        result = adapter(acme).fetch_updates([order.pk])
        reasons = dict(result.rejected)
        assert result.updates == []
        assert "unknown status 'teleported'" in reasons[order.number]
        assert "did not ask" in reasons["VO-999999"]
    finally:
        fake.stop()


def test_an_oversized_answer_is_dropped_unread(acme, order, fake_distributor, monkeypatch):
    adapter(acme).place_order(order)
    monkeypatch.setattr(http_adapter, "MAX_BODY_BYTES", 50)
    with pytest.raises(AdapterError, match="larger than the API allows"):
        adapter(acme).fetch_updates([order.pk])


def test_a_partner_that_is_down_is_a_retryable_error(acme, order):
    fake = FakeDistributor(FakeConfig(step_seconds=10))
    url = fake.url
    fake.stop()  # nothing listens there any more
    connection = connect(acme.partner, fake_url(url))
    assert connection.base_url == url
    with pytest.raises(AdapterError, match="Could not reach") as caught:
        adapter(acme).fetch_updates([order.pk])
    assert caught.value.retryable


class fake_url:
    def __init__(self, url):
        self.url = url


def test_the_api_key_is_stored_encrypted_and_never_in_errors(acme, fake_distributor, order):
    connection = connect(acme.partner, fake_distributor, key="super-secret-key-123")
    connection.refresh_from_db()
    assert "super-secret" not in connection.api_key_encrypted
    assert connection.decrypted_api_key() == "super-secret-key-123"
    fake_distributor.stop()
    with pytest.raises(AdapterError) as caught:
        adapter(acme).fetch_updates([order.pk])
    assert "super-secret" not in str(caught.value)
