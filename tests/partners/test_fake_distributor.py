"""The fake distributor over real HTTP on 127.0.0.1: the API it serves (docs/distributor-api.md),
its order progression on a hand-driven clock, every misbehaviour switch, its stats and its
state file. No database."""

from __future__ import annotations

import io
import json
import re
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import httpx
import pytest
from django.core.management import call_command

from partners.fake import FakeConfig, FakeDistributor

T0 = 1_795_000_000.0  # 2026-11-18, a whole second
STEP = 60.0


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).isoformat(timespec="seconds")


def order(order_id: str, *item_ids: int) -> dict:
    return {
        "order_id": order_id,
        "company": {"name": "Acme AB"},
        "ship_to": {"name": "Anna Andersson", "address": "Storgatan 1\n111 22 Stockholm"},
        "note": "Reception is open 8-17.",
        "items": [{"item_id": item_id, "name": "MacBook Pro 14"} for item_id in item_ids or (1,)],
    }


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def serve(clock: FakeClock) -> Iterator[Callable[..., FakeDistributor]]:
    """Start fakes on free ports (the test's clock and a fixed seed unless given)."""
    started: list[FakeDistributor] = []

    def _serve(**options) -> FakeDistributor:
        options.setdefault("clock", clock)
        options.setdefault("seed", 7)
        fake = FakeDistributor(FakeConfig(port=0, step_seconds=STEP, **options)).start()
        started.append(fake)
        return fake

    yield _serve
    for fake in started:
        fake.stop()


@pytest.fixture
def clients() -> Iterator[Callable[..., httpx.Client]]:
    opened: list[httpx.Client] = []

    def _client(fake: FakeDistributor, key: str | None = "key-1", **options) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        options.setdefault("timeout", 5.0)
        client = httpx.Client(base_url=fake.url, headers=headers, **options)
        opened.append(client)
        return client

    yield _client
    for client in opened:
        client.close()


def status_of(client: httpx.Client, *ids: str) -> dict:
    response = client.get("/v1/orders/status", params={"ids": ",".join(ids)})
    assert response.status_code == 200, response.text
    return response.json()


# -- the API ---------------------------------------------------------------------------------------


def test_v1_needs_a_bearer_key(serve, clients):
    fake = serve()
    anonymous = clients(fake, key=None)
    for headers in ({}, {"Authorization": "Basic a2V5OnNlY3JldA=="}, {"Authorization": "Bearer"}):
        response = anonymous.get("/v1/orders/status", params={"ids": "VO-1"}, headers=headers)
        assert response.status_code == 401
        assert response.headers["Content-Type"] == "application/json; charset=utf-8"
        assert response.json()["error"]["code"] == "unauthorized"
    assert clients(fake).get("/v1/orders/status", params={"ids": "VO-1"}).status_code == 200


def test_placing_is_idempotent_on_the_order_id_and_keys_are_apart(serve, clients, clock):
    fake = serve()
    client = clients(fake)
    first = client.post("/v1/orders", json=order("VO-000123", 4711))
    assert first.status_code == 201
    body = first.json()
    assert re.fullmatch(r"FD-\d{6}", body["partner_ref"])
    assert body == {
        "order_id": "VO-000123",
        "partner_ref": body["partner_ref"],
        "status": "received",
        "accepted_at": iso(T0),
    }
    assert int(first.headers["Content-Length"]) == len(first.content)

    clock.advance(STEP)
    again = client.post("/v1/orders", json=order("VO-000123", 4711))
    assert again.status_code == 200
    assert again.json()["partner_ref"] == body["partner_ref"]
    assert again.json()["accepted_at"] == iso(T0)  # the same order, not a new one
    assert again.json()["status"] == "processing"

    other = clients(fake, key="key-2").post("/v1/orders", json=order("VO-000123", 4711))
    assert other.status_code == 201
    assert other.json()["partner_ref"] != body["partner_ref"]

    stored = fake.orders_for("key-1")
    assert len(stored) == 1
    assert stored[0]["items"] == [{"item_id": 4711, "name": "MacBook Pro 14"}]
    assert stored[0]["ship_to"]["name"] == "Anna Andersson"
    assert stored[0]["note"] == "Reception is open 8-17."
    assert stored[0]["placed_at"] == T0
    assert status_of(clients(fake, key="key-3"), "VO-000123")["unknown"] == ["VO-000123"]


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"{not json", 400),
        (json.dumps({"items": [{"item_id": 1}]}).encode(), 422),
        (json.dumps({"order_id": "", "items": [{"item_id": 1}]}).encode(), 422),
        (json.dumps({"order_id": "VO-1"}).encode(), 422),
        (json.dumps({"order_id": "VO-1", "items": []}).encode(), 422),
        (json.dumps({"order_id": "VO-1", "items": [{"item_id": "1"}]}).encode(), 422),
        (json.dumps({"order_id": "VO-1", "items": [{"item_id": True}]}).encode(), 422),
        (json.dumps(["VO-1"]).encode(), 422),
    ],
)
def test_a_bad_order_is_refused_and_not_stored(serve, clients, body, status):
    fake = serve()
    response = clients(fake).post(
        "/v1/orders", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == status
    error = response.json()["error"]
    assert error["code"] == ("invalid_json" if status == 400 else "invalid_order")
    assert error["message"]
    assert fake.orders_for("key-1") == []


def test_an_order_moves_through_the_four_statuses_one_step_at_a_time(serve, clients, clock):
    fake = serve()
    client = clients(fake)
    client.post("/v1/orders", json=order("VO-000001", 11, 12))

    seen = []
    for stage in range(4):
        entry = status_of(client, "VO-000001")["orders"][0]
        seen.append((entry["status"], entry["version"]))
        assert entry["updated_at"] == iso(T0 + stage * STEP)
        assert entry["items"] == [
            {"item_id": 11, "status": entry["status"]},
            {"item_id": 12, "status": entry["status"]},
        ]
        assert entry["expected_delivery"] == iso(T0 + 3 * STEP)[:10]
        if stage < 2:
            assert entry["shipments"] == []
        clock.advance(STEP / 2)
        assert status_of(client, "VO-000001")["orders"][0]["version"] == stage + 1  # mid-step
        clock.advance(STEP / 2)
        if stage == 2:
            shipped = entry
    assert seen == [("received", 1), ("processing", 2), ("shipped", 3), ("delivered", 4)]

    (shipment,) = shipped["shipments"]
    number = shipment["tracking_number"]
    assert re.fullmatch(r"FD\d{9}SE", number)
    assert shipment["carrier"] == "PostNord"
    assert shipment["tracking_url"] == f"https://tracking.postnord.com/se/?id={number}"
    assert shipment["status_text"] == "In transit"
    assert shipment["events"] == [
        {"at": iso(T0 + 2 * STEP), "description": "Picked up", "location": "Göteborg"}
    ]

    clock.advance(10 * STEP)  # delivered is final
    delivered = status_of(client, "VO-000001")["orders"][0]
    assert (delivered["status"], delivered["version"]) == ("delivered", 4)
    (shipment,) = delivered["shipments"]
    assert shipment["tracking_number"] == number  # stable per order
    assert shipment["status_text"] == "Delivered"
    assert [event["description"] for event in shipment["events"]] == ["Picked up", "Delivered"]
    assert shipment["events"][1] == {
        "at": iso(T0 + 3 * STEP),
        "description": "Delivered",
        "location": "Stockholm",
    }


def test_status_lists_unknown_ids_and_allows_at_most_100(serve, clients):
    fake = serve()
    client = clients(fake)
    client.post("/v1/orders", json=order("VO-000001"))
    answer = status_of(client, "VO-000001", "VO-404404", "VO-000001")
    assert [entry["order_id"] for entry in answer["orders"]] == ["VO-000001"]
    assert answer["unknown"] == ["VO-404404"]

    hundred = [f"VO-{n:06d}" for n in range(1, 101)]
    answer = status_of(client, *hundred)
    assert len(answer["orders"]) == 1
    assert len(answer["unknown"]) == 99
    too_many = client.get("/v1/orders/status", params={"ids": ",".join([*hundred, "VO-000101"])})
    assert too_many.status_code == 400
    assert too_many.json()["error"]["code"] == "too_many_ids"
    assert client.get("/v1/orders/status").status_code == 400


def test_changes_pages_oldest_first_with_a_cursor(serve, clients, clock):
    fake = serve()
    client = clients(fake)
    for n in range(1, 6):
        client.post("/v1/orders", json=order(f"VO-{n:06d}", n))
        clock.advance(1)

    def page(since: str, limit: int = 2) -> dict:
        response = client.get("/v1/orders/changes", params={"since": since, "limit": limit})
        assert response.status_code == 200
        return response.json()

    ids, cursor, pages = [], "", 0
    while True:
        answer = page(cursor)
        pages += 1
        ids += [entry["order_id"] for entry in answer["orders"]]
        assert answer["next_cursor"].startswith("c-")
        cursor = answer["next_cursor"]
        if not answer["has_more"]:
            break
    assert pages == 3
    assert ids == [f"VO-{n:06d}" for n in range(1, 6)]
    assert page(cursor) == {"orders": [], "next_cursor": cursor, "has_more": False}

    clock.advance(STEP - 3.5)  # the first two orders have moved on to processing
    answer = page(cursor, limit=100)
    assert [(e["order_id"], e["status"], e["version"]) for e in answer["orders"]] == [
        ("VO-000001", "processing", 2),
        ("VO-000002", "processing", 2),
    ]
    assert not answer["has_more"]
    assert page(answer["next_cursor"])["orders"] == []
    assert page("", limit=1000)["orders"][0]["order_id"] == "VO-000003"  # oldest change first
    assert client.get("/v1/orders/changes", params={"since": "later"}).status_code == 400
    assert client.get("/v1/orders/changes", params={"limit": "many"}).status_code == 400


def test_changes_pages_through_orders_that_changed_at_the_same_moment(serve, clients):
    fake = serve()
    fake.load("key-1", [order(f"VO-{n:06d}") | {"status": "shipped"} for n in range(1, 8)])
    client = clients(fake)
    ids, cursor, has_more = [], "", True
    while has_more:
        answer = client.get("/v1/orders/changes", params={"since": cursor, "limit": 3}).json()
        ids += [entry["order_id"] for entry in answer["orders"]]
        cursor, has_more = answer["next_cursor"], answer["has_more"]
    assert ids == [f"VO-{n:06d}" for n in range(1, 8)]


def test_fake_load_keeps_fixed_statuses(serve, clients, clock):
    fake = serve()
    client = clients(fake)
    loaded = httpx.post(
        f"{fake.url}/_fake/load",
        json={
            "key": "key-1",
            "orders": [
                order("VO-000001") | {"status": "shipped"},
                order("VO-000002") | {"status": "on_hold"},
                order("VO-000003") | {"status": "delivered"},
                order("VO-000004") | {"status": "received"},
                order("VO-000005"),  # no status: moves along like a placed order
            ],
        },
    )
    assert loaded.status_code == 200
    assert loaded.json() == {"loaded": 5}

    clock.advance(100 * STEP)
    entries = {
        e["order_id"]: e
        for e in status_of(client, *(f"VO-00000{n}" for n in range(1, 6)))["orders"]
    }
    summary = {
        ident: (e["status"], e["version"], len(e["shipments"])) for ident, e in entries.items()
    }
    assert summary == {
        "VO-000001": ("shipped", 3, 1),
        "VO-000002": ("on_hold", 1, 0),
        "VO-000003": ("delivered", 4, 1),
        "VO-000004": ("received", 1, 0),
        "VO-000005": ("delivered", 4, 1),
    }
    assert entries["VO-000001"]["shipments"][0]["tracking_number"].endswith("SE")
    assert client.post("/v1/orders", json=order("VO-000002")).status_code == 200  # already known

    bad = httpx.post(
        f"{fake.url}/_fake/load",
        json={"key": "key-1", "orders": [order("VO-000009") | {"status": "lost"}]},
    )
    assert bad.status_code == 422
    assert httpx.post(f"{fake.url}/_fake/load", content=b"[").status_code == 400
    assert len(fake.orders_for("key-1")) == 5


def test_unknown_paths_and_methods_are_json_errors(serve, clients):
    fake = serve()
    client = clients(fake)
    for path in ("/v1/nothing", "/elsewhere"):
        response = client.get(path)
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"
    wrong = client.get("/v1/orders")
    assert wrong.status_code == 405
    assert wrong.headers["Allow"] == "POST"


# -- misbehaviour ----------------------------------------------------------------------------------


def test_latency_delays_the_api_but_not_the_fake_endpoints(serve, clients):
    fake = serve(latency_ms=300)
    client = clients(fake)
    started = time.monotonic()
    assert client.get("/v1/orders/status", params={"ids": "VO-1"}).status_code == 200
    assert time.monotonic() - started >= 0.29
    started = time.monotonic()
    assert client.get("/_fake/stats").status_code == 200
    assert time.monotonic() - started < 0.29


def test_error_rate_answers_503(serve, clients):
    fake = serve(error_rate=1.0)
    client = clients(fake)
    response = client.post("/v1/orders", json=order("VO-000001"))
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "unavailable"
    assert fake.orders_for("key-1") == []
    assert client.get("/_fake/stats").status_code == 200  # never on /_fake


def test_throttle_rate_answers_429_with_retry_after(serve, clients):
    fake = serve(throttle_rate=1.0)
    response = clients(fake).get("/v1/orders/status", params={"ids": "VO-1"})
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "1"
    assert response.json()["error"]["code"] == "throttled"


def test_hang_rate_makes_the_client_time_out(serve, clients):
    fake = serve(hang_rate=1.0, hang_seconds=1.5)
    client = clients(fake, timeout=0.3)
    started = time.monotonic()
    with pytest.raises(httpx.ReadTimeout):
        client.get("/v1/orders/status", params={"ids": "VO-1"})
    assert time.monotonic() - started < 1.2


def test_malformed_rate_answers_broken_json(serve, clients):
    fake = serve(malformed_rate=1.0)
    client = clients(fake)
    response = client.post("/v1/orders", json=order("VO-000001"))
    assert response.status_code == 201
    assert response.headers["Content-Type"].startswith("application/json")
    with pytest.raises(ValueError):
        json.loads(response.content)
    assert len(fake.orders_for("key-1")) == 1  # the order was taken; only the answer broke


def test_unknown_status_rate_puts_names_outside_the_table(serve, clients):
    fake = serve(unknown_status_rate=1.0)
    client = clients(fake)
    client.post("/v1/orders", json=order("VO-000001", 7))
    entry = status_of(client, "VO-000001")["orders"][0]
    assert entry["status"] == "teleported"
    assert entry["items"] == [{"item_id": 7, "status": "teleported"}]
    changes = client.get("/v1/orders/changes").json()["orders"]
    assert [e["status"] for e in changes] == ["teleported"]


def test_stranger_rate_adds_an_order_nobody_asked_for(serve, clients):
    fake = serve(stranger_rate=1.0)
    client = clients(fake)
    client.post("/v1/orders", json=order("VO-000001"))
    answer = status_of(client, "VO-000001")
    assert [entry["order_id"] for entry in answer["orders"]] == ["VO-000001", "VO-999999"]
    stranger = answer["orders"][1]
    assert stranger["status"] == "processing"
    assert stranger["version"] == 2
    assert client.get("/v1/orders/changes").json()["orders"][0]["order_id"] == "VO-000001"
    assert len(client.get("/v1/orders/changes").json()["orders"]) == 1  # status answers only


def test_rate_limit_answers_429_per_key(serve, clients):
    fake = serve(rate_limit=2)
    client = clients(fake)
    codes = []
    for _ in range(5):  # well within a second: two wall-clock seconds allow at most four
        response = client.get("/v1/orders/status", params={"ids": "VO-1"})
        codes.append(response.status_code)
        if response.status_code == 429:
            assert response.headers["Retry-After"] == "1"
            assert response.json()["error"]["code"] == "rate_limited"
    assert set(codes) == {200, 429}
    assert codes[:2] == [200, 200]
    other = clients(fake, key="key-2").get("/v1/orders/status", params={"ids": "VO-1"})
    assert other.status_code == 200  # each key has its own limit


def test_a_seed_makes_the_misbehaviour_repeatable(serve, clients):
    def codes(seed: int) -> list[int]:
        client = clients(serve(error_rate=0.5, seed=seed))
        return [
            client.get("/v1/orders/status", params={"ids": "VO-1"}).status_code for _ in range(12)
        ]

    first = codes(3)
    assert first == codes(3)
    assert set(first) == {200, 503}


# -- stats and state -------------------------------------------------------------------------------


def test_stats_count_every_api_request_and_the_peak_per_second(serve, clients):
    fake = serve()
    client = clients(fake)
    client.post("/v1/orders", json=order("VO-000001"))
    for _ in range(3):
        client.get("/v1/orders/status", params={"ids": "VO-000001"})
    clients(fake, key=None).get("/v1/orders/status", params={"ids": "VO-000001"})

    stats = httpx.get(f"{fake.url}/_fake/stats").json()
    assert stats["requests"] == 5
    assert stats["responses"] == {"200": 3, "201": 1, "401": 1}
    assert stats["orders"] == 1
    assert 3 <= stats["peak_rps"] <= 5  # five requests in at most two wall-clock seconds
    assert fake.stats() == stats  # reading the stats is not counted


def test_the_state_file_survives_a_restart(serve, clients, clock, tmp_path):
    state = tmp_path / "fake-distributor.json"
    first = serve(state_file=str(state))
    placed = clients(first).post("/v1/orders", json=order("VO-000001", 5)).json()
    first.load("key-2", [order("VO-000002") | {"status": "backordered"}])
    first.stop()
    assert json.loads(state.read_text())["keys"].keys() == {"key-1", "key-2"}
    assert [p.name for p in tmp_path.iterdir()] == [state.name]  # no temporary files left

    clock.advance(2 * STEP)
    second = serve(state_file=str(state))
    client = clients(second)
    entry = status_of(client, "VO-000001")["orders"][0]
    assert (entry["partner_ref"], entry["status"]) == (placed["partner_ref"], "shipped")
    again = client.post("/v1/orders", json=order("VO-000001", 5))
    assert again.status_code == 200
    fresh = client.post("/v1/orders", json=order("VO-000003")).json()
    assert placed["partner_ref"] == "FD-100001"
    assert fresh["partner_ref"] == "FD-100003"  # FD-100002 went to the loaded order
    assert second.orders_for("key-2")[0]["status"] == "backordered"


def test_the_command_configures_the_fake_and_stops_cleanly(monkeypatch, tmp_path):
    served: list[FakeDistributor] = []

    def serve_once(fake: FakeDistributor) -> None:
        served.append(fake)
        raise KeyboardInterrupt  # as Ctrl-C or SIGTERM would

    monkeypatch.setattr(FakeDistributor, "serve_forever", serve_once)
    out = io.StringIO()
    state = tmp_path / "var" / "fake.json"
    call_command(
        "run_fake_distributor",
        "--port=0",
        f"--state-file={state}",
        "--step-seconds=5",
        "--error-rate=0.25",
        "--rate-limit=10",
        "--seed=4",
        stdout=out,
    )
    (fake,) = served
    assert re.fullmatch(
        r"Fake distributor serving the Velory distributor API v1 at http://127\.0\.0\.1:\d+ "
        r"\(one step every 5 s\)\n",
        out.getvalue(),
    )
    config = fake.config
    assert (config.step_seconds, config.error_rate, config.rate_limit) == (5.0, 0.25, 10)
    assert (config.seed, config.state_file) == (4, str(state))
    assert state.parent.is_dir()
    with pytest.raises(RuntimeError):
        fake.url  # noqa: B018  (stopped on the way out)
