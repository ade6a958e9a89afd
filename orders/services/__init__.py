"""Order use cases, one module per area; import them from here."""

from .cancellation import Cancellation, order_cancel
from .dispatch import NEEDS_REASON, NEEDS_SHIPMENT, devices_apply
from .lifecycle import *  # noqa: F403
from .lifecycle import __all__ as _lifecycle
from .partners import (
    order_dispatch,
    order_dispatch_retry,
    orders_dispatch_due,
    partner_poll,
    tracking_apply,
)
from .requests import (
    Quote,
    request_approve,
    request_quote,
    request_reject,
    request_submit,
    request_withdraw,
    requests_settle_payments,
)

__all__ = [
    *_lifecycle,
    "Cancellation",
    "NEEDS_REASON",
    "NEEDS_SHIPMENT",
    "devices_apply",
    "order_dispatch",
    "order_dispatch_retry",
    "orders_dispatch_due",
    "partner_poll",
    "tracking_apply",
    "Quote",
    "order_cancel",
    "request_approve",
    "request_quote",
    "request_reject",
    "request_submit",
    "request_withdraw",
    "requests_settle_payments",
]
