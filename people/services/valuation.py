"""What a leaver's device is worth on their exit date: the price they buy it out at.

- A leased device: the leasing company's residual value (the lease's own buyout price,
  else the arrangement's share of the price), as for any lease buyout.
- A company-owned device: its price, less a straight line over the company's useful life
  from the day it was received (or registered), never below the company's floor."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from django.utils.translation import gettext as _

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
        return Value(None, device.currency or company.currency, _("No price is recorded for it."))
    start = device.received_on or device.created_at.date()
    life = company.useful_life_months
    end = add_months(start, life)
    used = min(max((on - start).days, 0) / max((end - start).days, 1), 1)
    floor = company.depreciation_floor_percent / 100
    share = max(Decimal(1) - Decimal(str(used)), floor)
    amount = (device.price * share).quantize(CENT, rounding=ROUND_HALF_UP)
    months = max(round(used * life), 0)
    values = {"months": months, "life": life, "floor": f"{company.depreciation_floor_percent:g}"}
    if share == floor:
        # Translators: %(floor)s is the company's lowest value as a percentage (%% is "%").
        how = _(
            "Its price less %(months)s of %(life)s months of use, at least %(floor)s%% of the "
            "price."
        )
    else:
        how = _("Its price less %(months)s of %(life)s months of use.")
    how = how % values
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
                # Translators: %(lessor)s is the leasing company's name.
                _("The residual value %(lessor)s asks at the lease's end.")
                % {"lessor": lease.leasing_company.name},
            )
    return owned_value(device, on)
