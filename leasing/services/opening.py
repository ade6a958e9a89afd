"""Opening leases: when a leased device is received, or registered by hand."""

from __future__ import annotations

import logging
from datetime import date
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from companies.models import LeasingCompany, Partner
from companies.services import profiles_touch
from core.dates import add_months, add_months_checked
from core.transactions import use_case
from devices.models import Device, DeviceStatus

from ..models import (
    Lease,
    LeasingArrangement,
)
from .base import arrangement_for, residual

logger = logging.getLogger(__name__)
S = DeviceStatus


# --- Opening ------------------------------------------------------------------------------------


@use_case
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
        raise ValidationError(_("%(device)s is not leased.") % {"device": device.name})
    if months <= 0 or monthly_price < 0:
        raise ValidationError(_("A lease runs for at least a month at a price of zero or more."))
    lease, created = Lease.objects.get_or_create(
        device=device,
        defaults={
            "leasing_company": leasing_company,
            "partner": partner,
            "starts_on": starts_on,
            "ends_on": add_months_checked(starts_on, months),
            "monthly_price": monthly_price,
            "buyout_price": buyout_price
            if buyout_price is not None
            else residual(device.price, arrangement_for(device.company_id, leasing_company.pk)),
            "currency": currency,
        },
    )
    if created:
        profiles_touch([device.owner_id])
    return lease


def leases_open(device_ids, at=None) -> int:
    """Open the leases of those of these devices that are leased and have none yet (they
    were just received): terms from their order line, financier from their company. One
    query when none is leased; called in the receiving transaction."""
    devices = list(
        Device.objects.filter(pk__in=list(device_ids), is_leased=True, lease__isnull=True)
        .select_related("company", "order_line")
        .only(
            "pk",
            "owner_id",
            "company_id",
            "partner_id",
            "price",
            "currency",
            "received_on",
            "company__leasing_company_id",
            "company__currency",
            "order_line__monthly_price",
            "order_line__lease_months",
            "order_line__unit_price",
            "order_line__currency",
        )
    )
    today = timezone.localdate(at) if at else timezone.localdate()
    arrangements = (
        {
            (a.company_id, a.leasing_company_id): a
            for a in LeasingArrangement.objects.filter(
                company_id__in={d.company_id for d in devices}
            )
        }
        if devices
        else {}
    )
    leases = []
    for device in devices:
        line = device.order_line
        financier = device.company.leasing_company_id
        if line is None or financier is None or not line.lease_months:
            logger.warning("leased device %s has no lease terms or financier", device.pk)
            continue
        starts_on = device.received_on or today
        leases.append(
            Lease(
                device=device,
                leasing_company_id=financier,
                partner_id=device.partner_id,
                starts_on=starts_on,
                ends_on=add_months(starts_on, line.lease_months),
                monthly_price=line.monthly_price or Decimal("0"),
                buyout_price=residual(
                    device.price if device.price is not None else line.unit_price,
                    arrangements.get((device.company_id, financier)),
                ),
                currency=line.currency or device.company.currency,
            )
        )
    if leases:
        Lease.objects.bulk_create(leases, ignore_conflicts=True)
        profiles_touch({lease.device.owner_id for lease in leases})
    return len(leases)
