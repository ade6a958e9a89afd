"""Taking a device out of the fleet: lost, stolen, scrapped or sold."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext as _

from core.locks import devices_lock
from core.transactions import use_case
from devices.engine import Outcome, TransitionRefused, device_transition
from devices.models import Device, DeviceStatus, Source, Transition
from leasing.models import Lease
from leasing.services import lease_lock_for_device, leases_close, leases_open

# The kinds of removal, as the history note stored with the removal says them (history notes
# are stored as written: not translated).
REMOVAL_KINDS = {"lost": "Lost", "stolen": "Stolen", "scrapped": "Scrapped", "sold": "Sold"}


def _visible(device_id: int, actor) -> Device:
    return (
        Device.objects.visible_to(actor)
        .select_related("company", "company__leasing_company")
        .get(pk=device_id)
    )


def device_remove(
    *, device_id: int, actor, reason: str, kind: str = "", source: str = Source.ADMIN
) -> Outcome:
    """A company admin takes a device out of the fleet (lost, stolen, scrapped, sold) with a
    reason. A leased one needs the leasing company's settlement recorded first; its lease
    closes as removed."""
    reason = reason.strip()
    if not reason:
        raise ValidationError(_("Say why the device leaves the fleet."))
    if kind and kind not in REMOVAL_KINDS:
        raise ValidationError(_("Removed as lost, stolen, scrapped or sold."))
    device = _visible(device_id, actor)
    if device.is_leased and not Lease.objects.filter(device=device).exists():
        # Leased but lost before it was received: its lease is opened now, so that the
        # leasing company's settlement has somewhere to be recorded.
        leases_open(device_ids=[device.pk])
    return _remove(device_id=device_id, actor=actor, reason=reason, kind=kind, source=source)


@use_case
def _remove(*, device_id: int, actor, reason: str, kind: str, source: str) -> Outcome:
    """The removal itself, in one transaction (the lease opened above stays opened when
    the removal is refused: the settlement needs it)."""
    device = _visible(device_id, actor)
    # The lock order: the device, then its lease.
    devices_lock([device.pk])
    lease = lease_lock_for_device(device.pk)
    unsettled = lease is None or (lease.is_open and not lease.settled)
    if device.is_leased and unsettled and device.status != DeviceStatus.REMOVED:
        financier = lease.leasing_company if lease else device.company.leasing_company
        if financier:
            message = _(
                "%(device)s is leased from %(financier)s: record the leasing company's "
                "settlement on its lease first."
            ) % {"device": device.name, "financier": financier}
        else:
            message = _(
                "%(device)s is leased: record the leasing company's settlement on its lease first."
            ) % {"device": device.name}
        raise TransitionRefused(message)
    note = f"{REMOVAL_KINDS[kind]}: {reason}" if kind else reason
    outcome = device_transition(
        device_id=device.pk, transition=Transition.REMOVE, actor=actor, source=source, note=note
    )
    if outcome.changed and lease is not None:
        leases_close(device_ids=[device.pk], outcome=Lease.Outcome.REMOVED, at=timezone.now())
    return outcome
