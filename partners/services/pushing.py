"""What partners push through the API (``partners.api``): accepting and rejecting orders,
item statuses with their parcels and serial numbers, confirmed returns; and the one rule
that makes every pushed write safe to retry, its ``Idempotency-Key``.

Nothing here decides what a status means: accepting is the router's "acknowledge",
rejecting its "cancel" (the admin's cancellation: the money comes back), a confirmed return
its "confirm trade-in", and pushed statuses go through ``devices_report`` exactly as the
poller's answers do (``applying.tracking_apply``): the orders are locked, the parcels
recorded, and each item takes every step to where the partner says it is. What this module
adds is the answer per item: an update the lifecycle would refuse (a step backwards, a
shipment without the tracking number the partner owes its employees) is refused by name,
and changes nothing, while the others in the batch are applied."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from core.locks import devices_lock, orders_lock
from core.tenancy import SYSTEM
from core.transactions import use_case
from devices.engine import Outcome, Result, devices_save_details
from devices.lifecycle import (
    Reported,
    ShipmentReport,
    TrackingEvent,
    devices_apply,
    devices_report,
    shipments_record,
    status_path,
)
from devices.models import FINAL_STATUSES, LABELS, DeviceStatus, Source, Transition
from orders.models import Order, Shipment, order_number

from ..models import PushRequest
from ..selectors import partner_devices, partner_orders

S = DeviceStatus
T = Transition

# A batch names at most this many items: one request stays one short transaction (its
# locks are held while it runs); a partner with more sends several.
MAX_BATCH = 500
# The statuses a partner reports, by Velory's own names (docs/partner-api.md).
PUSH_STATUSES = (
    S.NOT_STARTED,
    S.PREPARING,
    S.ON_HOLD,
    S.BACKORDERED,
    S.SHIPPED,
    S.DELIVERED,
    S.CANCELLED,
)


class BatchTooLarge(Exception):
    def __init__(self, count: int):
        super().__init__(
            f"A batch names at most {MAX_BATCH} items; this one names {count}. "
            "Send it in several requests."
        )


# --- Idempotency ---------------------------------------------------------------------------------


class KeyReused(Exception):
    """The Idempotency-Key was used before for another request."""

    def __init__(self):
        super().__init__(
            "This Idempotency-Key was used for a different request. "
            "Use a new key for every new write."
        )


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict
    replayed: bool = False


def push_once(*, actor, key: str, fingerprint: str, work: Callable[[], Answer]) -> Answer:
    """Run a pushed write once per ``Idempotency-Key``: the first request with a key runs
    ``work`` and stores its answer in the same transaction; a retry with the same key and
    the same request gets that answer again and changes nothing; the same key with another
    request (method, path or body) is refused (``KeyReused``). Two requests with one key
    at once queue on the key's unique row: the second replays the first's answer.

    A request refused before it changed anything (invalid, not found: an exception from
    ``work``) stores nothing, so the partner may fix it and send it again with its key."""
    try:
        return _once(actor, key, fingerprint, work)
    except IntegrityError:
        # The same key committed by a request running at the same time: its answer.
        return _replay(actor, key, fingerprint)


def _replay(actor, key: str, fingerprint: str) -> Answer:
    stored = PushRequest.objects.get(partner_id=actor.partner_id, key=key)
    if stored.fingerprint != fingerprint:
        raise KeyReused
    return Answer(stored.status_code, stored.response, replayed=True)


@use_case
def _once(actor, key: str, fingerprint: str, work: Callable[[], Answer]) -> Answer:
    if PushRequest.objects.filter(partner_id=actor.partner_id, key=key).exists():
        return _replay(actor, key, fingerprint)
    answer = work()
    with transaction.atomic():  # a savepoint: the key's race is lost without the work
        PushRequest.objects.create(
            partner_id=actor.partner_id,
            key=key,
            fingerprint=fingerprint,
            status_code=answer.status,
            response=answer.body,
            api_key_id=getattr(actor, "key_id", None),
        )
    return answer


# A write's stored answer is kept this long: a retry with its Idempotency-Key within it is
# answered from the record; after it the key is forgotten (docs/partner-api.md).
IDEMPOTENCY_DAYS = 7
PURGE_BATCH = 5000


def push_requests_purge(now: datetime | None = None) -> int:
    """Periodic: forget the stored answers older than IDEMPOTENCY_DAYS, in batches (a
    partner pushing all day leaves many rows, and one huge DELETE would hold locks)."""
    cutoff = (now or timezone.now()) - timedelta(days=IDEMPOTENCY_DAYS)
    purged = 0
    while True:
        ids = list(
            PushRequest.objects.filter(created_at__lt=cutoff).values_list("pk", flat=True)[
                :PURGE_BATCH
            ]
        )
        if not ids:
            return purged
        purged += PushRequest.objects.filter(pk__in=ids).delete()[0]


# --- Orders ------------------------------------------------------------------------------------


def _item(outcome: Outcome, device=None) -> dict:
    device = outcome.device or device
    return {
        "item_id": outcome.device_id,
        "result": str(outcome.result),
        "status": device.status if device is not None else None,
        "message": outcome.message,
    }


def _answer(outcomes: list[Outcome], **extra) -> Answer:
    """200 with one result per item, or 409 when every item was refused (nothing changed)."""
    items = [_item(o) for o in outcomes]
    refused = all(o.result in (Result.REFUSED, Result.NOT_FOUND) for o in outcomes)
    return Answer(409 if outcomes and refused else 200, {**extra, "items": items})


@use_case
def order_accept(*, order_id: int, actor) -> Answer:
    """The partner has the order in its queue: its Ordered items are acknowledged (Ordered
    → Not started) through the router. Accepting again changes nothing; items the partner
    has already moved on stay where they are."""
    order = orders_lock([order_id], filters=Q(pk__in=partner_orders(actor).values("pk")))
    if not order:
        raise Order.DoesNotExist("No such order.")
    devices = list(order[0].devices.order_by("pk"))
    ordered = [d.pk for d in devices if d.status == S.ORDERED]
    outcomes = (
        devices_apply(
            transition=T.ACKNOWLEDGE,
            device_ids=ordered,
            actor=actor,
            source=Source.API,
            note="Accepted by the partner.",
        )
        if ordered
        else []
    )
    done = {o.device_id for o in outcomes}
    outcomes += [
        Outcome(d.pk, Result.UNCHANGED, f"“{d.name}” is already {LABELS[d.status]}.", d)
        for d in devices
        if d.pk not in done
    ]
    outcomes.sort(key=lambda o: o.device_id)
    return Answer(200, {"order_id": order[0].number, "items": [_item(o) for o in outcomes]})


def order_reject(*, order_id: int, actor, reason: str) -> Answer:
    """The partner cannot fulfil the order: it is cancelled through the router's "cancel",
    the same cancellation a company admin makes (the order's budget is released at once,
    a card payment refunded to the same card or its hold voided, the employee told).
    Items already shipped are refused by name; rejecting again changes nothing."""
    order = partner_orders(actor).get(pk=order_id)
    ids = list(order.devices.order_by("pk").values_list("pk", flat=True))
    outcomes = devices_apply(
        transition=T.CANCEL,
        device_ids=ids,
        actor=actor,
        source=Source.API,
        note=reason.strip(),
    )
    return _answer(outcomes, order_id=order.number)


# --- Item statuses, parcels and serial numbers ---------------------------------------------------


@dataclass(frozen=True)
class ItemPush:
    item_id: int
    status: str = ""
    serial_number: str | None = None


@dataclass(frozen=True)
class ShipmentPush:
    order_id: int
    carrier: str
    tracking_number: str = ""
    tracking_url: str = ""
    status_text: str = ""
    expected_delivery: date | None = None
    events: tuple = ()  # (at, description, location)
    exception: str = ""  # the carrier's delivery exception; empty: none


@dataclass
class _Plan:
    refused: dict = field(default_factory=dict)  # item id → why
    targets: dict = field(default_factory=dict)  # item id → status
    serials: dict = field(default_factory=dict)  # item id → serial number


class _Missed(Exception):
    """Some items did not get where the partner said (the lifecycle stopped them on the
    way): the batch's savepoint is rolled back and it is applied again without them."""

    def __init__(self, missed: dict[int, str]):
        super().__init__(", ".join(map(str, missed)))
        self.missed = missed


def items_report(
    *, actor, items: list[ItemPush], shipments: list[ShipmentPush], at: datetime | None = None
) -> Answer:
    """The partner reports where its items are, their parcels and serial numbers.

    Each item takes every step to the status given through the event router, as a polled
    report does. An item's update is refused, with the reason, when it would move the item
    backwards or from a final status, when a shipped item of a partner that tracks has no
    tracking number (sent here, or recorded before), or when the item is not one of the
    partner's: a refused item changes nothing, the others are applied. When every item is
    refused nothing is applied at all, its shipments neither (409)."""
    if len(items) > MAX_BATCH:
        raise BatchTooLarge(len(items))
    if len({i.item_id for i in items}) != len(items):
        raise ValidationError("Name each item once in a batch.")
    missed: dict[int, str] = {}
    while True:
        try:
            return _items_report(actor, items, shipments, at or timezone.now(), missed)
        except _Missed as again:  # at most once per item: each retry drops those it names
            missed.update(again.missed)


@use_case
def _items_report(actor, items, shipments, now, missed) -> Answer:
    ids = [i.item_id for i in items]
    order_ids = set(
        partner_devices(actor)
        .filter(pk__in=ids, order__isnull=False)
        .values_list("order_id", flat=True)
    ) | {s.order_id for s in shipments}
    with transaction.atomic():  # the savepoint _Missed rolls back
        orders = {
            o.pk: o
            for o in orders_lock(
                sorted(order_ids),
                filters=Q(pk__in=partner_orders(actor).values("pk")),
                related=["partner"],
            )
        }
        found = {
            d["pk"]: d
            for d in partner_devices(actor)
            .filter(pk__in=ids)
            .values(
                "pk",
                "order_id",
                "name",
                "status",
                "serial_number",
                "company__auto_receive_on_delivery",
            )
        }
        pushed = {s.order_id: s for s in shipments if s.order_id in orders}
        plan = _plan(items, found, orders, pushed, missed)
        if items and len(plan.refused) == len(items):
            return Answer(409, {"items": _results(items, found, plan), "shipments": []})
        recorded = shipments_record(
            {
                order_id: ShipmentReport(
                    carrier=s.carrier,
                    tracking_number=s.tracking_number,
                    tracking_url=s.tracking_url,
                    status_text=s.status_text,
                    expected_delivery=s.expected_delivery,
                    events=[TrackingEvent(at, text, where) for at, text, where in s.events],
                    exception=s.exception,
                )
                for order_id, s in pushed.items()
            },
            now,
        )
        # An item shipped now goes in its order's parcel: pushed now, or recorded before.
        parcels = {
            **{
                s.order_id: s
                for s in Shipment.objects.filter(
                    order_id__in={found[pk]["order_id"] for pk in plan.targets}
                ).order_by("shipped_at", "pk")
            },
            **recorded,
        }
        partner = actor.partner.name
        devices_report(
            devices=[
                Reported(
                    pk,
                    found[pk]["order_id"],
                    found[pk]["status"],
                    found[pk]["company__auto_receive_on_delivery"],
                )
                for pk in sorted(plan.targets)
            ],
            targets=plan.targets,
            actor=SYSTEM,  # as a polled report: the system carries out what the partner says
            source=Source.API,
            shipments=parcels,
            note=f"Reported by {partner} through the partner API ({actor}).",
            at=now,
        )
        after = dict(partner_devices(actor).filter(pk__in=plan.targets).values_list("pk", "status"))
        wrong = {
            pk: f"“{found[pk]['name']}” stopped at {LABELS[after[pk]]} on its way to "
            f"{LABELS[target]}."
            for pk, target in plan.targets.items()
            if after.get(pk) != _expected(target, found[pk])
        }
        if wrong:
            raise _Missed(wrong)
        changed = _serials_save(plan.serials) | {
            pk for pk in plan.targets if after[pk] != found[pk]["status"]
        }
    return Answer(
        200,
        {
            "items": _results(items, found, plan, after, changed),
            "shipments": [
                {
                    "order_id": order_number(s.order_id),
                    "result": "recorded" if s.order_id in recorded else "not_found",
                }
                for s in shipments
            ],
        },
    )


def _results(items, found, plan, after=None, changed=frozenset()) -> list[dict]:
    after = after or {}
    results = []
    for item in items:
        pk = item.item_id
        device = found.get(pk)
        if device is None:
            result, status, message = "not_found", None, "No such item."
        elif pk in plan.refused:
            result, status, message = "refused", device["status"], plan.refused[pk]
        elif pk in changed:
            result, status, message = "changed", after.get(pk, device["status"]), ""
        else:
            result, status, message = "unchanged", device["status"], "Nothing to change."
        results.append({"item_id": pk, "result": result, "status": status, "message": message})
    return results


def _expected(target: str, device: dict) -> str:
    if target == S.DELIVERED and device["company__auto_receive_on_delivery"]:
        return S.RECEIVED  # received at once by the company's policy
    return target


def _plan(items, found, orders, pushed, missed) -> _Plan:
    plan = _Plan()
    for item in items:
        pk = item.item_id
        device = found.get(pk)
        if device is None:
            plan.refused[pk] = "No such item."
            continue
        if pk in missed:
            plan.refused[pk] = missed[pk]
            continue
        if item.serial_number is not None and device["status"] in FINAL_STATUSES:
            plan.refused[pk] = (
                f"“{device['name']}” is {LABELS[device['status']]}: its details are final."
            )
            continue
        if item.status and item.status != device["status"]:
            why = _refusal(item.status, device, orders, pushed)
            if why:
                plan.refused[pk] = why
                continue
            plan.targets[pk] = item.status
        if item.serial_number is not None and item.serial_number != device["serial_number"]:
            plan.serials[pk] = item.serial_number
    return plan


def _refusal(target: str, device: dict, orders: dict, pushed: dict) -> str:
    """Why the lifecycle would refuse to move this item to ``target``; "" when it would not."""
    name, status = device["name"], device["status"]
    if device["order_id"] not in orders:
        return f"“{name}” is not part of an order: only an order's items are reported here."
    steps = status_path(status, target)
    if steps is None:
        return f"“{name}” is {LABELS[status]}: it cannot be moved to {LABELS[target]} from there."
    order = orders[device["order_id"]]
    if T.SHIP in steps and order.partner.offers_tracking:
        parcel = pushed.get(order.pk)
        has_number = (parcel is not None and parcel.tracking_number.strip()) or (
            Shipment.objects.filter(order_id=order.pk).exclude(tracking_number="").exists()
        )
        if not has_number:
            return (
                f"“{name}” cannot be shipped without a tracking number: {order.partner.name} "
                f"shares tracking with employees. Send order {order.number}'s shipment."
            )
    return ""


def _serials_save(serials: dict[int, str]) -> set[int]:
    """Write the serial numbers given, through the engine (the one writer of device rows)."""
    if not serials:
        return set()
    devices_save_details(
        devices=devices_lock(sorted(serials)),
        fields={pk: {"serial_number": serial} for pk, serial in serials.items()},
    )
    return set(serials)


# --- Returns -------------------------------------------------------------------------------------


@use_case
def returns_confirm(*, item_ids: list[int], actor, note: str = "") -> Answer:
    """The partner has the devices back (a trade-in or a return at lease end): they become
    Traded in and their leases close as returned, through the router's "confirm trade-in"
    (``leasing.trade_ins_confirm``). Confirming again changes nothing."""
    if len(item_ids) > MAX_BATCH:
        raise BatchTooLarge(len(item_ids))
    ids = list(dict.fromkeys(item_ids))
    mine = set(partner_devices(actor).filter(pk__in=ids).values_list("pk", flat=True))
    outcomes = (
        devices_apply(
            transition=T.CONFIRM_TRADE_IN,
            device_ids=[pk for pk in ids if pk in mine],
            actor=actor,
            source=Source.API,
            note=note.strip() or "Received back by the partner.",
        )
        if mine
        else []
    )
    outcomes += [Outcome(pk, Result.NOT_FOUND, "No such item.") for pk in ids if pk not in mine]
    by_id = {o.device_id: o for o in outcomes}
    return _answer([by_id[pk] for pk in ids])
