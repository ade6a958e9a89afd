"""The fake distributor: an in-memory HTTP server that speaks the Velory distributor API v1
(docs/distributor-api.md) for the demo, the tests and the benchmark.

Every order it is given moves through received → processing → shipped → delivered, one step
every ``step_seconds`` of its clock (a fake clock in tests). Switches make it misbehave on
purpose: latency, 503s, hangs, broken JSON, unknown status names, orders nobody asked for,
and 429s (a per-key rate limit or at random). Standard library only, so it runs without
Django settings.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import os
import random
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

PROGRESSION = ("received", "processing", "shipped", "delivered")
STATUSES = (*PROGRESSION, "on_hold", "backordered", "cancelled")
UNKNOWN_STATUS = "teleported"  # a name outside the API's table (--unknown-status-rate)
STRANGER_ID = "VO-999999"  # the order nobody asked for (--stranger-rate)
MAX_STATUS_IDS = 100
DEFAULT_CHANGES_LIMIT = 100
MAX_CHANGES_LIMIT = 500
MAX_REQUEST_BYTES = 64 * 1024 * 1024  # /_fake/load may carry a benchmark's worth of orders
MAX_ORDER_ID_LENGTH = 64
CARRIER = "PostNord"
JSON_TYPE = "application/json; charset=utf-8"
STATE_FORMAT = 1
FIRST_REF = 100001


@dataclass
class FakeConfig:
    """How the fake behaves. Rates are shares between 0 and 1, decided per request (or per
    order entry) with a ``random.Random(seed)``; ``clock`` drives the order progression."""

    host: str = "127.0.0.1"
    port: int = 0  # 0: the system picks a free port
    step_seconds: float = 60.0
    latency_ms: float = 0
    error_rate: float = 0
    hang_rate: float = 0
    hang_seconds: float = 30.0
    malformed_rate: float = 0
    unknown_status_rate: float = 0
    stranger_rate: float = 0
    rate_limit: int = 0  # requests per wall-clock second per API key; 0: no limit
    throttle_rate: float = 0
    state_file: str | None = None
    seed: int | None = None
    clock: Callable[[], float] = time.time


class InvalidOrder(ValueError):
    """An order (posted or loaded) the fake cannot accept; the API answers 422."""


class _ApiError(Exception):
    """An error answer: ``{"error": {"code": ..., "message": ...}}`` with its HTTP status."""

    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}

    def body(self) -> bytes:
        return _encode({"error": {"code": self.code, "message": self.message}})


class FakeDistributor:
    """The server and its state. ``start()`` serves in a daemon thread (tests),
    ``serve_forever()`` in the calling thread (the management command). The socket is bound
    at construction, so ``url`` is known before serving; the state file is read then too."""

    def __init__(self, config: FakeConfig | None = None) -> None:
        self.config = config or FakeConfig()
        if self.config.step_seconds <= 0:
            raise ValueError("step_seconds must be greater than 0")
        self._lock = threading.Lock()  # orders, partner refs, the state file
        self._orders: dict[str, dict[str, dict[str, Any]]] = {}
        self._next_ref = FIRST_REF
        self._rng = random.Random(self.config.seed)  # noqa: S311 (misbehaviour, not secrets)
        self._rng_lock = threading.Lock()
        self._stats_lock = threading.Lock()
        self._requests = 0
        self._responses: dict[str, int] = {}
        self._misbehaved: dict[str, int] = {}  # the switches that fired, by name
        self._second = -1
        self._second_count = 0
        self._peak_rps = 0
        self._key_windows: dict[str, list[int]] = {}  # key → [wall-clock second, requests]
        self._stopping = threading.Event()  # cuts latency and hangs short on stop()
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._serving = False
        self._load_state()
        self._server: _Server | None = _Server((self.config.host, self.config.port), self)

    # -- lifecycle -------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The base URL, e.g. ``http://127.0.0.1:54321``."""
        if self._server is None:
            raise RuntimeError("the fake distributor has been stopped")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeDistributor:
        """Serve in a daemon thread; returns self."""
        server = self._require_server()
        if self._serving:
            raise RuntimeError("the fake distributor is already serving")
        self._serving = True
        self._thread = threading.Thread(
            target=self._run, args=(server, 0.05), name="fake-distributor", daemon=True
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in the calling thread until ``stop()`` (from another thread) or an
        exception such as KeyboardInterrupt."""
        server = self._require_server()
        if self._serving:
            raise RuntimeError("the fake distributor is already serving")
        self._serving = True
        self._run(server, 0.2)

    def stop(self) -> None:
        """Stop serving, close the socket and every open connection (safe to call twice)."""
        server = self._server
        if server is None:
            return
        self._stopping.set()
        if self._serving:
            server.shutdown()  # returns at once when serve_forever() already ended
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        server.server_close()
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:  # idle keep-alive connections would linger otherwise
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        self._server = None

    def _run(self, server: _Server, poll_interval: float) -> None:
        try:
            server.serve_forever(poll_interval=poll_interval)
        finally:
            self._serving = False

    def _require_server(self) -> _Server:
        if self._server is None:
            raise RuntimeError("the fake distributor has been stopped")
        return self._server

    def _track(self, connection: socket.socket, *, open_: bool) -> None:
        with self._connections_lock:
            if open_:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)

    # -- state -----------------------------------------------------------------------------------

    def orders_for(self, key: str) -> list[dict[str, Any]]:
        """The stored order records of one API key, oldest first (copies)."""
        with self._lock:
            return copy.deepcopy(list(self._orders.get(key, {}).values()))

    def load(self, key: str, orders: list[dict[str, Any]]) -> int:
        """Store ``orders`` for ``key`` as if placed now, replacing any with the same order id
        (their partner ref is kept). An order with a ``status`` keeps it forever. Raises
        InvalidOrder (a ValueError) and stores nothing when any order is invalid."""
        if not isinstance(key, str) or not key.strip():
            raise InvalidOrder("key must be a non-empty string")
        if not isinstance(orders, list):
            raise InvalidOrder("orders must be a list")
        records = [_validate_order(order, allow_status=True) for order in orders]
        with self._lock:
            stored = self._orders.setdefault(key, {})
            now = self.config.clock()
            for record in records:
                existing = stored.get(record["order_id"])
                record["partner_ref"] = existing["partner_ref"] if existing else self._new_ref()
                record["placed_at"] = now
                stored[record["order_id"]] = record
            self._save_locked()
        return len(records)

    def stats(self) -> dict[str, Any]:
        """Requests served on the API (everything but /_fake/), the peak in any one
        wall-clock second, the stored orders and the answers by HTTP status."""
        with self._lock:
            orders = sum(len(stored) for stored in self._orders.values())
        with self._stats_lock:
            return {
                "requests": self._requests,
                "peak_rps": self._peak_rps,
                "orders": orders,
                "responses": dict(sorted(self._responses.items())),
                "misbehaved": dict(sorted(self._misbehaved.items())),
            }

    def _new_ref(self) -> str:
        ref = f"FD-{self._next_ref:06d}"
        self._next_ref += 1
        return ref

    def _load_state(self) -> None:
        path = self.config.state_file
        if not path or not os.path.exists(path):
            return
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
        if not isinstance(data, dict) or not isinstance(data.get("keys"), dict):
            raise ValueError(f"{path} is not a fake distributor state file")
        self._next_ref = int(data.get("next_ref", FIRST_REF))
        for key, orders in data["keys"].items():
            self._orders[key] = {order["order_id"]: order for order in orders}

    def _save_locked(self) -> None:
        """Write the state file atomically (a temporary file, then os.replace). Call with
        the lock held, so that writes cannot interleave."""
        path = self.config.state_file
        if not path:
            return
        state = {
            "format": STATE_FORMAT,
            "next_ref": self._next_ref,
            "keys": {key: list(stored.values()) for key, stored in self._orders.items()},
        }
        directory = os.path.dirname(os.path.abspath(path))
        descriptor, temporary = tempfile.mkstemp(
            prefix=".fake-distributor-", suffix=".tmp", dir=directory
        )
        try:
            with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
                json.dump(state, handle, ensure_ascii=False)
            os.replace(temporary, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise

    # -- what an order looks like now ------------------------------------------------------------

    def _progress(self, record: dict[str, Any], now: float) -> tuple[str, int, float]:
        """(status, version, updated_at) of an order at ``now``."""
        placed = record["placed_at"]
        fixed = record.get("status")
        if fixed:
            version = PROGRESSION.index(fixed) + 1 if fixed in PROGRESSION else 1
            return fixed, version, placed
        step = self.config.step_seconds
        stage = max(0, min(int((now - placed) / step), 3))
        return PROGRESSION[stage], stage + 1, placed + stage * step

    def _entry(self, record: dict[str, Any], now: float) -> dict[str, Any]:
        """The order as the status and changes answers show it."""
        status, version, updated = self._progress(record, now)
        placed = record["placed_at"]
        step = self.config.step_seconds
        if record.get("status"):  # fixed: everything happened when it was loaded
            ship_at = deliver_at = placed
            expected = _date(placed) if status == "delivered" else _date(placed + 3 * step)
        else:
            ship_at, deliver_at = placed + 2 * step, placed + 3 * step
            expected = _date(deliver_at)
        shipments = []
        if status in ("shipped", "delivered"):
            number = _tracking_number(record["order_id"])
            events = [{"at": _iso(ship_at), "description": "Picked up", "location": "Göteborg"}]
            if status == "delivered":
                events.append(
                    {"at": _iso(deliver_at), "description": "Delivered", "location": "Stockholm"}
                )
            shipments.append(
                {
                    "carrier": CARRIER,
                    "tracking_number": number,
                    "tracking_url": f"https://tracking.postnord.com/se/?id={number}",
                    "status_text": "Delivered" if status == "delivered" else "In transit",
                    "expected_delivery": expected,
                    "events": events,
                }
            )
        return {
            "order_id": record["order_id"],
            "partner_ref": record["partner_ref"],
            "status": status,
            "version": version,
            "updated_at": _iso(updated),
            "expected_delivery": expected,
            "items": [{"item_id": item["item_id"], "status": status} for item in record["items"]],
            "shipments": shipments,
        }

    def _maybe_unknown_status(self, entry: dict[str, Any]) -> dict[str, Any]:
        if self._chance(self.config.unknown_status_rate):
            entry["status"] = UNKNOWN_STATUS
            for item in entry["items"]:
                item["status"] = UNKNOWN_STATUS
        return entry

    def _stranger(self, now: float) -> dict[str, Any]:
        """A valid-looking order nobody asked for (a partner mixing up its customers)."""
        record = {
            "order_id": STRANGER_ID,
            "partner_ref": "FD-999999",
            "placed_at": now - 1.5 * self.config.step_seconds,
            "items": [{"item_id": 999999}],
        }
        return self._entry(record, now)

    # -- requests --------------------------------------------------------------------------------

    def _dispatch(self, handler: _Handler) -> None:
        """Answer one request (called by the handler thread)."""
        parts = urlsplit(handler.path)
        path = parts.path.rstrip("/") or "/"
        counted = not path.startswith("/_fake/")
        if counted:
            self._count_request()
        try:
            body = self._read_body(handler)
            if path.startswith("/v1/"):
                status, data, headers = self._api(handler, path, parts.query, body)
            else:
                status, data, headers = self._fake_endpoint(handler.command, path, body)
        except _ApiError as error:
            status, data, headers = error.status, error.body(), error.headers
        self._send(handler, status, data, headers, counted=counted)

    def _read_body(self, handler: _Handler) -> bytes:
        raw = handler.headers.get("Content-Length")
        if raw is None:
            return b""
        try:
            length = int(raw)
        except ValueError:
            handler.close_connection = True
            raise _ApiError(400, "bad_request", "Content-Length is not a number.") from None
        if length < 0 or length > MAX_REQUEST_BYTES:
            handler.close_connection = True
            raise _ApiError(413, "too_large", "The request body is too large.")
        return handler.rfile.read(length) if length else b""

    def _api(
        self, handler: _Handler, path: str, query: str, body: bytes
    ) -> tuple[int, bytes, dict[str, str]]:
        """A /v1 request: the misbehaviour switches in order, then the real answer."""
        config = self.config
        if config.latency_ms > 0:
            self._stopping.wait(config.latency_ms / 1000)
        key = _bearer(handler.headers.get("Authorization"))
        if key is None:
            raise _ApiError(
                401,
                "unauthorized",
                "Send the API key as 'Authorization: Bearer <key>'.",
                {"WWW-Authenticate": "Bearer"},
            )
        if config.rate_limit > 0 and not self._within_rate_limit(key):
            self._tally("over rate limit")
            raise _ApiError(
                429,
                "rate_limited",
                f"More than {config.rate_limit} requests per second.",
                {"Retry-After": "1"},
            )
        if self._chance(config.throttle_rate):
            self._tally("throttled")
            raise _ApiError(429, "throttled", "Too many requests, slow down.", {"Retry-After": "1"})
        if self._chance(config.error_rate):
            self._tally("5xx")
            raise _ApiError(503, "unavailable", "The service is temporarily unavailable.")
        if self._chance(config.hang_rate):
            self._tally("hang")
            self._stopping.wait(config.hang_seconds)
        method = handler.command
        params = parse_qs(query, keep_blank_values=True)
        if path == "/v1/orders":
            _require_method(method, "POST")
            status, payload = self._place(key, body)
        elif path == "/v1/orders/status":
            _require_method(method, "GET")
            status, payload = self._status(key, params)
        elif path == "/v1/orders/changes":
            _require_method(method, "GET")
            status, payload = self._changes(key, params)
        else:
            raise _ApiError(404, "not_found", f"No such endpoint: {path}")
        data = _encode(payload)
        if self._chance(config.malformed_rate):
            self._tally("malformed")
            data = data[: max(1, len(data) // 2)]  # a cut-off object is never valid JSON
        return status, data, {}

    def _fake_endpoint(
        self, method: str, path: str, body: bytes
    ) -> tuple[int, bytes, dict[str, str]]:
        """The test hooks (no key, no misbehaviour)."""
        if path == "/_fake/stats":
            _require_method(method, "GET")
            return 200, _encode(self.stats()), {}
        if path == "/_fake/load":
            _require_method(method, "POST")
            data = _parse_json(body)
            if not isinstance(data, dict):
                raise _ApiError(422, "invalid_load", "The body must be a JSON object.")
            try:
                loaded = self.load(data.get("key"), data.get("orders"))  # type: ignore[arg-type]
            except InvalidOrder as why:
                raise _ApiError(422, "invalid_load", str(why)) from None
            return 200, _encode({"loaded": loaded}), {}
        raise _ApiError(404, "not_found", f"No such endpoint: {path}")

    def _place(self, key: str, body: bytes) -> tuple[int, dict[str, Any]]:
        data = _parse_json(body)
        try:
            record = _validate_order(data, allow_status=False)
        except InvalidOrder as why:
            raise _ApiError(422, "invalid_order", str(why)) from None
        with self._lock:
            stored = self._orders.setdefault(key, {})
            existing = stored.get(record["order_id"])
            if existing is None:  # idempotent on the order id: a retry gets the same order
                record["partner_ref"] = self._new_ref()
                record["placed_at"] = self.config.clock()
                stored[record["order_id"]] = record
                self._save_locked()
            current = existing or record
            status, _, _ = self._progress(current, self.config.clock())
            answer = {
                "order_id": current["order_id"],
                "partner_ref": current["partner_ref"],
                "status": status,
                "accepted_at": _iso(current["placed_at"]),
            }
        return (201 if existing is None else 200), answer

    def _status(self, key: str, params: dict[str, list[str]]) -> tuple[int, dict[str, Any]]:
        asked = [part.strip() for value in params.get("ids", []) for part in value.split(",")]
        asked = [ident for ident in asked if ident]
        if not asked:
            raise _ApiError(400, "missing_ids", "Give the order ids as ?ids=VO-1,VO-2.")
        if len(asked) > MAX_STATUS_IDS:
            raise _ApiError(
                400, "too_many_ids", f"At most {MAX_STATUS_IDS} ids per call ({len(asked)})."
            )
        ids = list(dict.fromkeys(asked))
        with self._lock:
            stored = self._orders.get(key, {})
            now = self.config.clock()
            entries = [self._entry(stored[ident], now) for ident in ids if ident in stored]
            unknown = [ident for ident in ids if ident not in stored]
        entries = [self._maybe_unknown_status(entry) for entry in entries]
        if self._chance(self.config.stranger_rate) and STRANGER_ID not in ids:
            entries.append(self._stranger(now))
        return 200, {"orders": entries, "unknown": unknown}

    def _changes(self, key: str, params: dict[str, list[str]]) -> tuple[int, dict[str, Any]]:
        since = (params.get("since") or [""])[0].strip()
        after = _parse_cursor(since)
        raw_limit = (params.get("limit") or [""])[0].strip()
        try:
            limit = int(raw_limit) if raw_limit else DEFAULT_CHANGES_LIMIT
        except ValueError:
            raise _ApiError(400, "invalid_limit", "limit must be a whole number.") from None
        if limit < 1:
            raise _ApiError(400, "invalid_limit", "limit must be at least 1.")
        limit = min(limit, MAX_CHANGES_LIMIT)
        with self._lock:
            now = self.config.clock()
            rows = []
            for record in self._orders.get(key, {}).values():
                position = (self._progress(record, now)[2], record["order_id"])
                if after is None or position > after:
                    rows.append((position, record))
            rows.sort(key=lambda row: row[0])
            page = rows[:limit]
            entries = [self._entry(record, now) for _, record in page]
        entries = [self._maybe_unknown_status(entry) for entry in entries]
        next_cursor = _format_cursor(*page[-1][0]) if page else (since or "c-0")
        return 200, {"orders": entries, "next_cursor": next_cursor, "has_more": len(rows) > limit}

    # -- misbehaviour and bookkeeping ------------------------------------------------------------

    def _chance(self, rate: float) -> bool:
        """True for a share ``rate`` of calls (no draw for 0 or 1, to keep seeds stable)."""
        if rate <= 0:
            return False
        if rate >= 1:
            return True
        with self._rng_lock:
            return self._rng.random() < rate

    def _tally(self, switch: str) -> None:
        with self._stats_lock:
            self._misbehaved[switch] = self._misbehaved.get(switch, 0) + 1

    def _within_rate_limit(self, key: str) -> bool:
        """Count this request in the key's wall-clock second (real time, not the fake clock:
        the limit protects the server, whose seconds are real)."""
        second = int(time.time())
        with self._stats_lock:
            window = self._key_windows.setdefault(key, [second, 0])
            if window[0] != second:
                window[:] = [second, 0]
            window[1] += 1
            return window[1] <= self.config.rate_limit

    def _count_request(self) -> None:
        second = int(time.time())
        with self._stats_lock:
            self._requests += 1
            if second != self._second:
                self._second, self._second_count = second, 0
            self._second_count += 1
            self._peak_rps = max(self._peak_rps, self._second_count)

    def _send(
        self,
        handler: _Handler,
        status: int,
        data: bytes,
        headers: dict[str, str],
        *,
        counted: bool,
    ) -> None:
        if counted:
            with self._stats_lock:
                code = str(status)
                self._responses[code] = self._responses.get(code, 0) + 1
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", JSON_TYPE)
            handler.send_header("Content-Length", str(len(data)))
            for name, value in headers.items():
                handler.send_header(name, value)
            if handler.close_connection:
                handler.send_header("Connection", "close")
            handler.end_headers()
            handler.wfile.write(data)
        except (ConnectionError, TimeoutError):  # the client gave up (a hang, a timeout)
            handler.close_connection = True


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 128  # a benchmark opens many connections at once

    def __init__(self, address: tuple[str, int], distributor: FakeDistributor) -> None:
        self.distributor = distributor
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients hanging up (after a timeout, or on stop) are normal here."""
        if isinstance(sys.exc_info()[1], OSError):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as Velory's pooled client expects
    server_version = "FakeDistributor/1"
    timeout = 60  # idle keep-alive connections are closed after this
    disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms stalls
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.distributor._track(self.connection, open_=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.distributor._track(self.connection, open_=False)

    def log_message(self, format: str, *args: Any) -> None:
        """No access log: the tests and the demo would drown in it."""

    def _answer(self) -> None:
        self.server.distributor._dispatch(self)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _answer


# -- helpers ------------------------------------------------------------------------------------


def _encode(payload: Any) -> bytes:
    return json.dumps(payload, ensure_ascii=False).encode("utf-8")


def _parse_json(body: bytes) -> Any:
    try:
        return json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise _ApiError(400, "invalid_json", "The body is not valid UTF-8 JSON.") from None


def _require_method(method: str, allowed: str) -> None:
    if method != allowed:
        raise _ApiError(405, "method_not_allowed", f"Use {allowed} here.", {"Allow": allowed})


def _bearer(header: str | None) -> str | None:
    """The API key of ``Authorization: Bearer <key>``; None when missing or malformed."""
    if not header:
        return None
    scheme, _, key = header.partition(" ")
    key = key.strip()
    return key if scheme.lower() == "bearer" and key else None


def _validate_order(data: Any, *, allow_status: bool) -> dict[str, Any]:
    """The record to store for a posted (or loaded) order; InvalidOrder says what is wrong."""
    if not isinstance(data, dict):
        raise InvalidOrder("The order must be a JSON object.")
    order_id = data.get("order_id")
    if not isinstance(order_id, str) or not order_id.strip():
        raise InvalidOrder("order_id is missing or not a string.")
    if len(order_id) > MAX_ORDER_ID_LENGTH or "," in order_id:
        raise InvalidOrder(f"order_id must be at most {MAX_ORDER_ID_LENGTH} characters, no ','.")
    items = data.get("items")
    if not isinstance(items, list) or not items:
        raise InvalidOrder("items must be a non-empty list.")
    for item in items:
        if not isinstance(item, dict):
            raise InvalidOrder("Every item must be an object.")
        item_id = item.get("item_id")
        if not isinstance(item_id, int) or isinstance(item_id, bool):
            raise InvalidOrder("Every item needs an integer item_id.")
    for name in ("company", "ship_to"):
        if data.get(name) is not None and not isinstance(data[name], dict):
            raise InvalidOrder(f"{name} must be an object.")
    if data.get("note") is not None and not isinstance(data["note"], str):
        raise InvalidOrder("note must be a string.")
    record: dict[str, Any] = {
        "order_id": order_id.strip(),
        "items": copy.deepcopy(items),
        "company": copy.deepcopy(data.get("company")),
        "ship_to": copy.deepcopy(data.get("ship_to")),
        "note": data.get("note"),
    }
    if allow_status and data.get("status") is not None:
        if data["status"] not in STATUSES:
            raise InvalidOrder(f"status must be one of {', '.join(STATUSES)}.")
        record["status"] = data["status"]
    return record


def _tracking_number(order_id: str) -> str:
    """A stable PostNord-style number per order: FD + 9 digits + SE."""
    digest = hashlib.sha256(order_id.encode("utf-8")).hexdigest()
    return f"FD{int(digest[:15], 16) % 10**9:09d}SE"


def _iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).isoformat(timespec="seconds")


def _date(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).date().isoformat()


def _format_cursor(updated_at: float, order_id: str) -> str:
    """``c-<updated_at epoch seconds>~<order id>``: the position of the last change given.
    The order id breaks ties between orders that changed at the same moment."""
    return f"c-{updated_at!r}~{order_id}"


def _parse_cursor(cursor: str) -> tuple[float, str] | None:
    """None for the first call (empty); ``c-<seconds>`` alone is accepted too."""
    if not cursor:
        return None
    if not cursor.startswith("c-"):
        raise _ApiError(400, "invalid_cursor", "since is not a cursor this server gave.")
    seconds, _, order_id = cursor[2:].partition("~")
    try:
        moment = float(seconds)
    except ValueError:
        raise _ApiError(400, "invalid_cursor", "since is not a cursor this server gave.") from None
    if moment != moment:  # NaN
        raise _ApiError(400, "invalid_cursor", "since is not a cursor this server gave.")
    return moment, order_id
