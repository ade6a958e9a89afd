"""The transition engine: the one path for every device status change.

``devices_transition`` takes many devices and one transition: one locking SELECT, the
guards and the actor's rights checked per device by the FSM definitions in models.py, one
UPDATE for all that may move, one INSERT of their history rows. ``device_transition`` is
its single-device form. Both run inside the caller's transaction (so a use case can add its
own writes and schedule its mail) and return early for devices already where the
transition leads, so a retry or a double click changes nothing.

The device use cases (``devices.lifecycle``) and the other apps' use cases that move devices
(cancellation, leases, buyouts) call this engine; nothing else changes a status. See
docs/architecture.md, "How a status change flows"."""

from __future__ import annotations

import enum
import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from companies.services import profiles_touch
from core.bulk import insert_rows, update_rows
from core.locks import devices_lock
from core.tenancy import actor_name
from notifications import webhooks

from .models import LABELS, TRANSITION_LABELS, Device, DeviceEvent, DeviceStatus, Source


class TransitionRefused(Exception):
    """A transition that is not allowed from the current status, or not for this actor.
    Its message is for the user: it says what and why."""


class Result(enum.StrEnum):
    CHANGED = "changed"
    UNCHANGED = "unchanged"  # already where the transition leads: nothing to do
    REFUSED = "refused"
    NOT_FOUND = "not_found"


@dataclass
class Outcome:
    device_id: int
    result: Result
    message: str = ""
    device: Device | None = None
    from_status: str = ""
    steps: list = field(default_factory=list)  # the transitions taken

    @property
    def changed(self) -> bool:
        return self.result is Result.CHANGED


def transition_target(name: str) -> str:
    meta = getattr(Device, name)._django_fsm
    return next(iter(meta.transitions.values())).target


def _permission(name: str) -> Callable:
    meta = getattr(Device, name)._django_fsm
    return next(iter(meta.transitions.values())).permission


NOT_ALLOWED = {
    # Translators: this and the following are refusals; %(device)s is the device's name.
    "acknowledge": gettext_lazy("You are not allowed to acknowledge “%(device)s”."),
    "start_preparing": gettext_lazy("You are not allowed to start preparing “%(device)s”."),
    "put_on_hold": gettext_lazy("You are not allowed to put on hold “%(device)s”."),
    "backorder": gettext_lazy("You are not allowed to backorder “%(device)s”."),
    "ship": gettext_lazy("You are not allowed to ship “%(device)s”."),
    "deliver": gettext_lazy("You are not allowed to mark delivered “%(device)s”."),
    "mark_received": gettext_lazy("You are not allowed to mark as received “%(device)s”."),
    "activate": gettext_lazy("You are not allowed to activate “%(device)s”."),
    "cancel": gettext_lazy("You are not allowed to cancel “%(device)s”."),
    "request_buyout": gettext_lazy("You are not allowed to request buyout “%(device)s”."),
    "withdraw_buyout": gettext_lazy("You are not allowed to withdraw buyout “%(device)s”."),
    "complete_buyout": gettext_lazy("You are not allowed to complete buyout “%(device)s”."),
    "start_trade_in": gettext_lazy("You are not allowed to start trade-in / return “%(device)s”."),
    "confirm_trade_in": gettext_lazy("You are not allowed to confirm trade-in “%(device)s”."),
    "remove": gettext_lazy("You are not allowed to remove “%(device)s”."),
}


def _not_allowed(name: str, device: Device) -> str:
    return NOT_ALLOWED[name] % {"device": device.name}


def _field_values(device: Device) -> dict[str, object]:
    return {f.attname: getattr(device, f.attname) for f in Device._meta.concrete_fields}


def devices_transition(
    *,
    device_ids: Iterable[int],
    transition: str,
    actor,
    source: str,
    note: str = "",
    params: dict | None = None,
    params_for: Callable[[Device], dict] | None = None,
    at: datetime | None = None,
) -> list[Outcome]:
    """Apply one transition to many devices; one outcome per id, in the order given.

    ``params`` go to every transition call; ``params_for(device)`` adds per-device ones
    (a shipment per order, say). Devices the actor may not see are "not found"."""
    ids = list(dict.fromkeys(int(i) for i in device_ids))
    return devices_walk(
        plans={pk: [transition] for pk in ids},
        actor=actor,
        source=source,
        note=note,
        params=params,
        params_for=(lambda device, name: params_for(device)) if params_for else None,
        at=at,
    )


def devices_walk(
    *,
    plans: dict[int, list],
    actor,
    source: str,
    note: str = "",
    params: dict | None = None,
    params_for: Callable[[Device, str], dict] | None = None,
    at: datetime | None = None,
) -> list[Outcome]:
    """Move each device through its own list of transitions (a step is a transition name,
    or a (name, note) pair), every step checked by the FSM and the actor's rights and
    written to the history, all devices together: one locking SELECT, one UPDATE, one
    INSERT of the history rows. This is how a partner's report "shipped" moves a unit last
    seen as Ordered through each step between.

    A device stops at the first step it may not take (its outcome says why; the steps
    before it stay taken). A step to where the device already is is skipped: a device with
    nothing left to do is UNCHANGED."""
    for steps in plans.values():
        for step in steps:
            name = step[0] if isinstance(step, tuple) else step
            if name not in TRANSITION_LABELS:
                raise ValueError(f"Unknown transition {name!r}")
    now = at or timezone.now()
    outcomes: list[Outcome] = []
    moved: list[tuple[Device, dict, dict]] = []
    history: list[dict] = []
    who, actor_id = actor_name(actor), getattr(actor, "pk", None)
    with transaction.atomic():
        # one lock order for everyone (by pk): no deadlocks between batches
        # (order and owner read along for the webhooks' payload: no query of their own)
        locked = devices_lock(list(plans), actor=actor, related=["company", "order", "owner"])
        by_id = {d.pk: d for d in locked}
        for pk, steps in plans.items():
            device = by_id.get(pk)
            if device is None:
                outcomes.append(Outcome(pk, Result.NOT_FOUND, _("No such device.")))
                continue
            before = _field_values(device)
            taken, refusal = [], ""
            for step in steps:
                name, step_note = step if isinstance(step, tuple) else (step, note)
                target = transition_target(name)
                if not _permission(name)(device, actor):
                    refusal = _not_allowed(name, device)
                    break
                if device.status == target:
                    continue
                method = getattr(device, name)
                if not method._django_fsm.has_transition(device.status):
                    # Translators: a refusal; %(status)s and %(target)s are device statuses.
                    refusal = _(
                        "“%(device)s” is %(status)s: it cannot be moved to %(target)s from there."
                    ) % {
                        "device": device.name,
                        "status": LABELS[device.status],
                        "target": LABELS[target],
                    }
                    break
                from_status = device.status
                kwargs = {**(params or {}), **(params_for(device, name) if params_for else {})}
                method(**kwargs)
                taken.append(name)
                history.append(
                    {
                        "device": device.pk,
                        "company": device.company_id,
                        "at": now,
                        "actor": actor_id,
                        "actor_name": who,
                        "source": source,
                        "transition": name,
                        "from_status": from_status,
                        "to_status": device.status,
                        "note": step_note,
                    }
                )
            if taken:
                device.status_changed_at = now
                after = _field_values(device)
                moved.append((device, before, {k: v for k, v in after.items() if before[k] != v}))
                outcome = Outcome(pk, Result.CHANGED, refusal, device, before["status"])
                outcome.steps = taken
            elif refusal:
                outcome = Outcome(pk, Result.REFUSED, refusal, device, device.status)
            else:
                outcome = Outcome(
                    pk,
                    Result.UNCHANGED,
                    _("“%(device)s” is already %(status)s.")
                    % {"device": device.name, "status": LABELS[device.status]},
                    device,
                    device.status,
                )
            outcomes.append(outcome)
        if moved:
            _write(moved)
            insert_rows(DeviceEvent, history)
            profiles_touch({device.owner_id for device, _, _ in moved})
            _webhooks_emit(outcomes, source)  # webhooks: what the moves mean to receivers
    return outcomes


# --- Webhooks (notifications.webhooks, docs/webhooks.md) ------------------------------------------
# Every status change is "device.status_changed"; these steps are also events of their own.
STEP_EVENTS = {
    "ship": "device.shipped",
    "deliver": "device.delivered",
    "mark_received": "device.received",
    "cancel": "device.cancelled",
}


def _order_ref(device: Device) -> dict | None:
    if not device.order_id:
        return None
    return {"id": device.order_id, "number": device.order.number}


def _label(status: str) -> str:
    """A status label for receivers of webhooks: machine-facing, so always the source
    (English) words, whatever language the person making the change reads."""
    if not status:
        return ""
    with translation.override(None):
        return str(LABELS.get(status, ""))


def _device_payload(device: Device, outcome: Outcome, source: str) -> dict:
    return {
        "device": {
            "id": device.pk,
            "name": device.name,
            "category": device.category,
            "serial_number": device.serial_number,
            "is_leased": device.is_leased,
            "status": device.status,
            "status_label": _label(device.status),
            "status_changed_at": device.status_changed_at,
            "shipment_id": device.shipment_id,
        },
        "previous_status": outcome.from_status,
        "previous_status_label": _label(outcome.from_status),
        "transitions": list(outcome.steps),
        "source": source,
        "order": _order_ref(device),
        "employee": {"id": device.owner_id, "name": device.owner.get_full_name()},
        "company_id": device.company_id,
        "partner_id": device.partner_id,
    }


def _order_accepted_payload(device: Device) -> dict:
    return {
        "order": _order_ref(device),
        "accepted_at": device.status_changed_at,
        "status": device.status,
        "status_label": _label(device.status),
        "employee": {"id": device.owner_id, "name": device.owner.get_full_name()},
        "company_id": device.company_id,
        "partner_id": device.partner_id,
    }


def _webhooks_emit(outcomes: list[Outcome], source: str) -> None:
    """The moved devices' events for the company's and the partner's endpoints: each change
    (keyed by its time, so a retry emits nothing twice), the steps that are events of their
    own (shipped, delivered, received, cancelled: once per device), and "order.accepted"
    once per order, when its first device leaves Ordered for anything but Cancelled."""
    events = []
    for outcome in outcomes:
        if not outcome.changed:
            continue
        device = outcome.device
        tenants = {"company_id": device.company_id, "partner_id": device.partner_id}
        data = functools.partial(_device_payload, device, outcome, source)
        stamp = device.status_changed_at.isoformat()
        events.append(
            webhooks.Event(
                "device.status_changed",
                f"device.status_changed:{device.pk}:{device.status}:{stamp}",
                data,
                **tenants,
            )
        )
        for step in outcome.steps:
            if step in STEP_EVENTS:
                name = STEP_EVENTS[step]
                events.append(webhooks.Event(name, f"{name}:{device.pk}", data, **tenants))
        if (
            device.order_id
            and outcome.from_status == DeviceStatus.ORDERED
            and device.status != DeviceStatus.CANCELLED
        ):
            events.append(
                webhooks.Event(
                    "order.accepted",
                    f"order.accepted:{device.order_id}",
                    functools.partial(_order_accepted_payload, device),
                    **tenants,
                )
            )
    webhooks.emit_many(events)


def _write(moved: list[tuple[Device, dict, dict]]) -> None:
    """One UPDATE for all moved devices: values shared by all are a plain SET, values that
    differ per device a CASE on the id."""
    names = set().union(*(changes.keys() for _, _, changes in moved))
    shared: dict[str, object] = {}
    per_device: dict[int, dict[str, object]] = {d.pk: {} for d, _, _ in moved}
    for name in sorted(names):
        values = {d.pk: getattr(d, name) for d, _, _ in moved}
        distinct = set(values.values())
        if len(distinct) == 1:
            shared[name] = distinct.pop()
        else:
            for pk, value in values.items():
                per_device[pk][name] = value
    if any(per_device.values()):
        update_rows(Device, per_device, shared)
    else:
        Device.objects.filter(pk__in=list(per_device)).update(**shared)


def device_transition(
    *,
    device_id: int,
    transition: str,
    actor,
    source: str,
    note: str = "",
    at: datetime | None = None,
    **params,
) -> Outcome:
    """One device. Raises ``Device.DoesNotExist`` (a 404) for a device the actor may not
    see and ``TransitionRefused`` when the transition is not allowed; returns an UNCHANGED
    outcome when the device is already there."""
    [outcome] = devices_transition(
        device_ids=[device_id],
        transition=transition,
        actor=actor,
        source=source,
        note=note,
        params=params,
        at=at,
    )
    if outcome.result is Result.NOT_FOUND:
        raise Device.DoesNotExist(outcome.message)
    if outcome.result is Result.REFUSED:
        raise TransitionRefused(outcome.message)
    return outcome


def devices_create(
    *, devices: list[Device], actor, source: str, note: str = "", at: datetime | None = None
) -> list[Device]:
    """Create devices (from an order, or registered by hand) with the first line of their
    history. The caller builds the unsaved Device objects."""
    now = at or timezone.now()
    for device in devices:
        device.created_at = device.status_changed_at = now
    created = Device.objects.bulk_create(devices)
    profiles_touch({d.owner_id for d in created})
    who = actor_name(actor)
    DeviceEvent.objects.bulk_create(
        [
            DeviceEvent(
                device_id=d.pk,
                company_id=d.company_id,
                at=now,
                actor_id=getattr(actor, "pk", None),
                actor_name=who,
                source=source,
                transition="register" if d.registered_manually else "order",
                from_status="",
                to_status=d.status,
                note=note,
            )
            for d in created
        ]
    )
    return created


# What a device row says besides its status; the status changes only through transitions.
DETAIL_FIELDS = frozenset({"name", "category", "serial_number", "price", "currency"})


def device_save_details(*, device: Device, **fields) -> Device:
    """Write corrected details of a device the caller has locked: with transitions and
    creation above, the engine is the one writer of device rows (and so the one place that
    renews the owner's Your Details for them)."""
    unknown = set(fields) - DETAIL_FIELDS
    if unknown:
        raise ValueError(f"Not editable here: {', '.join(sorted(unknown))}")
    for name, value in fields.items():
        setattr(device, name, value)
    device.save(update_fields=[*fields])
    profiles_touch([device.owner_id])
    return device


def devices_save_details(*, devices: Iterable[Device], fields: dict[int, dict]) -> int:
    """``device_save_details`` for many devices the caller has locked (device id → its
    corrected fields): one UPDATE per set of fields, one renewal of the owners' pages."""
    devices = {d.pk: d for d in devices if fields.get(d.pk)}
    for values in fields.values():
        unknown = set(values) - DETAIL_FIELDS
        if unknown:
            raise ValueError(f"Not editable here: {', '.join(sorted(unknown))}")
    rows = {pk: fields[pk] for pk in devices}
    for pk, values in rows.items():
        for name, value in values.items():
            setattr(devices[pk], name, value)
    updated = update_rows(Device, rows)
    if devices:
        profiles_touch({d.owner_id for d in devices.values()})
    return updated


def refusal_message(error) -> str:
    """What to tell the user about a refused change (a refusal or a validation error)."""
    if isinstance(error, ValidationError):
        return " ".join(error.messages)
    return str(error)


def available_transitions(device: Device, actor) -> list[str]:
    """The transitions this actor may make from the device's current status (for buttons)."""
    names = []
    for name in TRANSITION_LABELS:
        meta = getattr(Device, name)._django_fsm
        if meta.has_transition(device.status) and _permission(name)(device, actor):
            names.append(name)
    return names


__all__ = [
    "Outcome",
    "Result",
    "Source",
    "TransitionRefused",
    "available_transitions",
    "device_save_details",
    "device_transition",
    "devices_create",
    "devices_save_details",
    "devices_transition",
    "devices_walk",
    "refusal_message",
]
