"""Leasing use cases."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction

from companies.models import LeasingCompany, Partner
from companies.services import profiles_touch
from devices.models import Device
from velory.dates import add_months

from .models import Lease


@transaction.atomic
def lease_create(
    *,
    device: Device,
    leasing_company: LeasingCompany,
    starts_on: date,
    months: int,
    monthly_price: Decimal,
    currency: str,
    partner: Partner | None = None,
    buyout_price: Decimal | None = None,
) -> Lease:
    """Open the lease of a leased device (when it is received, or registered by hand).
    A device has one lease: asking again returns it unchanged."""
    if not device.is_leased:
        raise ValidationError(f"{device.name} is not leased.")
    if months <= 0 or monthly_price < 0:
        raise ValidationError("A lease runs for at least a month at a price of zero or more.")
    lease, created = Lease.objects.get_or_create(
        device=device,
        defaults={
            "leasing_company": leasing_company,
            "partner": partner,
            "starts_on": starts_on,
            "ends_on": add_months(starts_on, months),
            "monthly_price": monthly_price,
            "buyout_price": buyout_price,
            "currency": currency,
        },
    )
    if created:
        profiles_touch([device.owner_id])
    return lease
