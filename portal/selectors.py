"""Page reads for the employee portal. Each costs a constant number of queries, whatever
the number of devices (asserted in tests/portal/test_queries.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from django.db.models import Prefetch

from companies.models import Partner, User
from devices.models import Device, DeviceEvent, DeviceStatus
from orders.selectors import OrderStatus, order_is_open, order_status
from velory.tenancy import Role

S = DeviceStatus


@dataclass
class OrderCard:
    """One order on Your Details, summarised from the devices already loaded."""

    pk: int
    number: str
    created_at: object
    partner_name: str
    tracks: bool
    devices: list = field(default_factory=list)
    status: OrderStatus | None = None
    expected_delivery: date | None = None
    shipped: bool = False

    @property
    def url(self) -> str:
        return f"/me/orders/{self.pk}/"

    @property
    def track_url(self) -> str:
        return f"/me/orders/{self.pk}/track/"

    @property
    def items(self) -> str:
        names = [d.name for d in self.devices]
        return ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")


@dataclass
class YourDetails:
    devices: list
    open_orders: list[OrderCard]
    waiting: list  # delivered (or shipped) devices the employee should mark received
    counts: dict


def your_details_for(user: User) -> YourDetails:
    """Everything on Your Details: one query for the devices with their order, partner,
    shipment and lease; the orders are summarised from them."""
    devices = list(
        Device.objects.visible_to(user)
        .filter(owner=user)
        .select_related("order", "partner", "shipment", "lease")
        .only(
            "pk",
            "name",
            "category",
            "status",
            "is_leased",
            "registered_manually",
            "serial_number",
            "created_at",
            "shipped_at",
            "delivered_at",
            "received_on",
            "status_changed_at",
            "order__id",
            "order__created_at",
            "order__expected_delivery",
            "partner__id",
            "partner__name",
            "partner__offers_tracking",
            "shipment__id",
            "shipment__expected_delivery",
            "lease__id",
            "lease__ends_on",
            "lease__status",
        )
        .order_by("-created_at", "-pk")
    )
    cards: dict[int, OrderCard] = {}
    for d in devices:
        if d.order_id is None:
            continue
        card = cards.get(d.order_id)
        if card is None:
            card = cards[d.order_id] = OrderCard(
                pk=d.order_id,
                number=f"VO-{d.order_id:06d}",
                created_at=d.order.created_at,
                partner_name=d.partner.name if d.partner else "",
                tracks=bool(d.partner and d.partner.offers_tracking),
                expected_delivery=d.order.expected_delivery,
            )
        card.devices.append(d)
    open_orders = []
    for card in cards.values():
        statuses = [d.status for d in card.devices]
        if order_is_open(statuses):
            card.status = order_status(statuses)
            card.shipped = any(d.shipment_id for d in card.devices)
            open_orders.append(card)
    waiting = [d for d in devices if d.status == S.DELIVERED]
    counts = {
        "devices": len(devices),
        "in_use": sum(1 for d in devices if d.status in (S.RECEIVED, S.ACTIVE)),
    }
    return YourDetails(devices=devices, open_orders=open_orders, waiting=waiting, counts=counts)


def device_detail_for(user, device_id: int) -> Device:
    """The user's own device (the portal shows nobody else's, not even to a company admin),
    with its order, partner, shipment, lease and history: 2 queries."""
    return (
        Device.objects.visible_to(user)
        .filter(owner=user)
        .select_related(
            "company", "partner", "order", "shipment", "lease", "lease__leasing_company", "owner"
        )
        .prefetch_related(Prefetch("events", queryset=DeviceEvent.objects.order_by("-at", "-id")))
        .get(pk=device_id)
    )


def support_contacts_for(user: User) -> dict:
    """Who an employee can ask: their company's IT contact and admins, the partners that
    handle their orders, and the leasing company. Two queries."""
    company = user.company
    if company is None:
        return {"company": None, "admins": [], "partners": [], "leasing_company": None}
    admins = list(
        User.objects.filter(company=company, role=Role.COMPANY_ADMIN, is_active=True)
        .only("full_name", "email", "phone", "job_title")
        .order_by("full_name")
    )
    partners = list(Partner.objects.visible_to(user).order_by("name"))
    return {
        "company": company,
        "admins": admins,
        "partners": partners,
        "leasing_company": company.leasing_company if company.leasing_company_id else None,
    }
