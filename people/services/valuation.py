"""What a leaver's device is worth on their exit date: the price they buy it out at.

- A leased device: the leasing company's residual value (the lease's own buyout price,
  else the arrangement's share of the price), as for any lease buyout.
- A company-owned device: its price, less a straight line over the company's useful life
  from the day it was received (or registered), never below the company's floor."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from core.dates import add_months
from devices.models import Device
from leasing.services import arrangement_for, buyout_price

CENT = Decimal("0.01")


@dataclass(frozen=True)
class Value:
    amount: Decimal | None  # None: no price is known (a device registered without one)
    currency: str
    how: str  # in words, shown before the choice


def owned_value(device: Device, on: date) -> Value:
    company = device.company
    if device.price is None:
        return Value(None, device.currency or company.currency, "No price is recorded for it.")
    start = device.received_on or device.created_at.date()
    life = company.useful_life_months
    end = add_months(start, life)
    used = min(max((on - start).days, 0) / max((end - start).days, 1), 1)
    floor = company.depreciation_floor_percent / 100
    share = max(Decimal(1) - Decimal(str(used)), floor)
    amount = (device.price * share).quantize(CENT, rounding=ROUND_HALF_UP)
    months = max(round(used * life), 0)
    how = (
        f"Its price less {months} of {life} months of use"
        + (
            f", at least {company.depreciation_floor_percent:g}% of the price"
            if share == floor
            else ""
        )
        + "."
    )
    return Value(amount, device.currency or company.currency, how)


def device_value(device: Device, on: date) -> Value:
    """The buyout price of a leaver's device on ``on`` (their exit date)."""
    if device.is_leased:
        lease = getattr(device, "lease", None)
        if lease is not None:
            arrangement = arrangement_for(device.company_id, lease.leasing_company_id)
            return Value(
                buyout_price(lease, arrangement),
                lease.currency,
                f"The residual value {lease.leasing_company.name} asks at the lease's end.",
            )
    return owned_value(device, on)
