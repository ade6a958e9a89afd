"""The adapter interface and the values that cross it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Protocol

from devices.models import DeviceStatus
from orders.models import ORDER_PREFIX
from orders.models import order_pk as _order_pk

S = DeviceStatus

# The partner's status names (docs/distributor-api.md) and Velory's.
STATUS_MAP = {
    "received": S.NOT_STARTED,
    "processing": S.PREPARING,
    "on_hold": S.ON_HOLD,
    "backordered": S.BACKORDERED,
    "shipped": S.SHIPPED,
    "delivered": S.DELIVERED,
    "cancelled": S.CANCELLED,
}


def order_pk(number: str) -> int | None:
    """A partner's order id (VO-000123) → 123; None for anything else (the prefix is
    required on the wire)."""
    if not isinstance(number, str) or not number.startswith(ORDER_PREFIX):
        return None
    return _order_pk(number)


class AdapterError(Exception):
    """A call to the partner that failed. ``retryable``: a later call may work (timeouts,
    5xx, 429, an answer we could not read); ``retry_after``: the partner said when."""

    def __init__(self, message: str, *, retryable: bool = True, retry_after: float | None = None):
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after


@dataclass(frozen=True)
class Placement:
    partner_ref: str
    created: bool


@dataclass(frozen=True)
class ShipmentInfo:
    carrier: str
    tracking_number: str = ""
    tracking_url: str = ""
    status_text: str = ""
    expected_delivery: date | None = None
    events: tuple = ()  # (datetime, description, location)
    exception: str = ""  # the carrier's delivery exception; empty: none


@dataclass(frozen=True)
class OrderUpdate:
    """What the partner says about one order."""

    order_pk: int
    status: str  # a Velory DeviceStatus
    raw_status: str
    version: int
    updated_at: datetime | None = None
    expected_delivery: date | None = None
    item_statuses: dict = field(default_factory=dict)  # device id → DeviceStatus
    shipments: tuple = ()


@dataclass
class FetchResult:
    updates: list[OrderUpdate] = field(default_factory=list)
    unknown: list[int] = field(default_factory=list)  # orders the partner never heard of
    rejected: list[tuple[str, str]] = field(default_factory=list)  # (order id, why)


class Distributor(Protocol):
    tracks: bool
    name: str

    def place_order(self, order) -> Placement: ...

    def fetch_updates(self, order_pks: list[int]) -> FetchResult: ...
