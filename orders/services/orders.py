"""Order use cases: creating an order (one device per unit) and changing its details while
that is still allowed. Each function is one use case, in one transaction; the devices'
status changes are the devices app's (``devices.lifecycle``), mail goes through the outbox."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from companies.models import Partner, User
from companies.services import profiles_touch
from core.jobs import enqueue_named
from core.locks import devices_lock, order_lock
from core.tenancy import SYSTEM, actor_name
from core.transactions import use_case
from devices.engine import TransitionRefused, devices_create
from devices.models import UPDATABLE_STATUSES, Device, DeviceStatus, Source
from notifications import webhooks
from notifications.services import notify

from ..models import Order, OrderEvent, OrderLine

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


# The partner gets the order through its adapter (partners/, above this app), by task name.
PLACE_TASK = "partners.tasks.place_order"


def order_place_later(order_id: int) -> None:
    """Ask for the order to be placed with its partner (after commit; the placing sweeper
    catches it when the broker is down)."""
    enqueue_named(PLACE_TASK, order_id)


def order_event(order: Order, actor, kind: str, message: str, data=None, at=None) -> OrderEvent:
    """The one writer of an order's history, which its page shows: renews the employee's
    pages (``profiles_touch``)."""
    profiles_touch([order.employee_id])
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


@use_case
@transaction.atomic
def order_create(
    *,
    employee_id: int,
    partner_id: int,
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
        raise ValidationError(_("An order needs at least one item."))
    employee = User.objects.select_related("company").get(pk=employee_id)
    partner = Partner.objects.get(pk=partner_id)
    if employee.company_id is None:
        raise ValidationError(_("Only an employee of a company can receive an order."))
    if not partner.companies.filter(pk=employee.company_id).exists():
        raise ValidationError(
            _("%(partner)s does not serve %(company)s.")
            % {"partner": partner.name, "company": employee.company}
        )
    if not delivery_address.strip():
        raise ValidationError(_("A delivery address is required."))
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
    # (history lines are stored as written: not translated)
    order_event(order, actor, OrderEvent.Kind.CREATED, f"Order {order.number} created.", at=now)
    # Webhooks: the company's and the partner's receivers hear of it (sent after commit).
    webhooks.emit(
        event="order.placed",
        company_id=order.company_id,
        partner_id=order.partner_id,
        data=order_webhook_data(order, employee, lines),
        dedup_key=f"order.placed:{order.pk}",
    )
    # The partner gets it after commit, through its adapter (API or e-mail).
    transaction.on_commit(lambda: order_place_later(order.pk))
    return order


def order_webhook_data(order: Order, employee, lines: list[LineSpec]) -> dict:
    """What a webhook says of a new order: ids, number, items; no address, no note."""
    return {
        "order": {"id": order.pk, "number": order.number, "created_at": order.created_at},
        "items": [
            {
                "name": spec.name,
                "category": spec.category,
                "quantity": spec.quantity,
                "unit_price": spec.unit_price,
                "currency": spec.currency,
                "is_leased": spec.is_leased,
            }
            for spec in lines
        ],
        "employee": {"id": employee.pk, "name": employee.get_full_name()},
        "company_id": order.company_id,
        "partner_id": order.partner_id,
    }


@use_case
@transaction.atomic
def order_update_details(*, order_id: int, actor, delivery_address: str, note: str) -> Order:
    """The employee changes the delivery address or note while every device of the order
    is still Ordered or Not started; the change is recorded and the partner told. From
    Preparing on, the order is with the distributor and is refused here."""
    order = order_lock(order_id, actor=actor, related=["partner"])
    if actor is not SYSTEM and order.employee_id != getattr(actor, "pk", None):
        raise TransitionRefused(_("Only the employee the order is for can change its details."))
    # Lock the devices too: a partner starting to prepare at this moment waits for us, or
    # we see their change and refuse.
    # (hardware registered onto the order by hand never went through the partner's order)
    statuses = {d.status for d in devices_lock(filters=Q(order=order, registered_manually=False))}
    if not statuses <= UPDATABLE_STATUSES:
        raise TransitionRefused(
            _(
                "Order %(number)s is already with %(partner)s and can no longer be changed in "
                "Velory. Contact the partner, or ask for the order to be cancelled."
            )
            % {"number": order.number, "partner": order.partner.name}
        )
    delivery_address, note = delivery_address.strip(), note.strip()
    if not delivery_address:
        raise ValidationError(_("A delivery address is required."))
    changes = {}
    if delivery_address != order.delivery_address:
        changes["delivery_address"] = {"from": order.delivery_address, "to": delivery_address}
    if note != order.note:
        changes["note"] = {"from": order.note, "to": note}
    if not changes:
        return order
    order.delivery_address, order.note = delivery_address, note
    order.save(update_fields=["delivery_address", "note", "updated_at"])
    # The history lines are stored as written (not translated).
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
