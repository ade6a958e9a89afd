"""The fake distributor's HTTP side and FakeDistributor, which ties the package together: the
socket and its threads (start, serve_forever, stop, url), reading requests, the check of the
API key, the routing of /v1 and of the /_fake/ test hooks, the checks of the query, and the
encoding of answers and of error answers. The orders live in a Simulation
(``simulation.py``); the misbehaviour switches and the counts behind the stats in Faults
(``faults.py``); both read the same FakeConfig."""

from __future__ import annotations

import contextlib
import json
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from .faults import FakeConfig, Faults
from .pusher import Pusher
from .simulation import InvalidOrder, Simulation, format_cursor, parse_cursor

MAX_STATUS_IDS = 100
DEFAULT_CHANGES_LIMIT = 100
MAX_CHANGES_LIMIT = 500
MAX_REQUEST_BYTES = 64 * 1024 * 1024  # /_fake/load may carry a benchmark's worth of orders
JSON_TYPE = "application/json; charset=utf-8"


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
        self._config = config or FakeConfig()
        if self._config.step_seconds <= 0:
            raise ValueError("step_seconds must be greater than 0")
        self.faults = Faults(self._config)
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._serving = False
        self.simulation = Simulation(self._config)  # reads the state file
        # Push mode: the orders of one key are pushed to Velory (pusher.py), not polled.
        self.pusher = Pusher(self.simulation, self._config)
        self._server: _Server | None = _Server((self._config.host, self._config.port), self)

    @property
    def config(self) -> FakeConfig:
        """The configuration, read at every use: a change (e.g. ``error_rate``) applies at
        once."""
        return self._config

    @config.setter
    def config(self, config: FakeConfig) -> None:
        self._config = self.simulation.config = self.faults.config = self.pusher.config = config

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
        self._start_pushing()
        return self

    def _start_pushing(self) -> None:
        """In push mode, push in a thread of its own (the tests call ``pusher.push_once()``
        themselves, with their clock moved, and leave ``push_interval`` at 0)."""
        if self._config.push_url and self._config.push_for and self._config.push_interval > 0:
            self.pusher.start()

    def serve_forever(self) -> None:
        """Serve in the calling thread until ``stop()`` (from another thread) or an
        exception such as KeyboardInterrupt."""
        server = self._require_server()
        if self._serving:
            raise RuntimeError("the fake distributor is already serving")
        self._serving = True
        self._start_pushing()
        self._run(server, 0.2)

    def stop(self) -> None:
        """Stop serving, close the socket and every open connection (safe to call twice)."""
        server = self._server
        if server is None:
            return
        self.faults.cut_short()
        self.pusher.stop()
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
        return self.simulation.orders_for(key)

    def load(self, key: str, orders: list[dict[str, Any]]) -> int:
        """Store ``orders`` for ``key`` as if placed now, replacing any with the same order id
        (their partner ref is kept). An order with a ``status`` keeps it forever. Raises
        InvalidOrder (a ValueError) and stores nothing when any order is invalid."""
        return self.simulation.load(key, orders)

    def stats(self) -> dict[str, Any]:
        """Requests served on the API (everything but /_fake/), the peak in any one
        wall-clock second, the stored orders and the answers by HTTP status."""
        orders = self.simulation.count()
        counts = self.faults.counts()
        return {
            "requests": counts["requests"],
            "peak_rps": counts["peak_rps"],
            "orders": orders,
            "responses": counts["responses"],
            "misbehaved": counts["misbehaved"],
        }

    # -- requests --------------------------------------------------------------------------------

    def _dispatch(self, handler: _Handler) -> None:
        """Answer one request (called by the handler thread)."""
        parts = urlsplit(handler.path)
        path = parts.path.rstrip("/") or "/"
        counted = not path.startswith("/_fake/")
        if counted:
            self.faults.count_request()
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
        faults = self.faults
        faults.delay()
        key = _bearer(handler.headers.get("Authorization"))
        if key is None:
            raise _ApiError(
                401,
                "unauthorized",
                "Send the API key as 'Authorization: Bearer <key>'.",
                {"WWW-Authenticate": "Bearer"},
            )
        refusal = faults.before_answer(key)
        if refusal is not None:
            raise _ApiError(*refusal)
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
        return status, faults.malformed(_encode(payload)), {}

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
            created, answer = self.simulation.place(key, data)
        except InvalidOrder as why:
            raise _ApiError(422, "invalid_order", str(why)) from None
        return (201 if created else 200), answer

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
        entries, unknown, now = self.simulation.lookup(key, ids)
        entries = [self.faults.unknown_status(entry) for entry in entries]
        stranger = self.faults.stranger(ids, now, self.simulation.entry)
        if stranger is not None:
            entries.append(stranger)
        return 200, {"orders": entries, "unknown": unknown}

    def _changes(self, key: str, params: dict[str, list[str]]) -> tuple[int, dict[str, Any]]:
        since = (params.get("since") or [""])[0].strip()
        try:
            after = parse_cursor(since)
        except ValueError:
            raise _ApiError(
                400, "invalid_cursor", "since is not a cursor this server gave."
            ) from None
        raw_limit = (params.get("limit") or [""])[0].strip()
        try:
            limit = int(raw_limit) if raw_limit else DEFAULT_CHANGES_LIMIT
        except ValueError:
            raise _ApiError(400, "invalid_limit", "limit must be a whole number.") from None
        if limit < 1:
            raise _ApiError(400, "invalid_limit", "limit must be at least 1.")
        limit = min(limit, MAX_CHANGES_LIMIT)
        entries, last, has_more = self.simulation.changes(key, after, limit)
        entries = [self.faults.unknown_status(entry) for entry in entries]
        next_cursor = format_cursor(*last) if last is not None else (since or "c-0")
        return 200, {"orders": entries, "next_cursor": next_cursor, "has_more": has_more}

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
            self.faults.count_response(status)
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
