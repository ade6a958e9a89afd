"""One entry point for a status change asked of many devices at once: the admin's
transition buttons and bulk actions (and the tracking poller) name a transition, and it goes
to the use case that owns that transition's side effects. Nothing here changes a status
itself."""

from __future__ import annotations

from collections import defaultdict

from django.core.exceptions import ValidationError

from devices.models import Device
from devices.services import (
    Outcome,
    Result,
    TransitionRefused,
    devices_transition,
    refusal_message,
)
from leasing import services as leasing

from .cancellation import order_cancel
from .lifecycle import (
    PARTNER_STEPS,
    device_mark_received,
    devices_advance,
    devices_deliver,
    devices_ship,
)

# What each transition asks the person making it for (the admin's forms).
NEEDS_REASON = {"put_on_hold", "backorder", "cancel", "remove"}
NEEDS_SHIPMENT = {"ship"}
# The lease transitions, by the choice they make.
LEASE_CHOICES = {"start_trade_in": "return", "request_buyout": "buyout"}


def devices_apply(
    *, transition: str, device_ids, actor, source: str, note: str = "", shipments=None, **data
) -> list[Outcome]:
    """Apply ``transition`` to these devices through its use case; one outcome per device.

    ``shipments`` maps an order id to its carrier and tracking number (one parcel per order)
    for "ship"; without it, ``data`` carries one carrier and tracking number for all."""
    ids = list(dict.fromkeys(int(i) for i in device_ids))
    if transition in PARTNER_STEPS:
        return devices_advance(
            device_ids=ids, transition=transition, actor=actor, source=source, note=note
        )
    if transition == "ship":
        return _ship(ids, actor, source, note, shipments, data)
    if transition == "deliver":
        return devices_deliver(device_ids=ids, actor=actor, source=source, note=note)
    if transition == "cancel":
        return _cancel(ids, actor, source, note)
    if transition == "mark_received":
        return [_one(device_mark_received, pk, actor=actor, source=source) for pk in ids]
    if transition in LEASE_CHOICES:
        choice = LEASE_CHOICES[transition]
        return [
            _one(leasing.lease_choose, pk, actor=actor, source=source, note=note, choice=choice)
            for pk in ids
        ]
    if transition == "withdraw_buyout":
        return [_one(leasing.buyout_withdraw, pk, actor=actor, source=source) for pk in ids]
    if transition == "complete_buyout":
        return [_one(_complete_buyout, pk, actor=actor, note=note) for pk in ids]
    if transition == "confirm_trade_in":
        return leasing.trade_ins_confirm(device_ids=ids, actor=actor, source=source, note=note)
    if transition == "remove":
        return [
            _one(leasing.device_remove, pk, actor=actor, source=source, reason=note) for pk in ids
        ]
    return devices_transition(
        device_ids=ids, transition=transition, actor=actor, source=source, note=note
    )


def _one(fn, pk, **kwargs) -> Outcome:
    try:
        return fn(device_id=pk, **kwargs)
    except Device.DoesNotExist:
        return Outcome(pk, Result.NOT_FOUND, "No such device.")
    except (TransitionRefused, ValidationError, leasing.BuyoutRefused) as refusal:
        return Outcome(pk, Result.REFUSED, refusal_message(refusal))


def _complete_buyout(*, device_id: int, actor, note: str = "") -> Outcome:
    """An admin records a buyout paid outside Velory (the card flow completes by itself)."""
    device = Device.objects.visible_to(actor).get(pk=device_id)
    buyout = leasing.Buyout.objects.filter(lease__device=device, status="pending").first()
    if buyout is None:
        raise TransitionRefused(f"{device.name} has no buyout waiting for payment.")
    leasing.buyout_complete(
        buyout_id=buyout.pk, actor=actor, note=note or "Paid outside Velory (recorded by admin)."
    )
    device.refresh_from_db()
    return Outcome(device.pk, Result.CHANGED, "", device, "pending_buyout")


def _by_order(ids, actor) -> dict:
    orders = defaultdict(list)
    for pk, order_id in (
        Device.objects.visible_to(actor).filter(pk__in=ids).values_list("pk", "order_id")
    ):
        orders[order_id].append(pk)
    return orders


def _missing(ids, grouped) -> list[Outcome]:
    found = {pk for pks in grouped.values() for pk in pks}
    return [Outcome(pk, Result.NOT_FOUND, "No such device.") for pk in ids if pk not in found]


def _ship(ids, actor, source, note, shipments, data) -> list[Outcome]:
    if shipments is None:
        return devices_ship(device_ids=ids, actor=actor, source=source, note=note, **data)
    grouped = _by_order(ids, actor)
    outcomes = _missing(ids, grouped)
    for order_id, pks in grouped.items():
        parcel = shipments.get(order_id) or shipments.get(str(order_id)) or {}
        try:
            outcomes += devices_ship(
                device_ids=pks, actor=actor, source=source, note=note, **parcel
            )
        except (ValidationError, TypeError) as error:
            message = (
                refusal_message(error)
                if isinstance(error, ValidationError)
                else "Name the carrier."
            )
            outcomes += [Outcome(pk, Result.REFUSED, message) for pk in pks]
    return _in_order(ids, outcomes)


def _cancel(ids, actor, source, note) -> list[Outcome]:
    grouped = _by_order(ids, actor)
    outcomes = _missing(ids, grouped)
    for order_id, pks in grouped.items():
        if order_id is None:
            outcomes += [Outcome(pk, Result.REFUSED, "Not part of an order.") for pk in pks]
            continue
        try:
            result = order_cancel(
                order_id=order_id, actor=actor, reason=note, source=source, device_ids=pks
            )
        except (TransitionRefused, ValidationError) as refusal:
            outcomes += [Outcome(pk, Result.REFUSED, refusal_message(refusal)) for pk in pks]
            continue
        done = {o.device_id for o in result.outcomes}
        outcomes += result.outcomes
        outcomes += [
            Outcome(d.pk, Result.REFUSED, result.kept_message, d)
            for d in result.kept
            if d.pk not in done
        ]
        outcomes += [
            Outcome(pk, Result.UNCHANGED, "Already cancelled.")
            for pk in pks
            if pk not in done and pk not in {d.pk for d in result.kept}
        ]
    return _in_order(ids, outcomes)


def _in_order(ids, outcomes) -> list[Outcome]:
    by_id = {o.device_id: o for o in outcomes}
    return [by_id[pk] for pk in ids if pk in by_id]
