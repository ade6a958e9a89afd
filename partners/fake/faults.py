"""The fake distributor's configuration (FakeConfig) and its misbehaviour switches: latency,
hangs, 503s, answers cut in half, unknown status names, orders nobody asked for, and 429s
(a per-key rate limit or at random). Each switch fires for a share of requests (or order
entries) decided with one ``random.Random(seed)``, drawn in a fixed order so that a seed
gives the same run every time. Also the counts behind the stats, kept under the lock of the
per-key rate limit: requests, the peak per second, answers by status, the switches that
fired."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

UNKNOWN_STATUS = "teleported"  # a name outside the API's table (--unknown-status-rate)
STRANGER_ID = "VO-999999"  # the order nobody asked for (--stranger-rate)


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
    # A share of orders whose parcel meets a delivery exception instead of being delivered
    # (decided per order id, so the same orders every time).
    exception_rate: float = 0
    # Push mode (pusher.py): the orders placed with key ``push_for`` are pushed to the
    # Velory partner API at ``push_url`` with the key ``push_key`` (or the one in
    # ``push_key_file``, read at every round) instead of waiting to be polled.
    push_url: str | None = None
    push_for: str | None = None
    push_key: str | None = None
    push_key_file: str | None = None
    push_interval: float = 1.0


class Refusal(NamedTuple):
    """The error answer a switch sends instead of the real one."""

    status: int
    code: str
    message: str
    headers: dict[str, str]


class Faults:
    """The switches of one fake and the counts behind its stats. ``config`` is read at every
    request (a change applies at once); ``cut_short()`` ends latency and hangs (on stop)."""

    def __init__(self, config: FakeConfig) -> None:
        self.config = config
        self._rng = random.Random(config.seed)  # noqa: S311 (misbehaviour, not secrets)
        self._rng_lock = threading.Lock()
        self._lock = threading.Lock()  # the counts and the rate-limit windows
        self._requests = 0
        self._responses: dict[str, int] = {}
        self._misbehaved: dict[str, int] = {}  # the switches that fired, by name
        self._second = -1
        self._second_count = 0
        self._peak_rps = 0
        self._key_windows: dict[str, list[int]] = {}  # key → [wall-clock second, requests]
        self._stopping = threading.Event()  # cuts latency and hangs short on stop()

    def cut_short(self) -> None:
        """End any latency or hang now, and wait no more from now on."""
        self._stopping.set()

    # -- the switches, in the order a /v1 request meets them -------------------------------------

    def delay(self) -> None:
        """The latency, before anything else (even the check of the API key)."""
        if self.config.latency_ms > 0:
            self._stopping.wait(self.config.latency_ms / 1000)

    def before_answer(self, key: str) -> Refusal | None:
        """The switches between the check of the API key and the answer, in order: the
        per-key rate limit, throttling and 503s (a Refusal to send instead), then a hang (a
        wait, after which the real answer follows)."""
        config = self.config
        if config.rate_limit > 0 and not self._within_rate_limit(key):
            self._tally("over rate limit")
            return Refusal(
                429,
                "rate_limited",
                f"More than {config.rate_limit} requests per second.",
                {"Retry-After": "1"},
            )
        if self.chance(config.throttle_rate):
            self._tally("throttled")
            return Refusal(429, "throttled", "Too many requests, slow down.", {"Retry-After": "1"})
        if self.chance(config.error_rate):
            self._tally("5xx")
            return Refusal(503, "unavailable", "The service is temporarily unavailable.", {})
        if self.chance(config.hang_rate):
            self._tally("hang")
            self._stopping.wait(config.hang_seconds)
        return None

    def unknown_status(self, entry: dict[str, Any]) -> dict[str, Any]:
        """The entry, its status names replaced by one outside the API's table for a share
        ``unknown_status_rate`` of entries."""
        if self.chance(self.config.unknown_status_rate):
            entry["status"] = UNKNOWN_STATUS
            for item in entry["items"]:
                item["status"] = UNKNOWN_STATUS
        return entry

    def stranger(
        self,
        asked: list[str],
        now: float,
        entry: Callable[[dict[str, Any], float], dict[str, Any]],
    ) -> dict[str, Any] | None:
        """For a share ``stranger_rate`` of status answers that did not ask for it: a
        valid-looking order nobody asked for (a partner mixing up its customers), shown by
        ``entry`` (the simulation's); else None."""
        if not (self.chance(self.config.stranger_rate) and STRANGER_ID not in asked):
            return None
        record = {
            "order_id": STRANGER_ID,
            "partner_ref": "FD-999999",
            "placed_at": now - 1.5 * self.config.step_seconds,
            "items": [{"item_id": 999999}],
        }
        return entry(record, now)

    def malformed(self, data: bytes) -> bytes:
        """The encoded answer, cut in half for a share ``malformed_rate`` of answers."""
        if self.chance(self.config.malformed_rate):
            self._tally("malformed")
            data = data[: max(1, len(data) // 2)]  # a cut-off object is never valid JSON
        return data

    # -- chance and tallies ----------------------------------------------------------------------

    def chance(self, rate: float) -> bool:
        """True for a share ``rate`` of calls (no draw for 0 or 1, to keep seeds stable)."""
        if rate <= 0:
            return False
        if rate >= 1:
            return True
        with self._rng_lock:
            return self._rng.random() < rate

    def _tally(self, switch: str) -> None:
        with self._lock:
            self._misbehaved[switch] = self._misbehaved.get(switch, 0) + 1

    def _within_rate_limit(self, key: str) -> bool:
        """Count this request in the key's wall-clock second (real time, not the fake clock:
        the limit protects the server, whose seconds are real)."""
        second = int(time.time())
        with self._lock:
            window = self._key_windows.setdefault(key, [second, 0])
            if window[0] != second:
                window[:] = [second, 0]
            window[1] += 1
            return window[1] <= self.config.rate_limit

    # -- the counts behind the stats -------------------------------------------------------------

    def count_request(self) -> None:
        """Count a request on the API (everything but /_fake/), in its wall-clock second."""
        second = int(time.time())
        with self._lock:
            self._requests += 1
            if second != self._second:
                self._second, self._second_count = second, 0
            self._second_count += 1
            self._peak_rps = max(self._peak_rps, self._second_count)

    def count_response(self, status: int) -> None:
        with self._lock:
            code = str(status)
            self._responses[code] = self._responses.get(code, 0) + 1

    def counts(self) -> dict[str, Any]:
        """requests, peak_rps, responses (by HTTP status) and misbehaved (by switch)."""
        with self._lock:
            return {
                "requests": self._requests,
                "peak_rps": self._peak_rps,
                "responses": dict(sorted(self._responses.items())),
                "misbehaved": dict(sorted(self._misbehaved.items())),
            }
