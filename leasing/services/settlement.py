"""The leasing company's settlement for a device leaving the fleet early."""

from __future__ import annotations

import logging
from datetime import date

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from budgets import services as budgets
from core.locks import lease_lock
from core.tenancy import acts_as_company_admin
from core.transactions import use_case
from devices.engine import (
    TransitionRefused,
)
from devices.models import Device, DeviceStatus

from ..models import (
    Lease,
)

logger = logging.getLogger(__name__)
S = DeviceStatus


# --- Removal and settlement ---------------------------------------------------------------------


@use_case
@transaction.atomic
def lease_record_settlement(
    *, lease_id: int, actor, amount, reference: str = "", settled_on: date | None = None
) -> Lease:
    """A company admin records what the leasing company settled for a device leaving the
    fleet early (lost, stolen, ...): needed before a leased device can be removed."""
    lease = lease_lock(lease_id, actor=actor)
    device = Device.objects.get(pk=lease.device_id)
    if not acts_as_company_admin(actor, device.company_id):
        raise TransitionRefused(_("Only a company admin records a settlement."))
    # zero is a settlement too (the leasing company waives the rest)
    amount = budgets.clean_amount(amount, allow_zero=True)
    lease.settlement_amount = amount
    lease.settlement_reference = reference.strip()[:100]
    lease.settled_on = settled_on or timezone.localdate()
    lease.save(update_fields=["settlement_amount", "settlement_reference", "settled_on"])
    return lease


def lease_lock_for_device(device_id: int) -> Lease | None:
    """The device's lease, locked (after the device: the lock order), or None."""
    return lease_lock(filters=Q(device_id=device_id), related=["leasing_company"])
