"""The simulated partner behind the fake distributor: the orders it was given (per API key),
how each moves through received → processing → shipped → delivered on a schedule of
``step_seconds`` by its clock, the version and tracking number each answer carries, and the
state file that keeps the orders across restarts. No HTTP and no misbehaviour here: the
server (``server.py``) asks, the switches (``faults.py``) distort the answers."""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import os
import tempfile
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol

PROGRESSION = ("received", "processing", "shipped", "delivered")
STATUSES = (*PROGRESSION, "on_hold", "backordered", "cancelled")
MAX_ORDER_ID_LENGTH = 64
CARRIER = "PostNord"
STATE_FORMAT = 1
FIRST_REF = 100001


EXCEPTION_TEXT = "No one was at the address; the carrier tries again on the next working day"


class Settings(Protocol):
    """What the simulation reads of the fake's configuration (FakeConfig), at every use."""

    step_seconds: float
    state_file: str | None
    clock: Callable[[], float]
    exception_rate: float


class InvalidOrder(ValueError):
    """An order (posted or loaded) the fake cannot accept; the API answers 422."""


class Simulation:
    """The orders of every API key and what they look like at any moment of the clock. One
    lock guards the orders, the partner refs and the state file, which is read at
    construction."""

    def __init__(self, config: Settings) -> None:
        self.config = config
        self._lock = threading.Lock()  # orders, partner refs, the state file
        self._orders: dict[str, dict[str, dict[str, Any]]] = {}
        self._next_ref = FIRST_REF
        self._load_state()

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

    def count(self) -> int:
        """The stored orders of all keys."""
        with self._lock:
            return sum(len(stored) for stored in self._orders.values())

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

    # -- the API's operations, past the request checks --------------------------------------------

    def place(self, key: str, data: Any) -> tuple[bool, dict[str, Any]]:
        """Take a posted order (InvalidOrder if it is not one): (whether it is new, the
        answer). Idempotent on the order id: a retry gets the same order."""
        record = _validate_order(data, allow_status=False)
        with self._lock:
            stored = self._orders.setdefault(key, {})
            existing = stored.get(record["order_id"])
            if existing is None:
                record["partner_ref"] = self._new_ref()
                record["placed_at"] = self.config.clock()
                stored[record["order_id"]] = record
                self._save_locked()
            current = existing or record
            status, _, _ = self.progress(current, self.config.clock())
            answer = {
                "order_id": current["order_id"],
                "partner_ref": current["partner_ref"],
                "status": status,
                "accepted_at": _iso(current["placed_at"]),
            }
        return existing is None, answer

    def lookup(self, key: str, ids: list[str]) -> tuple[list[dict[str, Any]], list[str], float]:
        """(the entries of the known ``ids``, the unknown ids, the moment of the answer)."""
        with self._lock:
            stored = self._orders.get(key, {})
            now = self.config.clock()
            entries = [self.entry(stored[ident], now) for ident in ids if ident in stored]
            unknown = [ident for ident in ids if ident not in stored]
        return entries, unknown, now

    def changes(
        self, key: str, after: tuple[float, str] | None, limit: int
    ) -> tuple[list[dict[str, Any]], tuple[float, str] | None, bool]:
        """The entries of the orders that changed after the position ``after`` (updated_at,
        order id; None: from the start), at most ``limit``: (entries, the position of the
        last one or None, whether more follow)."""
        with self._lock:
            now = self.config.clock()
            rows = []
            for record in self._orders.get(key, {}).values():
                position = (self.progress(record, now)[2], record["order_id"])
                if after is None or position > after:
                    rows.append((position, record))
            rows.sort(key=lambda row: row[0])
            page = rows[:limit]
            entries = [self.entry(record, now) for _, record in page]
        return entries, (page[-1][0] if page else None), len(rows) > limit

    # -- what an order looks like now ------------------------------------------------------------

    def progress(self, record: dict[str, Any], now: float) -> tuple[str, int, float]:
        """(status, version, updated_at) of an order at ``now``."""
        placed = record["placed_at"]
        fixed = record.get("status")
        if fixed:
            version = PROGRESSION.index(fixed) + 1 if fixed in PROGRESSION else 1
            return fixed, version, placed
        step = self.config.step_seconds
        stage = max(0, min(int((now - placed) / step), 3))
        if stage == 3 and self.meets_exception(record):
            # the attempt to deliver failed: still Shipped, a new version with the exception
            return "shipped", 4, placed + 3 * step
        return PROGRESSION[stage], stage + 1, placed + stage * step

    def meets_exception(self, record: dict[str, Any]) -> bool:
        """Whether this order's parcel meets a delivery exception (a share
        ``exception_rate`` of orders, the same ones every time)."""
        rate = getattr(self.config, "exception_rate", 0) or 0
        if rate <= 0 or record.get("status"):
            return False
        digest = hashlib.sha256(("exception:" + record["order_id"]).encode()).hexdigest()
        return int(digest[:8], 16) / 2**32 < rate

    def entry(self, record: dict[str, Any], now: float) -> dict[str, Any]:
        """The order as the status and changes answers show it."""
        status, version, updated = self.progress(record, now)
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
            status_text = "Delivered" if status == "delivered" else "In transit"
            exception = version == 4 and status == "shipped"
            if status == "delivered":
                events.append(
                    {"at": _iso(deliver_at), "description": "Delivered", "location": "Stockholm"}
                )
            elif exception:
                events.append(
                    {
                        "at": _iso(deliver_at),
                        "description": "Delivery attempt failed",
                        "location": "Stockholm",
                    }
                )
                status_text = "Delivery exception"
            shipment = {
                "carrier": CARRIER,
                "tracking_number": number,
                "tracking_url": f"https://tracking.postnord.com/se/?id={number}",
                "status_text": status_text,
                "expected_delivery": expected,
                "events": events,
            }
            if exception:
                shipment["exception"] = EXCEPTION_TEXT
            shipments.append(shipment)
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


# -- helpers ------------------------------------------------------------------------------------


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


def format_cursor(updated_at: float, order_id: str) -> str:
    """``c-<updated_at epoch seconds>~<order id>``: the position of the last change given.
    The order id breaks ties between orders that changed at the same moment."""
    return f"c-{updated_at!r}~{order_id}"


def parse_cursor(cursor: str) -> tuple[float, str] | None:
    """None for the first call (empty); ``c-<seconds>`` alone is accepted too. ValueError
    for anything else than a cursor of format_cursor()."""
    if not cursor:
        return None
    if not cursor.startswith("c-"):
        raise ValueError(cursor)
    seconds, _, order_id = cursor[2:].partition("~")
    moment = float(seconds)
    if moment != moment:  # NaN
        raise ValueError(cursor)
    return moment, order_id
