"""The HTTP adapter for the Velory distributor API v1 (docs/distributor-api.md): a pooled
httpx client per partner and process, connect and read timeouts, answers capped in size
and read defensively, one shared request rate per partner. The API key goes in a header and
nowhere else: never into a log line or an error message."""

from __future__ import annotations

import logging
import threading
import time
from datetime import date, datetime

import httpx

from orders.models import order_number

from .base import (
    STATUS_MAP,
    AdapterError,
    FetchResult,
    OrderUpdate,
    Placement,
    ShipmentInfo,
    order_pk,
)
from .ratelimit import RateLimited, RateLimiter

logger = logging.getLogger("velory.distributors")

MAX_BODY_BYTES = 2 * 1024 * 1024  # the API's limit; a larger answer is dropped unread
MAX_IDS_PER_CALL = 100
CONNECT_TIMEOUT = 2.0
MAX_LIMITER_WAIT = 2.5  # seconds a call may wait for the partner's request rate

_clients: dict[tuple, httpx.Client] = {}
_clients_lock = threading.Lock()


def _client(base_url: str, api_key: str, timeout: float) -> httpx.Client:
    """One pooled client per partner configuration and process (keep-alive connections)."""
    key = (base_url, hash(api_key), timeout)
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            client = _clients[key] = httpx.Client(
                base_url=base_url,
                headers={"Authorization": f"Bearer {api_key}", "User-Agent": "Velory/1"},
                timeout=httpx.Timeout(timeout, connect=min(CONNECT_TIMEOUT, timeout)),
                limits=httpx.Limits(max_connections=16, max_keepalive_connections=16),
            )
        return client


class HttpDistributor:
    tracks = True

    def __init__(
        self,
        *,
        name: str,
        base_url: str,
        api_key: str,
        timeout: float = 5.0,
        rate_per_second: int = 10,
        limiter_key: str = "",
    ):
        self.name = name
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.timeout = timeout
        self.limiter = RateLimiter(limiter_key or self.base_url, rate_per_second)

    @classmethod
    def for_connection(cls, connection) -> HttpDistributor:
        return cls(
            name=connection.partner.name,
            base_url=connection.base_url,
            api_key=connection.decrypted_api_key(),
            timeout=connection.timeout_seconds,
            rate_per_second=connection.rate_per_second,
            limiter_key=f"partner:{connection.partner_id}",
        )

    # -- transport ---------------------------------------------------------------------------

    def _call(self, method: str, path: str, **kwargs) -> tuple[int, object]:
        if not self.base_url or not self.api_key:
            raise AdapterError("The partner's API address or key is not set.", retryable=False)
        try:
            # A short wait for this second's slot is fine; a partner's longer "wait" is not
            # slept through here (it would hold the worker, and every other partner's work
            # queued behind it): the caller backs off instead.
            self.limiter.acquire(max_wait=MAX_LIMITER_WAIT)
        except RateLimited as limited:
            raise AdapterError(
                f"{self.name} asked Velory to wait.", retry_after=limited.seconds
            ) from None
        client = _client(self.base_url, self.api_key, self.timeout)
        # The read timeout is per read: a partner dripping its answer byte by byte is cut
        # off by this deadline for the whole call.
        deadline = time.monotonic() + self.timeout * 2 + CONNECT_TIMEOUT
        try:
            with client.stream(method, path, **kwargs) as response:
                body = bytearray()
                for chunk in response.iter_bytes():
                    body += chunk
                    if len(body) > MAX_BODY_BYTES:
                        raise AdapterError("The partner's answer is larger than the API allows.")
                    if time.monotonic() > deadline:
                        raise AdapterError(f"{self.name} took too long to answer.")
                status = response.status_code
                retry_after = response.headers.get("Retry-After")
        except httpx.TimeoutException:
            raise AdapterError(f"{self.name} did not answer within {self.timeout:g} s.") from None
        except httpx.HTTPError as exc:  # transport, protocol, decoding: the call failed
            raise AdapterError(f"Could not reach {self.name}: {type(exc).__name__}.") from None
        if status == 429:
            wait = _seconds(retry_after)
            self.limiter.block_for(wait)
            raise AdapterError(f"{self.name} asks to slow down.", retry_after=wait)
        if status >= 500:
            raise AdapterError(f"{self.name} failed on its side (HTTP {status}).")
        if status in (401, 403):
            raise AdapterError(
                f"{self.name} refused Velory's API key (HTTP {status}).", retryable=False
            )
        try:
            data = _json(bytes(body))
        except (ValueError, RecursionError):
            raise AdapterError(f"{self.name}'s answer could not be read (HTTP {status}).") from None
        if status >= 400:
            message = data.get("error", {}).get("message", "") if isinstance(data, dict) else ""
            raise AdapterError(
                f"{self.name} refused: {message or f'HTTP {status}'}", retryable=False
            )
        return status, data

    # -- the API -----------------------------------------------------------------------------

    def place_order(self, order) -> Placement:
        status, data = self._call("POST", "/v1/orders", json=order_payload(order))
        ref = data.get("partner_ref") if isinstance(data, dict) else None
        if not isinstance(ref, str) or not ref or data.get("order_id") != order.number:
            raise AdapterError(f"{self.name}'s answer to the order could not be read.")
        return Placement(partner_ref=ref[:80], created=status == 201)

    def fetch_updates(self, order_pks: list[int]) -> FetchResult:
        result = FetchResult()
        for start in range(0, len(order_pks), MAX_IDS_PER_CALL):
            chunk = order_pks[start : start + MAX_IDS_PER_CALL]
            _, data = self._call(
                "GET",
                "/v1/orders/status",
                params={"ids": ",".join(order_number(pk) for pk in chunk)},
            )
            if not isinstance(data, dict) or not isinstance(data.get("orders"), list):
                raise AdapterError(f"{self.name}'s status answer could not be read.")
            asked = set(chunk)
            for entry in data["orders"]:
                ident = entry.get("order_id") if isinstance(entry, dict) else None
                try:
                    update = parse_entry(entry, asked)
                except (ValueError, TypeError, KeyError) as why:
                    result.rejected.append((str(ident)[:40], str(why)))
                    logger.warning(
                        "distributor entry rejected partner=%s order=%s reason=%s",
                        self.name,
                        str(ident)[:40],
                        why,
                    )
                    continue
                result.updates.append(update)
            unknown = data.get("unknown") or []
            for ident in unknown if isinstance(unknown, list) else []:
                pk = order_pk(ident) if isinstance(ident, str) else None
                if pk in asked:
                    result.unknown.append(pk)
                    logger.warning(
                        "distributor does not know order partner=%s order=%s", self.name, ident
                    )
        return result


def order_payload(order) -> dict:
    employee = order.employee
    return {
        "order_id": order.number,
        "company": {"name": order.company.name},
        "ship_to": {
            "name": employee.full_name,
            "address": order.delivery_address,
            "email": employee.email,
            "phone": employee.phone,
        },
        "note": order.note,
        "items": [
            {
                "item_id": device.pk,
                "name": device.name,
                "category": device.category,
                "unit_price": str(device.price) if device.price is not None else None,
                "currency": device.currency,
                "leased": device.is_leased,
            }
            # items cancelled before the order went out are not sent
            for device in order.devices.exclude(status="cancelled").order_by("pk")
        ],
    }


# -- reading answers defensively ----------------------------------------------------------------


def _json(body: bytes):
    import json

    return json.loads(body.decode("utf-8"))


def _seconds(value) -> float:
    try:
        return min(max(float(value), 0.0), 300.0)
    except (TypeError, ValueError):
        return 1.0


def _text(value, limit: int, *, required: bool = False) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        raise ValueError("a text field is missing or not text")
    return value.strip()[:limit]


def _date(value) -> date | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise ValueError("a date is not text")
    return date.fromisoformat(value[:10])


def _datetime(value) -> datetime:
    if not isinstance(value, str):
        raise ValueError("a time is not text")
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise ValueError("a time has no offset")
    return moment


def _list(value, what: str) -> list:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValueError(f"{what} is not a list")
    return value


def _status(value) -> str:
    if not isinstance(value, str) or value not in STATUS_MAP:
        raise ValueError(f"unknown status {str(value)[:30]!r}")
    return STATUS_MAP[value]


# Carrier scans taken from one answer for one parcel (a real parcel has a dozen or two).
MAX_EVENTS_PER_ANSWER = 50


def parse_entry(entry, asked: set[int]) -> OrderUpdate:
    """One order of a status answer, checked field by field; ValueError says what is wrong."""
    if not isinstance(entry, dict):
        raise ValueError("an order entry is not an object")
    pk = order_pk(entry.get("order_id"))
    if pk is None or pk not in asked:
        raise ValueError("an order Velory did not ask about")
    version = entry.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or not 0 <= version < 2**31:
        raise ValueError("the version is not a whole number in range")
    items = {}
    for item in _list(entry.get("items"), "items"):
        if not isinstance(item, dict) or not isinstance(item.get("item_id"), int):
            raise ValueError("an item has no item id")
        if "status" in item:
            items[item["item_id"]] = _status(item["status"])
    shipments = []
    for raw in _list(entry.get("shipments"), "shipments"):
        if not isinstance(raw, dict):
            raise ValueError("a shipment is not an object")
        url = _text(raw.get("tracking_url"), 500)
        if url and not url.startswith("https://"):
            raise ValueError("a tracking link is not an https address")
        events = []
        for event in _list(raw.get("events"), "events"):
            if not isinstance(event, dict):
                raise ValueError("a tracking event is not an object")
            events.append(
                (
                    _datetime(event.get("at")),
                    _text(event.get("description"), 300, required=True),
                    _text(event.get("location"), 120),
                )
            )
        if len(events) > MAX_EVENTS_PER_ANSWER:
            # A partner that floods us: the newest scans are the ones that matter.
            logger.warning(
                "partner sent %d tracking events for order %s; kept the newest %d",
                len(events),
                entry.get("order_id"),
                MAX_EVENTS_PER_ANSWER,
            )
            events = sorted(events, key=lambda e: e[0], reverse=True)[:MAX_EVENTS_PER_ANSWER]
        shipments.append(
            ShipmentInfo(
                carrier=_text(raw.get("carrier"), 80, required=True),
                tracking_number=_text(raw.get("tracking_number"), 80),
                tracking_url=url,
                status_text=_text(raw.get("status_text"), 200),
                expected_delivery=_date(raw.get("expected_delivery")),
                events=tuple(events),
                exception=_text(raw.get("exception"), 200),
            )
        )
    updated = entry.get("updated_at")
    return OrderUpdate(
        order_pk=pk,
        status=_status(entry.get("status")),
        raw_status=entry["status"],
        version=version,
        updated_at=_datetime(updated) if updated else None,
        expected_delivery=_date(entry.get("expected_delivery")),
        item_statuses=items,
        shipments=tuple(shipments),
    )
