"""The one path for every device status change.

``devices_transition`` takes many devices and one transition: one locking SELECT, the
guards and the actor's rights checked per device by the FSM definitions in models.py, one
UPDATE for all that may move, one INSERT of their history rows. ``device_transition`` is
its single-device form. Both run inside the caller's transaction (so a use case can add its
own writes and schedule its mail) and return early for devices already where the
transition leads, so a retry or a double click changes nothing.

Use cases with effects beyond the device (shipment records, mail, budgets, leases) live in
the apps that own those effects and call this engine."""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.db.models import Case, Value, When
from django.utils import timezone

from companies.services import profiles_touch
from velory.tenancy import Role

from .models import LABELS, TRANSITION_LABELS, Device, DeviceEvent, Source


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

    @property
    def changed(self) -> bool:
        return self.result is Result.CHANGED


def transition_target(name: str) -> str:
    meta = getattr(Device, name)._django_fsm
    return next(iter(meta.transitions.values())).target


def _permission(name: str) -> Callable:
    meta = getattr(Device, name)._django_fsm
    return next(iter(meta.transitions.values())).permission


def actor_name(actor) -> str:
    """How the actor is named in a timeline."""
    if getattr(actor, "is_system", False):
        return "Velory"
    if actor.role == Role.PARTNER_STAFF and actor.partner_id:
        return f"{actor.get_full_name()} ({actor.partner.name})"
    if actor.is_superuser:
        return f"{actor.get_full_name()} (Velory support)"
    if actor.role == Role.COMPANY_ADMIN:
        return f"{actor.get_full_name()} (company admin)"
    return actor.get_full_name()


def _verb(name: str) -> str:
    return TRANSITION_LABELS[name].lower()


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
    if transition not in TRANSITION_LABELS:
        raise ValueError(f"Unknown transition {transition!r}")
    ids = list(dict.fromkeys(int(i) for i in device_ids))
    target = transition_target(transition)
    permitted = _permission(transition)
    now = at or timezone.now()
    outcomes: list[Outcome] = []
    moved: list[tuple[Device, dict, dict]] = []
    with transaction.atomic():
        locked = (
            Device.objects.visible_to(actor)
            .select_for_update(of=("self",))
            .select_related("company")
            .filter(pk__in=ids)
            .order_by("pk")  # one lock order for everyone: no deadlocks between batches
        )
        by_id = {d.pk: d for d in locked}
        for pk in ids:
            device = by_id.get(pk)
            if device is None:
                outcomes.append(Outcome(pk, Result.NOT_FOUND, "No such device."))
                continue
            if not permitted(device, actor):
                outcomes.append(
                    Outcome(
                        pk,
                        Result.REFUSED,
                        f"You are not allowed to {_verb(transition)} “{device.name}”.",
                        device,
                        device.status,
                    )
                )
                continue
            if device.status == target:
                outcomes.append(
                    Outcome(
                        pk,
                        Result.UNCHANGED,
                        f"“{device.name}” is already {LABELS[target]}.",
                        device,
                        device.status,
                    )
                )
                continue
            method = getattr(device, transition)
            if not method._django_fsm.has_transition(device.status):
                outcomes.append(
                    Outcome(
                        pk,
                        Result.REFUSED,
                        f"“{device.name}” is {LABELS[device.status]}: it cannot be moved to "
                        f"{LABELS[target]} from there.",
                        device,
                        device.status,
                    )
                )
                continue
            before = _field_values(device)
            kwargs = {**(params or {}), **(params_for(device) if params_for else {})}
            method(**kwargs)
            device.status_changed_at = now
            after = _field_values(device)
            changes = {k: v for k, v in after.items() if before[k] != v}
            moved.append((device, before, changes))
            outcomes.append(Outcome(pk, Result.CHANGED, "", device, before["status"]))
        if moved:
            _write(moved, target)
            _write_history(moved, transition, actor, source, note, now)
            profiles_touch({device.owner_id for device, _, _ in moved})
    return outcomes


def _write(moved: list[tuple[Device, dict, dict]], target: str) -> None:
    """One UPDATE for all moved devices: a value shared by all is a plain SET, values that
    differ per device are a CASE on the id."""
    fields = {f.attname: f for f in Device._meta.concrete_fields}
    names = set().union(*(changes.keys() for _, _, changes in moved)) - {"status"}
    values: dict[str, object] = {"status": target}
    for name in sorted(names):
        per_device = {d.pk: getattr(d, name) for d, _, _ in moved}
        distinct = set(per_device.values())
        if len(distinct) == 1:
            values[name] = distinct.pop()
        else:
            field = fields[name]
            values[name] = Case(
                *[When(pk=pk, then=Value(v, output_field=field)) for pk, v in per_device.items()],
                output_field=field,
            )
    Device.objects.filter(pk__in=[d.pk for d, _, _ in moved]).update(**values)


def _write_history(moved, transition, actor, source, note, at) -> None:
    who = actor_name(actor)
    actor_id = getattr(actor, "pk", None)
    DeviceEvent.objects.bulk_create(
        [
            DeviceEvent(
                device_id=device.pk,
                company_id=device.company_id,
                at=at,
                actor_id=actor_id,
                actor_name=who,
                source=source,
                transition=transition,
                from_status=before["status"],
                to_status=device.status,
                note=note,
            )
            for device, before, _ in moved
        ]
    )


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
    "actor_name",
    "available_transitions",
    "device_transition",
    "devices_create",
    "devices_transition",
]


@transaction.atomic
def device_update_details(*, device: Device, actor, **fields) -> Device:
    """Correct a device's descriptive details (name, type, serial number, price) from the
    admin. The status is not among them: it changes only through transitions."""
    allowed = {"name", "category", "serial_number", "price", "currency"}
    unknown = set(fields) - allowed
    if unknown:
        raise ValueError(f"Not editable here: {', '.join(sorted(unknown))}")
    for name, value in fields.items():
        setattr(device, name, value)
    device.save(update_fields=[*fields])
    profiles_touch([device.owner_id])
    return device
