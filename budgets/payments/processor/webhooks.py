"""Webhooks as Stripe sends them: each event POSTed as JSON with ``Stripe-Signature:
t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`` (what ``stripe.Webhook.construct_event``
verifies), from a thread of its own so that the API never waits for a receiver. A failed
delivery (no connection, a timeout, an answer that is not 2xx) is tried again after 1, 2,
4 … 60 seconds, at most WEBHOOK_TRIES times; later events go out meanwhile (Stripe does not
promise order either)."""

from __future__ import annotations

import contextlib
import hashlib
import heapq
import hmac
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

from .config import WEBHOOK_MAX_BACKOFF, WEBHOOK_TIMEOUT, WEBHOOK_TRIES

USER_AGENT = "Stripe/1.0 (+https://stripe.com/docs/webhooks)"


def signature_header(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    """``t=<timestamp>,v1=<signature>`` for ``payload`` (now, unless ``timestamp``)."""
    if timestamp is None:
        timestamp = int(time.time())
    signed = f"{timestamp}.".encode() + payload
    digest = hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def encode_event(event: dict[str, Any]) -> bytes:
    return json.dumps(event, indent=2, ensure_ascii=False).encode("utf-8")


def backoff(tries: int) -> float:
    """Seconds to wait after the ``tries``-th failed try: 1, 2, 4 … at most 60."""
    return min(2.0 ** (tries - 1), WEBHOOK_MAX_BACKOFF)


class Deliverer:
    """Sends events to one URL. ``on_result(event_id, ok)`` hears when an event was
    delivered (ok) or given up; ``attempts`` logs every try as (event id, HTTP status or
    the error's name)."""

    def __init__(
        self,
        url: str,
        secret: str,
        on_result: Callable[[str, bool], None],
        *,
        tries: int = WEBHOOK_TRIES,
        timeout: float = WEBHOOK_TIMEOUT,
    ) -> None:
        self.url = url
        self.secret = secret
        self.on_result = on_result
        self.tries = tries
        self.timeout = timeout
        self.attempts: list[tuple[str, int | str]] = []
        self._queue: list[tuple[float, int, str, bytes, int]] = []  # due, order, id, body, tries
        self._order = 0
        self._condition = threading.Condition()
        self._stopping = False
        self._thread: threading.Thread | None = None
        # Webhooks to this machine must not go through a proxy of the environment.
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def enqueue(self, event: dict[str, Any]) -> None:
        """Send ``event`` as soon as possible (never waits)."""
        body = encode_event(event)
        with self._condition:
            self._push(time.monotonic(), event["id"], body, 0)
            self._condition.notify()

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name="sandbox-processor-webhooks", daemon=True
            )
            self._thread.start()

    def stop(self) -> None:
        with self._condition:
            self._stopping = True
            self._condition.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=self.timeout + 1)
            self._thread = None

    def idle(self) -> bool:
        """Nothing is waiting to be sent or tried again."""
        with self._condition:
            return not self._queue

    def _push(self, due: float, ident: str, body: bytes, tries: int) -> None:
        self._order += 1
        heapq.heappush(self._queue, (due, self._order, ident, body, tries))

    def _run(self) -> None:
        while True:
            with self._condition:
                while not self._stopping:
                    if self._queue and self._queue[0][0] <= time.monotonic():
                        break
                    wait = self._queue[0][0] - time.monotonic() if self._queue else None
                    self._condition.wait(wait)
                if self._stopping:
                    return
                _, _, ident, body, tries = heapq.heappop(self._queue)
            ok = self._send(ident, body)
            tries += 1
            if ok or tries >= self.tries:
                with contextlib.suppress(Exception):  # the books may be gone (stopped)
                    self.on_result(ident, ok)
                continue
            with self._condition:
                self._push(time.monotonic() + backoff(tries), ident, body, tries)

    def _send(self, ident: str, body: bytes) -> bool:
        request = urllib.request.Request(  # noqa: S310 (the configured webhook URL)
            self.url,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json; charset=utf-8",
                "Stripe-Signature": signature_header(body, self.secret),
                "User-Agent": USER_AGENT,
            },
        )
        try:
            with self._opener.open(request, timeout=self.timeout) as answer:
                answer.read()
                status: int | str = answer.status
        except urllib.error.HTTPError as error:
            status = error.code
            error.close()
        except (OSError, ValueError) as error:  # refused, reset, timed out, a bad URL
            status = type(error).__name__
        self.attempts.append((ident, status))
        return isinstance(status, int) and 200 <= status < 300
