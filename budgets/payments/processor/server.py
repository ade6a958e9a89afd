"""The sandbox processor's HTTP side and SandboxProcessor, which ties the package together:
the socket and its threads (start, serve_forever, stop, url), the background tick that runs
expiries, reading requests, the API key, the routing of the /v1 API, the hosted pages and
the /_sandbox/ test hooks, Idempotency-Keys, the down switch, and the encoding of answers.
The objects live in a Ledger (``state.py``), the pages in ``pages.py``, webhook delivery in
``webhooks.py``."""

from __future__ import annotations

import base64
import binascii
import contextlib
import hmac
import json
import re
import secrets
import socket
import sys
import threading
import traceback
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

from . import params as p
from .cards import check_card
from .config import API_VERSION, TICK_SECONDS, ProcessorConfig
from .customer import PayResult, pay
from .pages import challenge_page, closed_page, home_page, missing_page, pay_page
from .params import ApiError
from .state import Ledger
from .webhooks import Deliverer, signature_header

MAX_REQUEST_BYTES = 1024 * 1024
JSON_TYPE = "application/json"
HTML_TYPE = "text/html; charset=utf-8"
PAGE_HEADERS = {
    "Content-Type": HTML_TYPE,
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    # no form-action: a payment ends in a redirect to the merchant's success URL
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; frame-ancestors 'none'"
    ),
}
DOWN_MESSAGE = (
    "The sandbox processor is switched down (a test switch): every API call fails until it "
    "is switched up again."
)

Answer = tuple[int, bytes, dict[str, str]]
Action = Callable[[str, dict[str, Any]], tuple[int, dict[str, Any]]]


class SandboxProcessor:
    """A local card processor that answers like Stripe. ``start()`` serves in daemon
    threads (tests), ``serve_forever()`` in the calling thread (the management command);
    ``stop()`` ends both. The socket is bound and the state file read at construction, so
    ``url`` is known before serving."""

    def __init__(self, config: ProcessorConfig | None = None) -> None:
        self.config = config or ProcessorConfig()
        self.down = False  # while True every /v1 call answers 500
        self.requests: list[tuple[str, str]] = []  # (method, path) of every request
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._ticker: threading.Thread | None = None
        self._stopping = threading.Event()
        self._serving = False
        self._server: _Server | None = _Server((self.config.host, self.config.port), self)
        self.deliverer: Deliverer | None = None
        if self.config.webhook_url:
            self.deliverer = Deliverer(
                self.config.webhook_url, self.config.webhook_secret, self._delivered
            )
        try:
            self.ledger = Ledger(self.config, self.public_url, self._on_event)
        except BaseException:
            self._server.server_close()
            self._server = None
            raise
        if self.deliverer is not None:  # what a previous run did not get delivered
            for event in self.ledger.pending_events():
                self.deliverer.enqueue(event)
        self._routes = self._api_routes()

    # -- lifecycle -------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The base URL, e.g. ``http://127.0.0.1:54321``."""
        if self._server is None:
            raise RuntimeError("the sandbox processor has been stopped")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def public_url(self) -> str:
        """Where customers reach the hosted pages (config.public_url, else url)."""
        return (self.config.public_url or self.url).rstrip("/")

    def start(self) -> SandboxProcessor:
        """Serve in a daemon thread; returns self."""
        server = self._require_server()
        self._begin()
        self._thread = threading.Thread(
            target=self._run, args=(server, 0.05), name="sandbox-processor", daemon=True
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in the calling thread until ``stop()`` (from another thread) or an
        exception such as KeyboardInterrupt."""
        server = self._require_server()
        self._begin()
        self._run(server, 0.2)

    def stop(self) -> None:
        """Stop serving, ticking and delivering; close the socket and every open connection
        (safe to call twice)."""
        server = self._server
        if server is None:
            return
        self._stopping.set()
        if self._serving:
            server.shutdown()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if self._ticker is not None:
            self._ticker.join(timeout=5)
            self._ticker = None
        if self.deliverer is not None:
            self.deliverer.stop()
        server.server_close()
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:  # idle keep-alive connections would linger otherwise
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        self._server = None

    def _begin(self) -> None:
        if self._serving:
            raise RuntimeError("the sandbox processor is already serving")
        self._serving = True
        self._ticker = threading.Thread(
            target=self._tick, name="sandbox-processor-tick", daemon=True
        )
        self._ticker.start()
        if self.deliverer is not None:
            self.deliverer.start()

    def _run(self, server: _Server, poll_interval: float) -> None:
        try:
            server.serve_forever(poll_interval=poll_interval)
        finally:
            self._serving = False

    def _tick(self) -> None:
        """Run the expiries about once a second, between requests too."""
        while not self._stopping.wait(TICK_SECONDS):
            try:
                with self.ledger.lock:
                    if self.ledger.run_due():
                        self.ledger.save()
            except Exception:  # keep ticking; the next request shows the same error
                traceback.print_exc(file=sys.stderr)

    def _require_server(self) -> _Server:
        if self._server is None:
            raise RuntimeError("the sandbox processor has been stopped")
        return self._server

    def _track(self, connection: socket.socket, *, open_: bool) -> None:
        with self._connections_lock:
            if open_:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)

    # -- the test surface ------------------------------------------------------------------------

    def pay(
        self,
        session_id: str,
        card: str = "4242424242424242",
        three_ds: str | None = None,
        exp: str = "12/40",
        cvc: str = "123",
        name: str = "Sandbox Customer",
    ) -> PayResult:
        """Pay a session on its hosted page over HTTP, as a customer would (see
        customer.pay); the processor must be serving."""
        if three_ds not in (None, "complete", "fail"):
            raise ValueError("three_ds must be None, 'complete' or 'fail'")
        return pay(
            self.url,
            self.public_url,
            session_id,
            card=card,
            three_ds=three_ds,
            exp=exp,
            cvc=cvc,
            name=name,
        )

    @property
    def events(self) -> list[dict[str, Any]]:
        """Every event so far, oldest first (copies)."""
        return self.ledger.objects("event")

    def take_undelivered(self) -> list[dict[str, Any]]:
        """The events not delivered yet, oldest first, removed from the queue. With a
        webhook_url the deliverer sends them instead, so this is always empty."""
        if self.deliverer is not None:
            return []
        return self.ledger.take_undelivered()

    def signature_header(self, payload: bytes, timestamp: int | None = None) -> str:
        """``t=...,v1=...`` for ``payload`` with the webhook secret."""
        return signature_header(payload, self.config.webhook_secret, timestamp)

    def advance(self, seconds: float) -> int:
        """Move the processor's own clock (when config.clock is None) and run what is due;
        pending refunds of the refund-failure card fail. Returns the new unix time."""
        return self.ledger.advance(seconds)

    def expire_authorization(self, payment_intent: str) -> dict[str, Any]:
        """Let an authorized PaymentIntent's hold lapse now: it is canceled (reason
        automatic). Raises ApiError when it holds no authorization."""
        with self.ledger.lock:
            return self.ledger.render(self.ledger.expire_authorization(payment_intent), [])

    @property
    def deliveries(self) -> list[tuple[str, int | str]]:
        """Every webhook try: (event id, HTTP status or the error's name)."""
        return list(self.deliverer.attempts) if self.deliverer is not None else []

    def _on_event(self, event: dict[str, Any]) -> None:
        if self.deliverer is not None:
            self.deliverer.enqueue(event)

    def _delivered(self, ident: str, ok: bool) -> None:
        self.ledger.delivered(ident, ok)

    # -- requests --------------------------------------------------------------------------------

    def _dispatch(self, handler: _Handler) -> None:
        parts = urlsplit(handler.path)
        path = parts.path
        method = handler.command
        self.requests.append((method, path))
        request_id = "req_" + secrets.token_urlsafe(10).replace("-", "a").replace("_", "b")
        api = path == "/v1" or path.startswith("/v1/")
        hook = path.startswith("/_sandbox/")
        try:
            body = self._read_body(handler)
            if api:
                status, data, headers = self._api(
                    handler, method, path, parts.query, body, request_id
                )
            elif hook:
                status, data, headers = self._hook(handler, method, path, parts.query, body)
            else:
                status, data, headers = self._page(method, path, body)
        except ApiError as error:
            status, data, headers = error.status, _encode(error.payload()), dict(error.headers)
        except Exception:  # a bug here: answer as Stripe does, and say where
            traceback.print_exc(file=sys.stderr)
            error = ApiError(
                500, "An unexpected error occurred in the sandbox processor.", type="api_error"
            )
            status, data, headers = 500, _encode(error.payload()), {}
        headers.setdefault("Content-Type", JSON_TYPE)
        headers["Request-Id"] = request_id
        if api:
            headers["Stripe-Version"] = handler.headers.get("Stripe-Version") or API_VERSION
        self._send(handler, status, data, headers)

    def _read_body(self, handler: _Handler) -> bytes:
        raw = handler.headers.get("Content-Length")
        if raw is None:
            return b""
        try:
            length = int(raw)
        except ValueError:
            handler.close_connection = True
            raise ApiError(400, "Content-Length is not a number.", saved=False) from None
        if length < 0 or length > MAX_REQUEST_BYTES:
            handler.close_connection = True
            raise ApiError(413, "The request body is too large.", saved=False)
        return handler.rfile.read(length) if length else b""

    def _check_key(self, header: str | None) -> None:
        if not header:
            raise ApiError(
                401,
                "You did not provide an API key. You need to provide your API key in the "
                "Authorization header, using Bearer auth (e.g. 'Authorization: Bearer "
                "YOUR_SECRET_KEY').",
                headers={"WWW-Authenticate": 'Bearer realm="Stripe"'},
                saved=False,
            )
        scheme, _, value = header.partition(" ")
        key = value.strip()
        if scheme.lower() == "basic":  # Stripe takes the key as a Basic user name too
            try:
                key = base64.b64decode(key).decode("utf-8").partition(":")[0]
            except (binascii.Error, UnicodeDecodeError):
                key = ""
        elif scheme.lower() != "bearer":
            key = ""
        if not hmac.compare_digest(key.encode(), self.config.api_key.encode()):
            raise ApiError(
                401,
                f"Invalid API Key provided: {_masked(key)}",
                headers={"WWW-Authenticate": 'Bearer realm="Stripe"'},
                saved=False,
            )

    @staticmethod
    def _params(query: str, body: bytes, method: str) -> dict[str, Any]:
        params = p.decode(query)
        if method == "POST" and body:
            try:
                text = body.decode("utf-8")
            except UnicodeDecodeError:
                raise p.invalid("Invalid request: the body is not UTF-8.") from None
            params.update(p.decode(text))
        return params

    # -- the API ---------------------------------------------------------------------------------

    def _api(
        self, handler: _Handler, method: str, path: str, query: str, body: bytes, request_id: str
    ) -> Answer:
        if self.down:
            raise ApiError(
                500,
                DOWN_MESSAGE,
                type="api_error",
                headers={"Stripe-Should-Retry": "false"},
                saved=False,
            )
        self._check_key(handler.headers.get("Authorization"))
        action, ident = self._route(method, path)
        params = self._params(query, body, method)
        key = handler.headers.get("Idempotency-Key") if method == "POST" else None
        ledger = self.ledger
        with ledger.lock:
            if ledger.run_due():
                ledger.save()
            if key:
                stored = ledger.replay(key, path, params)
                if stored is not None:
                    return (
                        stored["status"],
                        stored["body"].encode("utf-8"),
                        {"Idempotent-Replayed": "true", "Original-Request": stored["request_id"]},
                    )
            try:
                status, payload = action(ident, params)
                data = _encode(payload)
            except ApiError as error:
                if key and error.saved:
                    ledger.remember(
                        key, path, params, error.status, _encode(error.payload()), request_id
                    )
                raise
            if key:
                ledger.remember(key, path, params, status, data, request_id)
        return status, data, {}

    def _route(self, method: str, path: str) -> tuple[Action, str]:
        for allowed, pattern, action in self._routes:
            match = pattern.fullmatch(path)
            if match is not None and method == allowed:
                return action, unquote(match.groupdict().get("id") or "")
        raise ApiError(
            404,
            f"Unrecognized request URL ({method}: {path}). Please see https://stripe.com/docs "
            "or we can help at https://support.stripe.com/.",
            saved=False,
        )

    def _api_routes(self) -> list[tuple[str, re.Pattern[str], Action]]:
        ledger = self.ledger
        one = r"/(?P<id>[^/]+)"

        def retrieve(kind: str) -> Action:
            def action(ident: str, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
                p.reject_unknown(params, {"expand"})
                return 200, ledger.render(ledger.get(kind, ident), p.listing(params, "expand"))

            return action

        def listing(kind: str, url: str, **filters: str) -> Action:
            """A list; each filter names the field a parameter of that name must equal."""
            checks = {name: _equals(field) for name, field in filters.items()}

            def action(ident: str, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
                return 200, ledger.page(kind, params, url, checks)

            return action

        def change(operation: Callable[..., dict[str, Any]], *, with_id: bool = True) -> Action:
            def action(ident: str, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
                record = operation(ident, params) if with_id else operation(params)
                return 200, ledger.render(record, p.listing(params, "expand"))

            return action

        def events(ident: str, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
            filters = {
                "type": lambda record, value: (
                    isinstance(value, str) and _type_matches(record["type"], value)
                ),
                "types": lambda record, value: (
                    isinstance(value, list)
                    and any(_type_matches(record["type"], str(one)) for one in value)
                ),
            }
            return 200, ledger.page("event", params, "/v1/events", filters)

        sessions = "/v1/checkout/sessions"
        return [
            (method, re.compile(pattern), action)
            for method, pattern, action in (
                ("POST", sessions, change(ledger.session_create, with_id=False)),
                (
                    "GET",
                    sessions,
                    listing(
                        "checkout.session",
                        sessions,
                        payment_intent="payment_intent",
                        status="status",
                    ),
                ),
                ("GET", sessions + one, retrieve("checkout.session")),
                ("POST", sessions + one + "/expire", change(ledger.session_expire)),
                ("GET", "/v1/payment_intents", listing("payment_intent", "/v1/payment_intents")),
                ("GET", "/v1/payment_intents" + one, retrieve("payment_intent")),
                ("POST", "/v1/payment_intents" + one + "/capture", change(ledger.intent_capture)),
                ("POST", "/v1/payment_intents" + one + "/cancel", change(ledger.intent_cancel)),
                ("POST", "/v1/refunds", change(ledger.refund_create, with_id=False)),
                (
                    "GET",
                    "/v1/refunds",
                    listing(
                        "refund", "/v1/refunds", payment_intent="payment_intent", charge="charge"
                    ),
                ),
                ("GET", "/v1/refunds" + one, retrieve("refund")),
                (
                    "GET",
                    "/v1/charges",
                    listing("charge", "/v1/charges", payment_intent="payment_intent"),
                ),
                ("GET", "/v1/charges" + one, retrieve("charge")),
                ("GET", "/v1/payment_methods" + one, retrieve("payment_method")),
                ("GET", "/v1/disputes" + one, retrieve("dispute")),
                ("GET", "/v1/events", events),
                ("GET", "/v1/events" + one, retrieve("event")),
            )
        ]

    # -- the test hooks --------------------------------------------------------------------------

    def _hook(self, handler: _Handler, method: str, path: str, query: str, body: bytes) -> Answer:
        self._check_key(handler.headers.get("Authorization"))
        params = self._params(query, body, method)
        ledger = self.ledger
        if path == "/_sandbox/events" and method == "GET":
            events = ledger.objects("event")
            listed = {"object": "list", "url": path, "has_more": False, "data": events}
            return 200, _encode(listed), {}
        if path == "/_sandbox/advance" and method == "POST":
            raw = p.text(params, "seconds")
            try:
                seconds = float(raw or "")
            except ValueError:
                raise p.invalid("seconds must be a number.", "seconds") from None
            if seconds < 0 or seconds != seconds:
                raise p.invalid("seconds cannot be negative.", "seconds")
            now = self.advance(seconds)
            return 200, _encode({"object": "sandbox.clock", "now": now}), {}
        if path == "/_sandbox/down" and method == "POST":
            value = (p.text(params, "down") or "").lower()
            if value not in ("true", "false"):
                raise p.invalid("down must be true or false.", "down")
            self.down = value == "true"
            return 200, _encode({"object": "sandbox.switch", "down": self.down}), {}
        prefix = "/_sandbox/expire_authorization/"
        if path.startswith(prefix) and method == "POST":
            return 200, _encode(self.expire_authorization(unquote(path[len(prefix) :]))), {}
        raise ApiError(404, f"No such test hook: {method} {path}", saved=False)

    # -- the hosted pages ------------------------------------------------------------------------

    def _page(self, method: str, path: str, body: bytes) -> Answer:
        merchant = self.config.merchant_name
        match = re.fullmatch(r"/(pay|3ds)/([^/]+)", path)
        if path == "/" and method == "GET":
            return 200, home_page(merchant).encode(), dict(PAGE_HEADERS)
        if match is None:
            return 404, missing_page(merchant).encode(), dict(PAGE_HEADERS)
        if method not in ("GET", "POST"):
            return 405, b"", {"Allow": "GET, POST", **PAGE_HEADERS}
        form = {}
        if method == "POST":
            fields = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
            form = {name: values[0] for name, values in fields.items()}
        ident = unquote(match[2])
        ledger = self.ledger
        with ledger.lock:
            if ledger.run_due():
                ledger.save()
            try:
                if match[1] == "pay":
                    return self._pay_page(method, ident, form)
                return self._challenge(method, ident, form)
            except ApiError:  # an unknown id
                return 404, missing_page(merchant).encode(), dict(PAGE_HEADERS)

    def _pay_page(self, method: str, ident: str, form: dict[str, str]) -> Answer:
        ledger, merchant = self.ledger, self.config.merchant_name
        session = ledger.get("checkout.session", ident)
        if session["status"] != "open":
            return self._closed(session)
        if method == "GET":
            intent = ledger.session_intent(session)
            error = (
                intent
                and intent["status"] == "requires_payment_method"
                and (intent["last_payment_error"] or {}).get("message")
            )
            return _html(200, pay_page(session, merchant, [error] if error else []))
        name = form.get("name", "")
        card, errors = check_card(
            form.get("card_number", ""),
            form.get("exp", ""),
            form.get("cvc", ""),
            name,
            ledger.clock(),
        )
        if card is None:
            return _html(200, pay_page(session, merchant, errors, name))
        outcome = ledger.submit_card(ident, card)
        if outcome.redirect is not None:
            return _redirect(outcome.redirect)
        if outcome.error is not None:
            return _html(200, pay_page(session, merchant, [outcome.error], name))
        return self._closed(session)

    def _challenge(self, method: str, ident: str, form: dict[str, str]) -> Answer:
        ledger, merchant = self.ledger, self.config.merchant_name
        intent = ledger.get("payment_intent", ident)
        session = ledger.get("checkout.session", intent["_session"])
        waiting = intent["status"] == "requires_action" and session["status"] == "open"
        if method == "GET":
            if not waiting:
                return _redirect(f"{self.public_url}/pay/{session['id']}")
            card = ledger.get("payment_method", intent["payment_method"])["card"]
            return _html(200, challenge_page(session, intent, merchant, card))
        outcome, session = ledger.authenticate(ident, form.get("action", ""))
        if outcome.redirect is not None:
            return _redirect(outcome.redirect)
        return _redirect(f"{self.public_url}/pay/{session['id']}")

    def _closed(self, session: dict[str, Any]) -> Answer:
        merchant = self.config.merchant_name
        if session["status"] == "complete":
            manual = session["payment_status"] == "unpaid"
            message = (
                "Your card is authorized. The amount is only charged if your request is approved."
                if manual
                else "This payment is complete. Thank you."
            )
            link = session["success_url"].replace("{CHECKOUT_SESSION_ID}", session["id"])
        else:
            message = "This payment page has expired. Nothing was charged."
            link = session["cancel_url"]
        page = closed_page(session, merchant, message, link, f"Return to {merchant}")
        return _html(200, page)

    # -- answers ---------------------------------------------------------------------------------

    def _send(self, handler: _Handler, status: int, data: bytes, headers: dict[str, str]) -> None:
        try:
            handler.send_response(status)
            handler.send_header("Content-Length", str(len(data)))
            for name, value in headers.items():
                handler.send_header(name, value)
            if handler.close_connection:
                handler.send_header("Connection", "close")
            handler.end_headers()
            handler.wfile.write(data)
        except (ConnectionError, TimeoutError):  # the client gave up
            handler.close_connection = True


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 64

    def __init__(self, address: tuple[str, int], processor: SandboxProcessor) -> None:
        self.processor = processor
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients hanging up (after a timeout, or on stop) are normal here."""
        if isinstance(sys.exc_info()[1], OSError):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the stripe library's pooled client expects
    server_version = "SandboxProcessor/1"
    timeout = 60  # idle keep-alive connections are closed after this
    disable_nagle_algorithm = True
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.processor._track(self.connection, open_=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.processor._track(self.connection, open_=False)

    def log_message(self, format: str, *args: Any) -> None:
        """No access log: the tests and the demo would drown in it."""

    def _answer(self) -> None:
        self.server.processor._dispatch(self)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _answer


# -- helpers ------------------------------------------------------------------------------------


def _encode(payload: Any) -> bytes:
    return json.dumps(payload, indent=2, ensure_ascii=False).encode("utf-8")


def _html(status: int, page: str) -> Answer:
    return status, page.encode("utf-8"), dict(PAGE_HEADERS)


def _redirect(location: str) -> Answer:
    """A 303 to ``location``, any character a header cannot carry percent-encoded."""
    location = quote(location, safe=";/?:@&=+$,-_.!~*'()#%[]")
    return 303, b"", {"Location": location, **PAGE_HEADERS}


def _masked(key: str) -> str:
    """sk_test_abcdefghijkl1234 → sk_test_************1234, as Stripe shows a wrong key."""
    if len(key) <= 12:
        return "*" * len(key)
    return key[:8] + "*" * (len(key) - 12) + key[-4:]


def _equals(field: str) -> Callable[[dict[str, Any], Any], bool]:
    """A list filter: the record's ``field`` equals the parameter's value."""
    return lambda record, value: record.get(field) == value


def _type_matches(kind: str, pattern: str) -> bool:
    """``charge.*`` matches charge.refunded and charge.dispute.created."""
    if pattern.endswith(".*"):
        return kind.startswith(pattern[:-1])
    return kind == pattern
