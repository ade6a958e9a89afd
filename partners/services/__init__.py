"""Working with partners: placing approved orders (``placing``), following their tracking
(``polling``) and applying what they report (``applying``). Import them from here."""

from .applying import ApplyReport, tracking_apply
from .connections import connections_rotate_keys
from .placing import MAX_PLACE_ATTEMPTS, order_place, order_place_retry, orders_place_due
from .polling import (
    MAX_TASKS_PER_PARTNER,
    POLL_CHUNK,
    PollReport,
    partner_poll,
    partners_due,
)

__all__ = [
    "MAX_PLACE_ATTEMPTS",
    "MAX_TASKS_PER_PARTNER",
    "POLL_CHUNK",
    "ApplyReport",
    "PollReport",
    "connections_rotate_keys",
    "order_place",
    "order_place_retry",
    "orders_place_due",
    "partner_poll",
    "partners_due",
    "tracking_apply",
]
