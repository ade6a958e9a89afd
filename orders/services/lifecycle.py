"""Order use cases: creating an order, the partner's and the employee's status changes
with their shipment records and mail, changing an order's details while that is still
allowed, and registering hardware bought outside Velory.

Each function is one use case, in one transaction; device status changes go through
``devices.services.devices_transition`` and mail through the outbox."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from budgets.services import budget_spend, orders_with_budget
from companies.models import Partner, User
from companies.services import profiles_touch
from devices.models import (
    IN_TRANSIT_STATUSES,
    UPDATABLE_STATUSES,
    WITH_PARTNER_STATUSES,
    Device,
    DeviceStatus,
    Source,
)
from devices.services import (
    Outcome,
    Result,
    TransitionRefused,
    actor_name,
    device_transition,
    devices_create,
    devices_transition,
    mail_owners,
)
from leasing.services import arrangement_for, lease_create, leases_open_for
from notifications.services import Message, notify, notify_many
from velory.tenancy import SYSTEM, Role

from ..models import Order, OrderEvent, OrderLine, Shipment

S = DeviceStatus


@dataclass(frozen=True)
class LineSpec:
    name: str
    category: str
    unit_price: Decimal
    currency: str
    quantity: int = 1
    product_id: int | None = None
    is_leased: bool = False
    monthly_price: Decimal | None = None
    lease_months: int | None = None


def schedule_dispatch(order_id: int) -> None:
    from velory.tasks import enqueue

    from ..tasks import dispatch_order

    enqueue(dispatch_order, order_id)


def order_event(order: Order, actor, kind: str, message: str, data=None, at=None) -> OrderEvent:
    return OrderEvent.objects.create(
        order=order,
        company_id=order.company_id,
        at=at or timezone.now(),
        actor=actor if getattr(actor, "pk", None) else None,
        actor_name=actor_name(actor),
        kind=kind,
        message=message,
        data=data or {},
    )


# --- Creating orders ------------------------------------------------------------------------


@transaction.atomic
def order_create(
    *,
    employee: User,
    partner: Partner,
    lines: list[LineSpec],
    delivery_address: str,
    note: str = "",
    actor=SYSTEM,
    source: str = Source.SYSTEM,
    at: datetime | None = None,
) -> Order:
    """Create an order with its lines and one device per unit (Ordered), and tell the
    partner. Called when a request is approved (and by the demo data)."""
    if not lines:
        raise ValidationError("An order needs at least one item.")
    if employee.company_id is None:
        raise ValidationError("Only an employee of a company can receive an order.")
    if not partner.companies.filter(pk=employee.company_id).exists():
        raise ValidationError(f"{partner.name} does not serve {employee.company}.")
    if not delivery_address.strip():
        raise ValidationError("A delivery address is required.")
    now = at or timezone.now()
    order = Order.objects.create(
        company_id=employee.company_id,
        employee=employee,
        partner=partner,
        delivery_address=delivery_address.strip(),
        note=note.strip(),
        created_at=now,
    )
    devices = []
    for spec in lines:
        line = OrderLine.objects.create(
            order=order,
            product_id=spec.product_id,
            name=spec.name,
            category=spec.category,
            quantity=spec.quantity,
            unit_price=spec.unit_price,
            currency=spec.currency,
            is_leased=spec.is_leased,
            monthly_price=spec.monthly_price,
            lease_months=spec.lease_months,
        )
        devices += [
            Device(
                company_id=order.company_id,
                owner=employee,
                partner=partner,
                order=order,
                order_line=line,
                name=spec.name,
                category=spec.category,
                is_leased=spec.is_leased,
                price=spec.unit_price,
                currency=spec.currency,
            )
            for _ in range(spec.quantity)
        ]
    devices_create(devices=devices, actor=actor, source=source, at=now)
    order_event(order, actor, OrderEvent.Kind.CREATED, f"Order {order.number} created.", at=now)
    # The partner gets it after commit, through its adapter (API or e-mail).
    transaction.on_commit(lambda: schedule_dispatch(order.pk))
    return order


# --- The partner's status changes ---------------------------------------------------------------


PARTNER_STEPS = ("acknowledge", "start_preparing", "put_on_hold", "backorder")
# Steps the employee hears about: they change what the employee should expect.
STEPS_MAILED = {"put_on_hold": "device_on_hold", "backorder": "device_backordered"}


def devices_advance(
    *, device_ids, transition: str, actor, source: str, note: str = "", at=None
) -> list[Outcome]:
    """Acknowledge, start preparing, put on hold or backorder devices (partner or system).
    Holds and backorders are mailed to the employee, with the note as the reason."""
    if transition not in PARTNER_STEPS:
        raise ValueError(f"{transition!r} is not a partner step")
    if transition in ("put_on_hold", "backorder") and not note.strip() and actor is not SYSTEM:
        raise ValidationError("Say why, so the employee knows what to expect.")
    with transaction.atomic():
        outcomes = devices_transition(
            device_ids=device_ids,
            transition=transition,
            actor=actor,
            source=source,
            note=note,
            at=at,
        )
        kind = STEPS_MAILED.get(transition)
        if kind:
            mail_owners(outcomes, kind, note)
    return outcomes


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
        raise ValidationError("Name the carrier.")
    now = at or timezone.now()
    with transaction.atomic():
        devices = list(
            Device.objects.visible_to(actor).select_related("partner").filter(pk__in=device_ids)
        )
        if any(d.partner and d.partner.offers_tracking for d in devices) and not tracking_number:
            raise ValidationError(
                "A tracking number is required: this partner shares tracking with employees."
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
        outcomes = devices_transition(
            device_ids=device_ids,
            transition="ship",
            actor=actor,
            source=source,
            note=note,
            params={"at": now},
            params_for=lambda d: {"shipment_id": shipments[d.order_id].pk if d.order_id else None},
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
        _mail_shipped(outcomes, shipments)
    return outcomes


def _mail_shipped(outcomes: list[Outcome], shipments: dict[int, Shipment]) -> None:
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


def devices_deliver(
    *, device_ids, actor, source: str, at: datetime | None = None, note: str = ""
) -> list[Outcome]:
    """Devices reached the employee's address. Where the company's policy says
    auto-receive they become Received at once (by the system); otherwise the employee is
    asked, by e-mail and on Your Details, to mark them received."""
    now = at or timezone.now()
    with transaction.atomic():
        outcomes = devices_transition(
            device_ids=device_ids,
            transition="deliver",
            actor=actor,
            source=source,
            note=note,
            params={"at": now},
            at=now,
        )
        delivered = [o.device for o in outcomes if o.changed]
        auto = [d.pk for d in delivered if d.company.auto_receive_on_delivery]
        if auto:
            devices_transition(
                device_ids=auto,
                transition="mark_received",
                actor=SYSTEM,
                source=Source.SYSTEM,
                note="Received automatically on delivery (company policy).",
                params={"received_on": timezone.localdate(now)},
                at=now,
            )
        if auto:
            _after_received([d for d in delivered if d.pk in set(auto)], SYSTEM, now)
        waiting = [o for o in outcomes if o.changed and o.device.pk not in set(auto)]
        mail_owners(waiting, "device_delivered")
        Shipment.objects.filter(
            pk__in={d.shipment_id for d in delivered if d.shipment_id}, delivered_at__isnull=True
        ).update(delivered_at=now, status_text="Delivered")
    return outcomes


# --- The employee ------------------------------------------------------------------------------


def device_mark_received(
    *,
    device_id: int,
    actor,
    serial_number: str = "",
    received_on: date | None = None,
    source: str = Source.WEB,
    at: datetime | None = None,
) -> Outcome:
    """The employee marks their Shipped or Delivered device received, with its serial
    number (optional) and the date it arrived. A second submit changes nothing."""
    serial_number = serial_number.strip()
    if len(serial_number) > 100:
        raise ValidationError("A serial number has at most 100 characters.")
    today = timezone.localdate()
    received_on = received_on or today
    if received_on > today:
        raise ValidationError("The date received cannot be in the future.")
    with transaction.atomic():
        device = Device.objects.visible_to(actor).select_related("order").get(pk=device_id)
        ordered_on = timezone.localdate(device.order.created_at) if device.order else None
        if ordered_on and received_on < ordered_on:
            raise ValidationError(
                f"The date received cannot be before the order date ({ordered_on:%d %b %Y})."
            )
        outcome = device_transition(
            device_id=device_id,
            transition="mark_received",
            actor=actor,
            source=source,
            serial_number=serial_number,
            received_on=received_on,
            at=at,
        )
        if outcome.changed:
            _after_received([device], actor, at)
        return outcome


def _after_received(devices, actor, at=None) -> None:
    """What receiving means beyond the status, however it happened (the employee's click,
    auto-receive, a tracking update): leased devices get their lease, and orders whose
    every item has arrived have spent their budget."""
    if not devices:
        return
    leases_open_for([d.pk for d in devices], at)
    order_ids = {d.order_id for d in devices if d.order_id}
    if order_ids:
        _spend_received_orders(order_ids, actor, at)


def _spend_received_orders(order_ids, actor, at=None) -> None:
    """An order whose every live item is received has spent its committed budget (only
    orders paid from a budget are looked at: one query finds them)."""
    with_budget = orders_with_budget(order_ids)
    if not with_budget:
        return
    waiting = set(
        Device.objects.filter(order_id__in=with_budget)
        .filter(status__in=WITH_PARTNER_STATUSES | IN_TRANSIT_STATUSES)
        .values_list("order_id", flat=True)
    )
    for order_id in sorted(with_budget - waiting):
        budget_spend(order_id=order_id, actor=actor, at=at)


@transaction.atomic
def order_update_details(*, order_id: int, actor, delivery_address: str, note: str) -> Order:
    """The employee changes the delivery address or note while every device of the order
    is still Ordered or Not started; the change is recorded and the partner told. From
    Preparing on, the order is with the distributor and is refused here."""
    order = (
        Order.objects.visible_to(actor)
        .select_for_update()
        .select_related("partner")
        .get(pk=order_id)
    )
    if actor is not SYSTEM and order.employee_id != getattr(actor, "pk", None):
        raise TransitionRefused("Only the employee the order is for can change its details.")
    # Lock the devices too: a partner starting to prepare at this moment waits for us, or
    # we see their change and refuse.
    statuses = set(
        # hardware registered onto the order by hand never went through the partner's order
        Device.objects.select_for_update()
        .filter(order=order, registered_manually=False)
        .values_list("status", flat=True)
    )
    if not statuses <= UPDATABLE_STATUSES:
        raise TransitionRefused(
            f"Order {order.number} is already with {order.partner.name} and can no longer be "
            "changed in Velory. Contact the partner, or ask for the order to be cancelled."
        )
    delivery_address, note = delivery_address.strip(), note.strip()
    if not delivery_address:
        raise ValidationError("A delivery address is required.")
    changes = {}
    if delivery_address != order.delivery_address:
        changes["delivery_address"] = {"from": order.delivery_address, "to": delivery_address}
    if note != order.note:
        changes["note"] = {"from": order.note, "to": note}
    if not changes:
        return order
    order.delivery_address, order.note = delivery_address, note
    order.save(update_fields=["delivery_address", "note", "updated_at"])
    what = " and ".join(
        {"delivery_address": "delivery address", "note": "note"}[k] for k in changes
    )
    event = order_event(order, actor, OrderEvent.Kind.UPDATED, f"Changed the {what}.", changes)
    notify(
        kind="order_updated_partner",
        to_email=order.partner.support_email,
        context={"order": order, "changes": changes, "employee": order.employee},
        dedup_key=f"order_updated_partner:{order.pk}:{event.pk}",
    )
    order_event(
        order,
        SYSTEM,
        OrderEvent.Kind.PARTNER_NOTIFIED,
        f"{order.partner.name} was told of the change by e-mail.",
    )
    return order


# --- Hardware from outside Velory -------------------------------------------------------------


REGISTRABLE_STATUSES = (S.RECEIVED, S.ACTIVE)


@transaction.atomic
def device_register_manually(
    *,
    actor,
    owner_id: int,
    name: str,
    category: str,
    serial_number: str = "",
    status: str = S.ACTIVE,
    received_on: date | None = None,
    order_id: int | None = None,
    price: Decimal | None = None,
    note: str = "",
    leased: bool = False,
    lease_starts_on: date | None = None,
    lease_months: int | None = None,
    monthly_price: Decimal | None = None,
) -> Device:
    """A company admin registers hardware bought outside Velory, or added to an order by
    the partner, so it appears in the employee's profile (marked as registered manually)."""
    if getattr(actor, "role", None) != Role.COMPANY_ADMIN and not getattr(
        actor, "is_superuser", False
    ):
        raise TransitionRefused("Only a company admin can register hardware.")
    owner = User.objects.visible_to(actor).filter(company__isnull=False).get(pk=owner_id)
    if status not in REGISTRABLE_STATUSES:
        raise ValidationError("Registered hardware is Received or Active.")
    if not name.strip():
        raise ValidationError("Name the device.")
    order = None
    if order_id is not None:
        order = Order.objects.visible_to(actor).get(pk=order_id, employee=owner)
    company = owner.company
    if leased and company.leasing_company_id is None:
        raise ValidationError(f"{company.name} has no leasing company to lease from.")
    # Leased hardware bought outside Velory goes back through the reseller of the company's
    # leasing arrangement: it is that partner's to see and to confirm when returned.
    arrangement = (
        arrangement_for(company.pk, company.leasing_company_id) if leased and not order else None
    )
    partner = order.partner if order else (arrangement.partner if arrangement else None)
    [device] = devices_create(
        devices=[
            Device(
                company=company,
                owner=owner,
                partner=partner,
                order=order,
                name=name.strip(),
                category=category,
                serial_number=serial_number.strip(),
                status=status,
                received_on=received_on or timezone.localdate(),
                registered_manually=True,
                is_leased=leased,
                price=price,
                currency=company.currency if price is not None else "",
            )
        ],
        actor=actor,
        source=Source.ADMIN,
        note=note or ("Added to the order by the partner." if order else "Bought outside Velory."),
    )
    if leased:
        lease_create(
            device=device,
            leasing_company=company.leasing_company,
            partner=partner,
            starts_on=lease_starts_on or device.received_on,
            months=lease_months or 36,
            monthly_price=monthly_price or Decimal("0"),
            currency=company.currency,
        )
    return device


# --- Tracking --------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrackingEvent:
    at: datetime
    description: str
    location: str = ""


@transaction.atomic
def shipment_record_progress(
    *,
    shipment_id: int,
    status_text: str = "",
    expected_delivery: date | None = None,
    events: list[TrackingEvent] = (),
) -> Shipment:
    """Record what the carrier says about a shipment: its status wording, expected
    delivery and new scan events (events already recorded are ignored)."""
    from ..models import ShipmentEvent

    shipment = Shipment.objects.select_for_update().select_related("order").get(pk=shipment_id)
    fields = []
    if status_text and status_text != shipment.status_text:
        shipment.status_text = status_text[:200]
        fields.append("status_text")
    if expected_delivery and expected_delivery != shipment.expected_delivery:
        shipment.expected_delivery = expected_delivery
        fields.append("expected_delivery")
    if fields:
        shipment.save(update_fields=[*fields, "updated_at"])
        profiles_touch([shipment.order.employee_id])
    if events:
        ShipmentEvent.objects.bulk_create(
            [
                ShipmentEvent(
                    shipment=shipment,
                    at=e.at,
                    description=e.description[:300],
                    location=e.location[:120],
                )
                for e in events
            ],
            ignore_conflicts=True,
        )
    return shipment


__all__ = [
    "PARTNER_STEPS",
    "REGISTRABLE_STATUSES",
    "LineSpec",
    "Result",
    "TrackingEvent",
    "device_mark_received",
    "device_register_manually",
    "devices_advance",
    "devices_deliver",
    "devices_ship",
    "order_create",
    "order_event",
    "order_update_details",
    "shipment_record_progress",
]
