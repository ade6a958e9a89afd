"""The return: the partner confirms it has the devices back."""

from __future__ import annotations

import logging

from django.db import transaction
from django.utils import timezone

from core.transactions import use_case
from devices.engine import (
    devices_transition,
)
from devices.models import DeviceStatus, Source, Transition
from devices.notices import owners_notify

from ..models import (
    Lease,
)
from .base import leases_close_now

T = Transition
logger = logging.getLogger(__name__)
S = DeviceStatus


# --- Return -------------------------------------------------------------------------------------


@use_case
def trade_ins_confirm(*, device_ids, actor, source: str = Source.ADMIN, note: str = ""):
    """The partner (for the leasing company too) confirms it has the devices back: they
    become Traded in and their leases close as returned."""
    now = timezone.now()
    with transaction.atomic():
        outcomes = devices_transition(
            device_ids=device_ids,
            transition=T.CONFIRM_TRADE_IN,
            actor=actor,
            source=source,
            note=note or "Received back by the partner.",
            at=now,
        )
        changed = [o.device for o in outcomes if o.changed]
        if changed:
            leases_close_now([d.pk for d in changed], Lease.Outcome.RETURNED, now)
            owners_notify(outcomes, "lease_returned")
    return outcomes
