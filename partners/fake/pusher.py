"""The fake distributor's push mode: instead of waiting to be polled, it tells Velory what
happened, through the partner push API (docs/partner-api.md), as a partner's own system
would. Standard library only, like the rest of the fake.

Every ``push_interval`` seconds it looks at the orders placed with the key ``push_for``
and sends what changed since it last said so: ``POST orders/{id}/accept/`` for an order
it has just received, ``POST updates/`` (items of up to ``BATCH_ITEMS``, with their serial
numbers once shipped, and the parcel with its scans) for the rest. Each write carries an
``Idempotency-Key`` made from its body, so a write retried after a timeout is answered
from Velory's record and applied once. It honours ``Retry-After`` on a 429, backs off on
errors and network failures, and marks a change as said once Velory answered it (200, or
409: refused by the lifecycle, which no retry would change)."""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
import urllib.error
import urllib.request
from typing import Any

logger = logging.getLogger("velory.fake.pusher")

# The distributor API's names → the push API's (docs/partner-api.md, "Status names").
PUSH_STATUS = {
    "processing": "preparing",
    "shipped": "shipped",
    "delivered": "delivered",
    "on_hold": "on_hold",
    "backordered": "backordered",
    "cancelled": "cancelled",
}
BATCH_ITEMS = 100
TIMEOUT = 10.0
MAX_BACKOFF = 30.0


def serial_number(order_id: str, item_id: int) -> str:
    """A stable serial number per item, as the partner's warehouse scans it."""
    digest = hashlib.sha256(f"{order_id}:{item_id}".encode()).hexdigest()
    return "FJ" + digest[:10].upper()


class Pusher:
    """Pushes one key's orders to Velory. ``push_once()`` does one round (the tests call it
    with their clock moved); ``start()`` runs rounds in a daemon thread until ``stop()``."""

    def __init__(self, simulation, config) -> None:
        self.simulation = simulation
        self.config = config
        self._said: dict[str, tuple[int, str]] = {}  # order id → (version, status) pushed
        self._wait_until = 0.0
        self._failures = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.sent: list[dict[str, Any]] = []  # (path, status) of every write, for the stats
        self._lock = threading.Lock()

    # -- running ---------------------------------------------------------------------------------

    def start(self) -> Pusher:
        self._thread = threading.Thread(target=self._run, name="fake-pusher", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=TIMEOUT + 1)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.wait(max(self.config.push_interval, 0.05)):
            try:
                self.push_once()
            except Exception:  # a bug here must not end the thread: log it, go on
                logger.exception("push round failed")

    # -- one round -------------------------------------------------------------------------------

    def push_once(self) -> dict[str, int]:
        """Send what changed since the last round; returns counts of what was said."""
        counts = {"accepted": 0, "updated": 0, "failed": 0}
        key = self._key()
        if not key or not self.config.push_url or time.time() < self._wait_until:
            return counts
        with self._lock:
            now = self.config.clock()
            changed = []
            for record in self.simulation.orders_for(self.config.push_for or ""):
                entry = self.simulation.entry(record, now)
                mark = (entry["version"], entry["status"])
                if self._said.get(entry["order_id"]) != mark:
                    changed.append((entry, mark))
            to_accept = [(e, m) for e, m in changed if e["status"] == "received"]
            to_update = [(e, m) for e, m in changed if e["status"] != "received"]
            for entry, mark in to_accept:
                answer = self._post(key, f"orders/{entry['order_id']}/accept/", None)
                if answer is None:
                    counts["failed"] += 1
                    return counts
                self._said[entry["order_id"]] = mark
                counts["accepted"] += 1
            for batch in _batches(to_update):
                body = {
                    "items": [item for entry, _ in batch for item in _items(entry)],
                    "shipments": [s for entry, _ in batch for s in _shipments(entry)],
                }
                answer = self._post(key, "updates/", body)
                if answer is None:
                    counts["failed"] += len(batch)
                    return counts
                for entry, mark in batch:
                    self._said[entry["order_id"]] = mark
                counts["updated"] += len(batch)
        return counts

    def _key(self) -> str:
        if self.config.push_key:
            return self.config.push_key
        path = self.config.push_key_file
        if not path:
            return ""
        try:
            with open(path, encoding="utf-8") as handle:
                return handle.read().strip()
        except OSError:
            return ""  # not made yet (seed_demo writes it): wait quietly

    def _post(self, key: str, path: str, body: dict | None) -> dict | None:
        """One write; the answer's JSON when Velory answered it for good (200, 404, 409),
        None when it should be tried again later (the wait is set)."""
        data = json.dumps(body if body is not None else {}, sort_keys=True).encode()
        idempotency = "fake-" + hashlib.sha256(path.encode() + b"\n" + data).hexdigest()[:40]
        request = urllib.request.Request(  # noqa: S310 (http(s) URL of the config)
            self.config.push_url.rstrip("/") + "/" + path,
            data=data,
            method="POST",
            headers={
                "Authorization": f"Bearer {key}",
                "Content-Type": "application/json",
                "Idempotency-Key": idempotency,
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT) as response:  # noqa: S310
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, raw = error.code, error.read()
            if status == 429:
                self._pause(_retry_after(error.headers.get("Retry-After")), status, path)
                return None
            if status in (404, 409):  # not ours (any more), or refused: saying it again won't help
                self._record(path, status)
                self._failures = 0
                return _json(raw)
            self._pause(self._backoff(), status, path)
            return None
        except (OSError, ValueError) as error:  # refused, reset, timed out
            self._pause(self._backoff(), str(error), path)
            return None
        self._record(path, status)
        self._failures = 0
        return _json(raw)

    def _backoff(self) -> float:
        self._failures += 1
        return min(2.0 ** (self._failures - 1), MAX_BACKOFF)

    def _pause(self, seconds: float, why, path: str) -> None:
        self._wait_until = time.time() + seconds
        self._record(path, why)
        logger.warning("push to %s: %s; next try in %.1f s", path, why, seconds)

    def _record(self, path: str, status) -> None:
        self.sent.append({"path": path, "status": status})
        del self.sent[:-1000]


def _batches(changed: list) -> list[list]:
    batches, batch, size = [], [], 0
    for entry, mark in changed:
        n = len(entry["items"])
        if batch and size + n > BATCH_ITEMS:
            batches.append(batch)
            batch, size = [], 0
        batch.append((entry, mark))
        size += n
    if batch:
        batches.append(batch)
    return batches


def _items(entry: dict[str, Any]) -> list[dict[str, Any]]:
    items = []
    for item in entry["items"]:
        status = PUSH_STATUS.get(item["status"])
        if status is None:
            continue
        pushed: dict[str, Any] = {"item_id": item["item_id"], "status": status}
        if status in ("shipped", "delivered"):
            pushed["serial_number"] = serial_number(entry["order_id"], item["item_id"])
        items.append(pushed)
    return items


def _shipments(entry: dict[str, Any]) -> list[dict[str, Any]]:
    shipments = []
    for shipment in entry["shipments"][:1]:  # one parcel per order in the push API
        pushed = {"order_id": entry["order_id"], **shipment}
        shipments.append(pushed)
    return shipments


def _retry_after(value: str | None) -> float:
    try:
        return min(max(float(value or 1), 0.1), 60.0)
    except ValueError:
        return 1.0


def _json(raw: bytes) -> dict:
    try:
        data = json.loads(raw or b"{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
