"""Leasing use cases, one module per part of a lease's life: opening (``opening``), the
employee's choice at its end (``choice``), the return (``returns``), the buyout
(``buyouts``), the leasing company's settlement (``settlement``) and the daily lease-end job
(``daily``); ``base`` holds who is who, prices and the shared look-ups and locks.

Every status change goes through the device engine (``devices.engine``); every mail through
the outbox, with a dedup key, so a retry or a second run sends nothing twice."""

from ..models import CHOOSABLE
from .base import (
    BuyoutRefused,
    Party,
    arrangement_for,
    buyout_price,
    lease_lock_for,
    leases_close,
    residual,
    return_party,
)
from .buyouts import (
    buyout_checkout,
    buyout_complete,
    buyout_pay_by_salary,
    buyout_payment_changed,
    buyout_record_paid,
    buyout_withdraw,
    buyouts_for_payroll,
)
from .choice import lease_choose, replacement_start
from .daily import DailyReport, leases_daily
from .opening import lease_create, leases_open
from .returns import replacements_delivered, trade_ins_confirm
from .settlement import lease_lock_for_device, lease_record_settlement

__all__ = [
    "CHOOSABLE",
    "BuyoutRefused",
    "DailyReport",
    "Party",
    "arrangement_for",
    "buyout_checkout",
    "buyout_complete",
    "buyout_pay_by_salary",
    "buyout_payment_changed",
    "buyout_price",
    "buyout_record_paid",
    "buyout_withdraw",
    "buyouts_for_payroll",
    "lease_choose",
    "lease_create",
    "lease_lock_for",
    "lease_lock_for_device",
    "lease_record_settlement",
    "leases_close",
    "leases_daily",
    "leases_open",
    "replacement_start",
    "replacements_delivered",
    "residual",
    "return_party",
    "trade_ins_confirm",
]
