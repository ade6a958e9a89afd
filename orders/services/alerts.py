"""Stuck-order alerts: an order with a device Preparing longer than the partner's agreed
days, a parcel without carrier movement for days, or a delivery exception the carrier
reported (through the partner's answer or push), is raised to the company admins and
the partner's staff, shown on both dashboards, and closed by itself once the order moves.

The sweep is set-based (a few statements whatever the number of orders) and idempotent: an
open alert is one row per order and kind (a unique constraint), so a sweep run twice, or by
two workers at once, raises each alert once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Max
from django.db.models.functions import Coalesce
from django.utils import timezone

from companies.models import User
from devices.models import Device, DeviceStatus
from notifications.services import Message, notify_many

from ..models import AGREED_SHIP_DAYS, STALLED_AFTER_DAYS, Order, OrderAlert, Shipment

S = DeviceStatus
K = OrderAlert.Kind


@dataclass
class AlertReport:
    opened: int = 0
    closed: int = 0


def _stuck(now: datetime) -> set[tuple[int, str]]:
    """(order id, kind) of every order stuck now."""
    preparing = Device.objects.filter(
        status=S.PREPARING,
        status_changed_at__lt=now - timedelta(days=AGREED_SHIP_DAYS),
        order__isnull=False,
    ).values_list("order_id", flat=True)
    stalled = (
        Shipment.objects.filter(delivered_at__isnull=True, devices__status=S.SHIPPED)
        .annotate(moved=Coalesce(Max("events__at"), "shipped_at"))
        .filter(moved__lt=now - timedelta(days=STALLED_AFTER_DAYS))
        .values_list("order_id", flat=True)
    )
    exceptions = (
        Shipment.objects.filter(delivered_at__isnull=True, devices__status=S.SHIPPED)
        .exclude(exception="")
        .values_list("order_id", flat=True)
    )
    return (
        {(pk, K.PREPARING_TOO_LONG) for pk in preparing}
        | {(pk, K.NO_MOVEMENT) for pk in stalled}
        | {(pk, K.DELIVERY_EXCEPTION) for pk in exceptions}
    )


def order_alerts_sweep(now: datetime | None = None) -> AlertReport:
    """Open the alerts of orders stuck now, close those of orders that moved, and tell the
    company admins and the partner's staff of each new one (once: the mail's dedup key is
    the alert's)."""
    now = now or timezone.now()
    report = AlertReport()
    stuck = _stuck(now)
    with transaction.atomic():
        open_alerts = {(a.order_id, a.kind): a.pk for a in OrderAlert.objects.open()}
        moved = [pk for key, pk in open_alerts.items() if key not in stuck]
        report.closed = OrderAlert.objects.filter(pk__in=moved).update(closed_at=now)
        wanted = stuck - set(open_alerts)
        orders = Order.objects.in_bulk({pk for pk, _ in wanted})
        made = OrderAlert.objects.bulk_create(
            [
                OrderAlert(
                    order_id=pk,
                    kind=kind,
                    company_id=orders[pk].company_id,
                    partner_id=orders[pk].partner_id,
                    opened_at=now,
                )
                for pk, kind in sorted(wanted)
                if pk in orders
            ],
            ignore_conflicts=True,  # another sweep raised it meanwhile
        )
        fresh = list(
            OrderAlert.objects.open()
            .filter(opened_at=now, order_id__in=[a.order_id for a in made])
            .select_related("order", "partner")
        )
        report.opened = len(fresh)
        _tell(fresh)
    return report


def _tell(alerts: list[OrderAlert]) -> None:
    if not alerts:
        return
    companies = {a.company_id for a in alerts}
    partners = {a.partner_id for a in alerts}
    admins = list(User.objects.company_admins().filter(company_id__in=companies))
    staff = list(User.objects.filter(partner_id__in=partners, is_active=True))
    messages = []
    for alert in alerts:
        people = [u for u in admins if u.company_id == alert.company_id]
        people += [u for u in staff if u.partner_id == alert.partner_id]
        for person in people:
            messages.append(
                Message(
                    kind="order_stuck",
                    dedup_key=f"order_stuck:{alert.pk}:{person.pk}",
                    context={
                        "alert": alert,
                        "order": alert.order,
                        "number": alert.order.number,
                        # lazy: in the recipient's language when the mail is rendered
                        "what": K(alert.kind).label,
                        "partner": alert.partner.name,
                        "staff": person.partner_id is not None,
                    },
                    recipient=person,
                )
            )
    notify_many(messages, render=True)
