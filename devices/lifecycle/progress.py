"""A device's way from the partner to the employee: acknowledged, preparing, on hold,
backordered, shipped, delivered, and what each step means for people.

Every step, whoever takes it (partner staff in the admin, the demo, the tracking poller),
goes through ``devices_progress``: the engine walks the devices (one lock, one UPDATE, one
INSERT of history) and ``_follow_up`` then does what the steps mean, the same way for
everyone: the employee hears of a shipment, a hold, a backorder or a delivery waiting for
them, a delivered shipment is marked so, and what was received is settled (leases, budget).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, Window
from django.db.models.functions import RowNumber
from django.utils import timezone
from django.utils.translation import gettext as _

from companies.services import profiles_touch
from core.bulk import update_rows
from core.locks import shipment_lock
from core.tenancy import SYSTEM
from core.transactions import use_case
from devices.engine import Outcome, devices_walk
from devices.models import Device, Source, Transition, delivery_steps
from devices.notices import owners_notify
from leasing.services import replacements_delivered
from notifications.services import Message, notify_many
from orders.models import Order, Shipment, ShipmentEvent

from .receipt import receipts_record

T = Transition
logger = logging.getLogger("velory.distributors")

# The partner's steps before a shipment.
PARTNER_STEPS = (T.ACKNOWLEDGE, T.START_PREPARING, T.PUT_ON_HOLD, T.BACKORDER)
# Steps the employee hears about: they change what the employee should expect.
STEPS_MAILED = {T.PUT_ON_HOLD: "device_on_hold", T.BACKORDER: "device_backordered"}


@dataclass(frozen=True)
class TrackingEvent:
    """One scan of a parcel: when, what, where."""

    at: datetime
    description: str
    location: str = ""


@dataclass(frozen=True)
class ShipmentReport:
    """What is known of an order's parcel: by the partner's API, a person or the demo.
    Empty fields leave what is recorded as it is."""

    carrier: str = ""
    tracking_number: str = ""
    tracking_url: str = ""
    status_text: str = ""
    expected_delivery: date | None = None
    events: list[TrackingEvent] = field(default_factory=list)
    # The carrier's delivery exception: None when the report does not say (a person's
    # form), "" when it says there is none (a partner's answer), else what went wrong.
    exception: str | None = None


# --- The one path ------------------------------------------------------------------------------


@use_case
def devices_progress(
    *,
    plans: dict[int, list],
    actor,
    source: str,
    note: str = "",
    shipments: dict[int, Shipment] | None = None,
    reason: str | None = None,
    at: datetime | None = None,
) -> list[Outcome]:
    """Move each device through its planned steps and do what the steps mean. ``shipments``
    maps an order id to the parcel its devices ship in; ``reason`` is what the employee is
    told of a hold or backorder (the note, unless given). Runs in the caller's transaction."""
    now = at or timezone.now()
    shipments = shipments or {}
    with transaction.atomic():
        outcomes = _walk(plans, actor, source, note, shipments, now)
        _follow_up(outcomes, shipments, now, note if reason is None else reason)
    return outcomes


def _walk(plans, actor, source, note, shipments, now) -> list[Outcome]:
    return devices_walk(
        plans=plans,
        actor=actor,
        source=source,
        note=note,
        params_for=lambda d, name: _step_params(d, name, shipments, now),
        at=now,
    )


def _step_params(device, name: str, shipments: dict[int, Shipment], now) -> dict:
    if name == T.SHIP:
        shipment = shipments.get(device.order_id)
        return {"shipment_id": shipment.pk if shipment else None, "at": now}
    if name == T.DELIVER:
        return {"at": now}
    if name == T.MARK_RECEIVED:
        return {"received_on": timezone.localdate(now)}
    return {}


def _follow_up(outcomes: list[Outcome], shipments: dict[int, Shipment], now, reason="") -> None:
    """What the steps taken mean for people. A device's last step decides what its owner
    hears: a shipment, a hold or backorder (with the reason), a delivery waiting for them."""
    moved = [o for o in outcomes if o.steps]
    if not moved:
        return
    shipped_mail(
        [o for o in moved if T.SHIP in o.steps and o.device.order_id in shipments], shipments
    )
    for step, kind in STEPS_MAILED.items():
        owners_notify([o for o in moved if o.steps[-1] == step], kind, reason)
    owners_notify([o for o in moved if o.steps[-1] == T.DELIVER], "device_delivered")
    # Only the system receives in a walk (by the auto-receive rule); people use
    # device_mark_received.
    received = [o.device for o in moved if o.steps[-1] == T.MARK_RECEIVED]
    receipts_record(devices=received, actor=SYSTEM, at=now)
    # a leased replacement that arrived sets when the device it replaces is due back
    # (receipts_record does it for the received ones)
    replacements_delivered(
        device_ids=[
            o.device.pk
            for o in moved
            if T.DELIVER in o.steps and o.steps[-1] != T.MARK_RECEIVED and o.device.is_leased
        ],
        at=now,
    )
    delivered = {
        o.device.shipment_id for o in moved if T.DELIVER in o.steps and o.device.shipment_id
    }
    if delivered:
        Shipment.objects.filter(pk__in=delivered, delivered_at__isnull=True).update(
            delivered_at=now,
            status_text="Delivered",  # stored as written (where the carrier's words go)
        )


def shipped_mail(outcomes: list[Outcome], shipments: dict[int, Shipment]) -> None:
    """One e-mail per order to its employee, with the parcel's tracking."""
    by_order = defaultdict(list)
    for o in outcomes:
        if o.changed and o.device.order_id:
            by_order[o.device.order_id].append(o.device)
    if not by_order:
        return
    orders = (
        Order.objects.select_related("employee", "partner")
        .only("pk", "employee__id", "employee__email", "partner__id", "partner__offers_tracking")
        .in_bulk(list(by_order))
    )
    notify_many(
        [
            Message(
                kind="order_shipped",
                recipient=orders[order_id].employee,
                context={
                    "order": orders[order_id],
                    "devices": devices,
                    "shipment": shipments[order_id],
                    "tracks": orders[order_id].partner.offers_tracking,
                },
                dedup_key=f"order_shipped:{shipments[order_id].pk}:{len(devices)}",
            )
            for order_id, devices in by_order.items()
        ]
    )


# --- The partner's steps -----------------------------------------------------------------------


@use_case
def devices_advance(
    *, device_ids, transition: str, actor, source: str, note: str = "", at=None
) -> list[Outcome]:
    """Acknowledge, start preparing, put on hold or backorder devices (partner or system).
    Holds and backorders are mailed to the employee, with the note as the reason."""
    if transition not in PARTNER_STEPS:
        raise ValueError(f"{transition!r} is not a partner step")
    if transition in STEPS_MAILED and not note.strip() and actor is not SYSTEM:
        raise ValidationError(_("Say why, so the employee knows what to expect."))
    ids = list(dict.fromkeys(int(i) for i in device_ids))
    return devices_progress(
        plans={pk: [transition] for pk in ids}, actor=actor, source=source, note=note, at=at
    )


@use_case
def devices_ship(
    *,
    device_ids,
    actor,
    source: str,
    carrier: str,
    tracking_number: str = "",
    tracking_url: str = "",
    expected_delivery: date | None = None,
    note: str = "",
    at: datetime | None = None,
) -> list[Outcome]:
    """Ship devices: one shipment per order with the carrier and tracking number, the
    devices move to Shipped, and each order's employee gets one e-mail with the tracking.

    Where the partner offers tracking, a tracking number is required."""
    carrier, tracking_number = carrier.strip(), tracking_number.strip()
    if not carrier:
        raise ValidationError(_("Name the carrier."))
    tracking_url = tracking_url.strip()
    if tracking_url and not tracking_url.startswith("https://"):
        raise ValidationError(_("A tracking link must be an https:// address."))
    now = at or timezone.now()
    ids = list(dict.fromkeys(int(i) for i in device_ids))
    with transaction.atomic():
        devices = list(
            Device.objects.visible_to(actor).select_related("partner").filter(pk__in=ids)
        )
        if any(d.partner and d.partner.offers_tracking for d in devices) and not tracking_number:
            raise ValidationError(
                _("A tracking number is required: this partner shares tracking with employees.")
            )
        shipments: dict[int, Shipment] = {}
        created: list[Shipment] = []
        for order_id in sorted({d.order_id for d in devices if d.order_id}):
            shipment, was_created = Shipment.objects.get_or_create(
                order_id=order_id,
                carrier=carrier,
                tracking_number=tracking_number,
                defaults={
                    "tracking_url": tracking_url,
                    "expected_delivery": expected_delivery,
                    "shipped_at": now,
                    "status_text": "Shipped",
                },
            )
            shipments[order_id] = shipment
            if was_created:
                created.append(shipment)
        outcomes = devices_progress(
            plans={pk: [T.SHIP] for pk in ids},
            actor=actor,
            source=source,
            note=note,
            shipments=shipments,
            at=now,
        )
        used = {o.device.shipment_id for o in outcomes if o.changed}
        for shipment in created:  # nothing moved onto it: it never left
            if shipment.pk not in used:
                shipment.delete()
        if expected_delivery:
            Order.objects.filter(pk__in=[s.order_id for s in shipments.values()]).update(
                expected_delivery=expected_delivery
            )
    return outcomes


@use_case
def devices_deliver(
    *, device_ids, actor, source: str, at: datetime | None = None, note: str = ""
) -> list[Outcome]:
    """Devices reached the employee's address. Where the company's policy says
    auto-receive they become Received at once (by the system); otherwise the employee is
    asked, by e-mail and on Your Details, to mark them received."""
    now = at or timezone.now()
    ids = list(dict.fromkeys(int(i) for i in device_ids))
    with transaction.atomic():
        outcomes = _walk({pk: [T.DELIVER] for pk in ids}, actor, source, note, {}, now)
        delivered = [o for o in outcomes if o.changed]
        auto = {
            o.device_id: steps[1:]
            for o in delivered
            if len(steps := delivery_steps(auto_receive=o.device.company.auto_receive_on_delivery))
            > 1
        }
        if auto:
            # The partner delivers; the system receives (the partner may not).
            received = {
                o.device_id: o for o in _walk(auto, SYSTEM, Source.SYSTEM, "", {}, now) if o.changed
            }
            for o in delivered:
                if o.device_id in received:
                    o.steps.append(T.MARK_RECEIVED)
                    o.device = received[o.device_id].device
        _follow_up(outcomes, {}, now, note)
    return outcomes


# --- Shipments ---------------------------------------------------------------------------------

# Carrier scans kept per parcel: the newest; a real parcel has a dozen or two.
MAX_EVENTS_PER_SHIPMENT = 100


def shipments_record(reports: dict[int, ShipmentReport], now=None) -> dict[int, Shipment]:
    """Record what is known of orders' parcels (order id → report), set-based: each order's
    shipment is created when it has none, what changed is updated in one statement, and new
    carrier scans are added (those already recorded are ignored). The caller holds the
    orders' locks. Returns order id → shipment."""
    now = now or timezone.now()
    if not reports:
        return {}
    shipments = {s.order_id: s for s in Shipment.objects.filter(order_id__in=reports)}
    new = Shipment.objects.bulk_create(
        [
            Shipment(
                order_id=order_id,
                carrier=report.carrier,
                tracking_number=report.tracking_number,
                tracking_url=report.tracking_url,
                status_text=report.status_text,
                expected_delivery=report.expected_delivery,
                exception=(report.exception or "")[:200],
                exception_at=now if report.exception else None,
                shipped_at=report.events[0].at if report.events else now,
            )
            for order_id, report in reports.items()
            if order_id not in shipments
        ]
    )
    shipments.update({s.order_id: s for s in new})
    if _progress_apply({shipments[o]: r for o, r in reports.items() if o in shipments}) or new:
        # what the order's pages show of the parcel changed: renew the employees' pages
        profiles_touch(
            Order.objects.filter(pk__in=list(reports)).values_list("employee_id", flat=True)
        )
    return shipments


def _progress_apply(reports: dict[Shipment, ShipmentReport]) -> bool:
    """Apply what the reports say of recorded parcels; whether any of them said something
    (changed fields or carrier scans)."""
    changed: dict[int, dict] = {}
    for shipment, report in reports.items():
        fresh = {}
        # What is reported fills in (never blanks) what we have.
        for name in ("carrier", "tracking_number", "tracking_url", "status_text"):
            if getattr(report, name):
                fresh[name] = getattr(report, name)[: Shipment._meta.get_field(name).max_length]
        if report.expected_delivery:
            fresh["expected_delivery"] = report.expected_delivery
        if report.exception is not None and report.exception[:200] != shipment.exception:
            fresh["exception"] = report.exception[:200]
            fresh["exception_at"] = timezone.now() if report.exception else None
        diff = {k: v for k, v in fresh.items() if getattr(shipment, k) != v}
        if diff:
            for name, value in diff.items():
                setattr(shipment, name, value)
            changed[shipment.pk] = {**diff, "updated_at": timezone.now()}
    if changed:
        update_rows(Shipment, changed)
    new = [
        ShipmentEvent(
            shipment=shipment,
            at=e.at,
            description=e.description[:300],
            location=e.location[:120],
        )
        for shipment, report in reports.items()
        for e in report.events
    ]
    if new:
        ShipmentEvent.objects.bulk_create(new, ignore_conflicts=True)
        _events_trim({event.shipment_id for event in new})
    return bool(changed or new)


def _events_trim(shipment_ids) -> None:
    """Keep each parcel's newest MAX_EVENTS_PER_SHIPMENT scans (one DELETE): a partner that
    sends thousands never makes an employee's tracking page heavy."""
    ranked = ShipmentEvent.objects.filter(shipment_id__in=list(shipment_ids)).annotate(
        rank=Window(RowNumber(), partition_by=F("shipment_id"), order_by=[F("at").desc(), "-pk"])
    )
    extra = list(ranked.filter(rank__gt=MAX_EVENTS_PER_SHIPMENT).values_list("pk", flat=True))
    if extra:
        ShipmentEvent.objects.filter(pk__in=extra).delete()
        logger.warning("dropped the oldest %d tracking events beyond the cap", len(extra))


@use_case
@transaction.atomic
def shipment_record_progress(
    *,
    shipment_id: int,
    status_text: str = "",
    expected_delivery: date | None = None,
    events: list[TrackingEvent] = (),
) -> Shipment:
    """Record what the carrier says about one shipment: its status wording, expected
    delivery and new scan events (events already recorded are ignored)."""
    shipment = shipment_lock(shipment_id, related=["order"])
    report = ShipmentReport(
        status_text=status_text, expected_delivery=expected_delivery, events=list(events)
    )
    before = (shipment.status_text, shipment.expected_delivery)
    _progress_apply({shipment: report})
    if (shipment.status_text, shipment.expected_delivery) != before:
        profiles_touch([shipment.order.employee_id])
    return shipment
