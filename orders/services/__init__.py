"""Order use cases, one module per area: requests and their approval, orders, cancellation,
and what the card processor's reports mean for requests and buyouts (payments).
Import them from here."""

from .alerts import AlertReport, order_alerts_sweep
from .cancellation import Cancellation, order_cancel
from .orders import LineSpec, order_create, order_event, order_place_later, order_update_details
from .payments import (
    EventRefused,
    event_process,
    events_receive,
    payment_decision_run,
    payment_report,
    payment_resume,
    payment_returned,
    payment_sync,
    payments_reconcile,
    payments_sweep,
)
from .requests import (
    fail_request,
    request_approve,
    request_reject,
    request_submit,
    request_withdraw,
)

__all__ = [
    "AlertReport",
    "Cancellation",
    "EventRefused",
    "LineSpec",
    "event_process",
    "events_receive",
    "fail_request",
    "order_alerts_sweep",
    "order_cancel",
    "order_create",
    "order_event",
    "order_place_later",
    "order_update_details",
    "payment_decision_run",
    "payment_report",
    "payment_resume",
    "payment_returned",
    "payment_sync",
    "payments_reconcile",
    "payments_sweep",
    "request_approve",
    "request_reject",
    "request_submit",
    "request_withdraw",
]
