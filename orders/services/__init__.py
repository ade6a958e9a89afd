"""Order use cases, one module per area: requests and their approval, orders, cancellation.
Import them from here."""

from .cancellation import Cancellation, order_cancel
from .orders import LineSpec, order_create, order_event, order_place_later, order_update_details
from .requests import (
    request_approve,
    request_reject,
    request_submit,
    request_withdraw,
    requests_settle_payments,
)

__all__ = [
    "Cancellation",
    "LineSpec",
    "order_cancel",
    "order_create",
    "order_event",
    "order_place_later",
    "order_update_details",
    "request_approve",
    "request_reject",
    "request_submit",
    "request_withdraw",
    "requests_settle_payments",
]
