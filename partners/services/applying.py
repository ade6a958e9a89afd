"""Applying what partners report: one batch of a poll's answers (or, later, a push),
applied in bulk: the batch's orders are locked, only versions not yet applied are kept,
their parcels are recorded, and the devices go where the partner says through the event
router, one transition at a time for the whole batch: the statements grow with batches and
transitions, not with orders."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from companies.services import profiles_touch
from core.bulk import update_rows
from core.locks import orders_lock
from core.transactions import use_case
from devices.lifecycle import (
    Reported,
    ShipmentReport,
    TrackingEvent,
    devices_report,
    shipments_record,
)
from devices.models import Device, DeviceStatus, Source
from orders.models import Order

from ..adapters import OrderUpdate

S = DeviceStatus

# Polling intervals: soon after a change, slower and slower while nothing happens.
MIN_POLL_SECONDS = 60
MAX_POLL_SECONDS = 3600


@dataclass
class ApplyReport:
    changed_orders: int = 0
    transitions: int = 0
    stale: int = 0
    skipped: list = field(default_factory=list)  # (order id, why)


@use_case
def tracking_apply(
    partner_id: int, updates: list[OrderUpdate], polled: list[int], now=None
) -> ApplyReport:
    """Apply one batch of a partner's answers; ``polled`` are all the orders asked about
    (those without news are rescheduled, with a longer interval). What each reported status
    means is the event router's (``devices.lifecycle.devices_report``)."""
    now = now or timezone.now()
    report = ApplyReport()
    with transaction.atomic():
        orders = {
            o.pk: o
            for o in orders_lock(
                polled,
                filters=Q(partner_id=partner_id),
                # what the batch decides on: not the order's other thirty columns
                only=("pk", "partner_version", "poll_interval", "employee_id"),
            )
        }
        fresh = [
            u
            for u in updates
            if u.order_pk in orders and u.version > orders[u.order_pk].partner_version
        ]
        report.stale = len(updates) - len(fresh)
        devices = [
            Reported(d["pk"], d["order_id"], d["status"], d["company__auto_receive_on_delivery"])
            for d in Device.objects.filter(order_id__in=[u.order_pk for u in fresh])
            .values("pk", "order_id", "status", "company__auto_receive_on_delivery")
            .order_by("pk")
        ]
        by_order = {u.order_pk: u for u in fresh}
        targets = {
            d.pk: by_order[d.order_id].item_statuses.get(d.pk, by_order[d.order_id].status)
            for d in devices
        }
        shipments = shipments_record(
            {
                u.order_pk: ShipmentReport(
                    carrier=info.carrier,
                    tracking_number=info.tracking_number,
                    tracking_url=info.tracking_url,
                    status_text=info.status_text,
                    expected_delivery=info.expected_delivery,
                    events=[TrackingEvent(at, text, where) for at, text, where in info.events],
                    exception=info.exception,
                )
                for u in fresh
                if u.shipments
                for info in u.shipments[:1]  # an order's first parcel
            },
            now,
        )
        routed = devices_report(
            devices=devices, targets=targets, source=Source.POLL, shipments=shipments, at=now
        )
        report.transitions += routed.transitions
        report.skipped += routed.skipped
        _reschedule(orders, fresh, now, report)
    return report


def _reschedule(orders: dict, fresh: list[OrderUpdate], now, report: ApplyReport) -> None:
    """One UPDATE for the batch: versions applied, the next poll time (soon for orders that
    changed, later and later for quiet ones), tracking closed for orders that arrived."""
    if not orders:
        return
    changed = {u.order_pk: u for u in fresh}
    report.changed_orders = len(changed)
    done = set(
        Order.objects.filter(pk__in=orders)
        .exclude(
            devices__status__in=[
                S.ORDERED,
                S.NOT_STARTED,
                S.ON_HOLD,
                S.PREPARING,
                S.BACKORDERED,
                S.SHIPPED,
            ]
        )
        .values_list("pk", flat=True)
    )
    rows = {}
    # Quiet orders (most of a beat's) share their few new values: one plain UPDATE per
    # (interval, still open) instead of their rows' values one by one.
    quiet: dict[tuple[int, bool], list[int]] = {}
    for pk, order in orders.items():
        update = changed.get(pk)
        if update is None:
            interval = min(max(order.poll_interval * 2, MIN_POLL_SECONDS), MAX_POLL_SECONDS)
            quiet.setdefault((interval, pk not in done), []).append(pk)
            continue
        row = {
            "poll_interval": MIN_POLL_SECONDS,
            "next_poll_at": now + timedelta(seconds=MIN_POLL_SECONDS),
            "tracking_open": pk not in done,
            "partner_version": update.version,
            "partner_status": update.raw_status[:40],
        }
        if update.expected_delivery is not None:
            row["expected_delivery"] = update.expected_delivery
        rows[pk] = row
    update_rows(Order, rows, {"last_polled_at": now})
    for (interval, still_open), pks in sorted(quiet.items()):
        Order.objects.filter(pk__in=pks).update(
            poll_interval=interval,
            next_poll_at=now + timedelta(seconds=interval),
            tracking_open=still_open,
            last_polled_at=now,
        )
    touched = {o.employee_id for pk, o in orders.items() if pk in changed}
    if touched:
        profiles_touch(touched)
