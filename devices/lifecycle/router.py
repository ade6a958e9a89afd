"""The one event router: what a status event means, whoever raises it.

A company admin's or partner's button, a bulk action in the admin, and a partner's report
(the tracking poller, the push API) all name where devices should go; this module decides
which use case that is and calls it, so a status event has one meaning everywhere:

- ``devices_apply(transition=...)`` — a person asks for one transition of many devices (the
  admin's object buttons and bulk actions);
- ``devices_report(targets=...)`` — a partner reports where each device now is; each takes
  every step between (Ordered → Not started → Preparing → Shipped → Delivered), a cancelled
  one goes through the cancellation use case (its money comes back), and a delivered one is
  received at once where the company's policy says so.

Nothing here changes a status itself: the use cases do, through the engine."""

from __future__ import annotations

from collections import defaultdict, deque
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from core.tenancy import SYSTEM
from devices.engine import Outcome, Result, TransitionRefused, devices_transition, refusal_message
from devices.models import PROGRESS, Device, DeviceStatus, Transition, delivery_steps
from leasing import services as leasing
from orders.services.cancellation import order_cancel

from .progress import (
    PARTNER_STEPS,
    devices_advance,
    devices_deliver,
    devices_progress,
    devices_ship,
)
from .receipt import device_mark_received
from .removal import device_remove

S = DeviceStatus
T = Transition

# What each transition asks the person making it for (the admin's forms).
NEEDS_REASON = {T.PUT_ON_HOLD, T.BACKORDER, T.CANCEL, T.REMOVE}
NEEDS_SHIPMENT = {T.SHIP}
# The lease transitions, by the choice they make.
LEASE_CHOICES = {T.START_TRADE_IN: "return", T.REQUEST_BUYOUT: "buyout"}


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
    if transition == T.SHIP:
        return _ship(ids, actor, source, note, shipments, data)
    if transition == T.DELIVER:
        return devices_deliver(device_ids=ids, actor=actor, source=source, note=note)
    if transition == T.CANCEL:
        return _cancel(ids, actor, source, note)
    if transition == T.MARK_RECEIVED:
        return [_one(device_mark_received, pk, actor=actor, source=source) for pk in ids]
    if transition in LEASE_CHOICES:
        choice = LEASE_CHOICES[transition]
        return [
            _one(leasing.lease_choose, pk, actor=actor, source=source, note=note, choice=choice)
            for pk in ids
        ]
    if transition == T.WITHDRAW_BUYOUT:
        return [_one(leasing.buyout_withdraw, pk, actor=actor, source=source) for pk in ids]
    if transition == T.COMPLETE_BUYOUT:
        return [_one(leasing.buyout_record_paid, pk, actor=actor, note=note) for pk in ids]
    if transition == T.CONFIRM_TRADE_IN:
        return leasing.trade_ins_confirm(device_ids=ids, actor=actor, source=source, note=note)
    if transition == T.REMOVE:
        return [_one(device_remove, pk, actor=actor, source=source, reason=note) for pk in ids]
    return devices_transition(
        device_ids=ids, transition=transition, actor=actor, source=source, note=note
    )


def _one(fn, pk, **kwargs) -> Outcome:
    try:
        return fn(device_id=pk, **kwargs)
    except Device.DoesNotExist:
        return Outcome(pk, Result.NOT_FOUND, _("No such device."))
    except (TransitionRefused, ValidationError, leasing.BuyoutRefused) as refusal:
        return Outcome(pk, Result.REFUSED, refusal_message(refusal))


def _by_order(ids, actor) -> dict:
    orders = defaultdict(list)
    for pk, order_id in (
        Device.objects.visible_to(actor).filter(pk__in=ids).values_list("pk", "order_id")
    ):
        orders[order_id].append(pk)
    return orders


def _missing(ids, grouped) -> list[Outcome]:
    found = {pk for pks in grouped.values() for pk in pks}
    return [Outcome(pk, Result.NOT_FOUND, _("No such device.")) for pk in ids if pk not in found]


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
                else _("Name the carrier.")
            )
            outcomes += [Outcome(pk, Result.REFUSED, message) for pk in pks]
    return _in_order(ids, outcomes)


def _cancel(ids, actor, source, note) -> list[Outcome]:
    grouped = _by_order(ids, actor)
    outcomes = _missing(ids, grouped)
    for order_id, pks in grouped.items():
        if order_id is None:
            outcomes += [Outcome(pk, Result.REFUSED, _("Not part of an order.")) for pk in pks]
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
            Outcome(pk, Result.UNCHANGED, _("Already cancelled."))
            for pk in pks
            if pk not in done and pk not in {d.pk for d in result.kept}
        ]
    return _in_order(ids, outcomes)


def _in_order(ids, outcomes) -> list[Outcome]:
    by_id = {o.device_id: o for o in outcomes}
    return [by_id[pk] for pk in ids if pk in by_id]


# --- A partner's report --------------------------------------------------------------------------

PARTNER_TRANSITIONS = (*PARTNER_STEPS, T.SHIP, T.DELIVER, T.CANCEL)
# The main road from order to door: a unit reported further along it takes every step.
MAIN_ROAD = [S.ORDERED, S.NOT_STARTED, S.PREPARING, S.SHIPPED, S.DELIVERED]
MAIN_STEP = {
    S.ORDERED: T.ACKNOWLEDGE,
    S.NOT_STARTED: T.START_PREPARING,
    S.PREPARING: T.SHIP,
    S.SHIPPED: T.DELIVER,
}


def _graph() -> dict[str, list[tuple[str, str]]]:
    graph: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for name in PARTNER_TRANSITIONS:
        for source, t in getattr(Device, name)._django_fsm.transitions.items():
            graph[source].append((t.target, name))
    return graph


_GRAPH: dict[str, list[tuple[str, str]]] = {}


def status_path(from_status: str, to_status: str) -> list[str] | None:
    """The chain of partner transitions from one status to another (forward only): along
    the main road every step (Ordered → Not started → Preparing → Shipped → Delivered),
    otherwise the shortest chain; [] when already there, None when unreachable or
    backwards."""
    if not _GRAPH:
        _GRAPH.update(_graph())
    if from_status == to_status:
        return []
    if from_status in MAIN_ROAD and to_status in MAIN_ROAD:
        start, end = MAIN_ROAD.index(from_status), MAIN_ROAD.index(to_status)
        return [MAIN_STEP[s] for s in MAIN_ROAD[start:end]] if end > start else None
    # One partner transition straight there (Preparing → On hold or Backordered) is a move
    # the lifecycle allows, not a step back.
    for target, name in _GRAPH.get(from_status, []):
        if target == to_status:
            return [name]
    if to_status != S.CANCELLED and PROGRESS[to_status] < PROGRESS[from_status]:
        return None
    seen, queue = {from_status}, deque([(from_status, [])])
    while queue:
        status, steps = queue.popleft()
        for target, name in _GRAPH.get(status, []):
            if target in seen:
                continue
            if target == to_status:
                return [*steps, name]
            seen.add(target)
            queue.append((target, [*steps, name]))
    return None


@dataclass(frozen=True)
class Reported:
    """A device as the router needs it to plan: where it is, and its company's policy."""

    pk: int
    order_id: int | None
    status: str
    auto_receive: bool


@dataclass
class ReportResult:
    transitions: int = 0
    skipped: list = field(default_factory=list)  # (order id, why)


def devices_report(
    *,
    devices: list[Reported],
    targets: dict[int, str],
    actor=SYSTEM,
    source: str,
    shipments=None,
    note: str = "Reported by the partner.",  # stored in the history as written
    at=None,
) -> ReportResult:
    """A partner reports where devices now are (device id → status). Each device takes
    every step between, in bulk; a cancelled one is cancelled through its order (its money
    comes back); a delivered one is received at once where its company's policy says so.
    A report that would move a device backwards is skipped (and said so)."""
    result = ReportResult()
    plans: dict[int, list] = {}
    cancels: dict[int, list[int]] = defaultdict(list)  # order → devices to cancel
    for d in devices:
        target = targets.get(d.pk)
        if target is None:
            continue
        steps = status_path(d.status, target)
        if steps is None:
            result.skipped.append((d.order_id, f"{d.status} → {target} is backwards"))
            continue
        if steps and steps[-1] == T.CANCEL:
            cancels[d.order_id].append(d.pk)
            steps = steps[:-1]
        if steps and steps[-1] == T.DELIVER:
            steps = [*steps[:-1], *delivery_steps(auto_receive=d.auto_receive)]
        if steps:
            plans[d.pk] = steps
    if plans:
        outcomes = devices_progress(
            plans=plans,
            actor=actor,
            source=source,
            note=note,
            shipments=shipments,
            reason="",
            at=at,
        )
        result.transitions += sum(len(o.steps) for o in outcomes)
    for order_id, ids in cancels.items():
        order_cancel(
            order_id=order_id,
            actor=actor,
            reason="Cancelled by the partner.",  # stored in the histories as written
            source=source,
            device_ids=ids,
        )
        result.transitions += len(ids)
    return result
