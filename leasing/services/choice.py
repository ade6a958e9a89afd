"""The employee's choice at a lease's end (return or buyout), and carrying out the choice made
when a leased device is replaced."""

from __future__ import annotations

import logging
from datetime import date

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from core.i18n import for_recipient
from core.tenancy import SYSTEM
from core.transactions import use_case
from devices.engine import (
    Outcome,
    Result,
    TransitionRefused,
    device_transition,
)
from devices.models import Device, DeviceStatus, Source, Transition
from notifications.services import notify

from ..models import (
    CHOOSABLE,
    DEFAULT_RETURN_STEPS,
    Buyout,
    Lease,
    ReturnReason,
    return_deadline,
)
from .base import (
    arrangement_for,
    buyout_price,
    device_visible,
    lease_lock_for,
    return_party,
)

T = Transition
logger = logging.getLogger(__name__)
S = DeviceStatus


# --- The employee's choice ----------------------------------------------------------------------


@use_case
def lease_choose(
    *,
    device_id: int,
    actor,
    choice: str,
    source: str = Source.WEB,
    note: str = "",
    at=None,
    reason: str = ReturnReason.LEASE_END,
    reason_on: date | None = None,
) -> Outcome:
    """What happens to a leased device: returned (Processed for trade in, with the return
    instructions mailed by the right party) or bought out (Pending employee buyout, with
    the price; only where the company allows buyouts). Asked again, it changes nothing.

    A return is due by the rule of its ``reason`` (``leasing.models.return_due``): the
    employee's own choice is the lease's end ("lease_end"), a leased replacement's is
    "replacement" (``reason_on``: its delivery, None while it is on its way), a leaver's
    is "leaver" (``reason_on``: the exit date)."""
    if choice not in (Lease.Choice.RETURN, Lease.Choice.BUYOUT):
        raise ValidationError(_("Choose to return the device or to buy it out."))
    now = at or timezone.now()
    with transaction.atomic():
        device = device_visible(device_id, actor)
        lease = lease_lock_for(device)
        if not lease.is_open:
            raise TransitionRefused(
                _("The lease of %(device)s is closed.") % {"device": device.name}
            )
        if lease.choice == choice:
            return Outcome(device.pk, Result.UNCHANGED, _("Already chosen."), device, device.status)
        if choice == Lease.Choice.BUYOUT and not device.company.buyout_allowed:
            raise TransitionRefused(
                _(
                    "%(company)s does not allow buyouts: %(device)s is returned at the end of "
                    "its lease."
                )
                % {"company": device.company.name, "device": device.name}
            )
        if device.status not in CHOOSABLE:
            # Translators: %(status)s is a device status; Received and Active are device
            # statuses too (docs/glossary.md).
            raise TransitionRefused(
                _(
                    "%(device)s is %(status)s: a return or a buyout can only be chosen for a "
                    "device that is Received or Active."
                )
                % {"device": device.name, "status": device.status_label}
            )
        arrangement = arrangement_for(device.company_id, lease.leasing_company_id)
        transition = T.START_TRADE_IN if choice == Lease.Choice.RETURN else T.REQUEST_BUYOUT
        outcome = device_transition(
            device_id=device.pk,
            transition=transition,
            actor=actor,
            source=source,
            note=note,
            at=now,
        )
        lease.choice, lease.chosen_at = choice, now
        if choice == Lease.Choice.RETURN:
            lease.return_due_on = return_deadline(
                lease,
                device.company,
                reason=reason,
                on=reason_on,
                chosen_on=timezone.localdate(now),
            )
            lease.return_reason = reason
            lease.save(update_fields=["choice", "chosen_at", "return_due_on", "return_reason"])
            _mail_return_instructions(lease, device, arrangement)
        else:
            lease.save(update_fields=["choice", "chosen_at"])
            buyout = Buyout.objects.create(
                lease=lease,
                company_id=device.company_id,
                employee_id=device.owner_id,
                price=buyout_price(lease, arrangement),
                currency=lease.currency,
                created_at=now,
            )
            notify(
                kind="lease_buyout_offer",
                recipient=device.owner,
                context={"device": device, "lease": lease, "buyout": buyout},
                dedup_key=f"lease_buyout_offer:{buyout.pk}",
            )
        # Your Details is renewed by the engine: the device moved in this transaction.
        return outcome


def _mail_return_instructions(lease: Lease, device: Device, arrangement) -> None:
    party = return_party(lease, arrangement)
    steps = arrangement.return_steps if arrangement else DEFAULT_RETURN_STEPS
    if steps == DEFAULT_RETURN_STEPS:  # the standard steps: in the employee's language
        with for_recipient(device.owner):
            steps = _(DEFAULT_RETURN_STEPS)
    notify(
        kind="lease_return_instructions",
        recipient=device.owner,
        context={
            "device": device,
            "lease": lease,
            "party": party,
            "steps": steps,
        },
        dedup_key=f"lease_return:{lease.pk}:{lease.chosen_at:%Y%m%d%H%M%S}",
        from_email=party.from_email,
        reply_to=party.email,
    )


@use_case
def replacement_start(*, device_id: int, choice: str, order_number: str, actor=SYSTEM) -> Outcome:
    """On approval of a leased replacement: the old device goes back or is bought out, as
    the employee chose on the request (the system makes the change; the right party's
    e-mail goes out). A return is due the company's grace days after the replacement is
    delivered: until then, by the lease-end rule (``replacements_delivered`` moves it). A
    device that has moved on since the request (returned, bought out, its lease closed) is
    left as it is: the outcome says so, and the approval goes on."""
    device = Device.objects.select_related("lease").get(pk=device_id)
    lease = getattr(device, "lease", None) if device.is_leased else None
    if lease is None or not lease.is_open or device.status not in CHOOSABLE:
        if lease is not None and lease.choice == choice:
            return Outcome(device.pk, Result.UNCHANGED, "", device, device.status)
        # The order's history keeps this as written (not translated): the source words.
        with translation.override(None):
            status = str(device.status_label)
        return Outcome(
            device.pk,
            Result.UNCHANGED,
            f"{device.name} is {status} now: left as it is.",
            device,
            device.status,
        )
    return lease_choose(
        device_id=device_id,
        actor=actor,
        choice=choice,
        source=Source.SYSTEM,
        note=f"Replaced by order {order_number}.",  # stored in the history as written
        reason=ReturnReason.REPLACEMENT,
    )
