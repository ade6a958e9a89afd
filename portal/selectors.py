"""Page reads for the employee portal. Each costs a constant number of queries, whatever
the number of devices (asserted in tests/portal/test_queries.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import Prefetch, Q
from django.utils import timezone

from budgets.models import Budget, BudgetEntry, CardPayment, Refund
from companies.models import Partner, User
from devices.models import LABELS, TONE, Category, Device, DeviceEvent, DeviceStatus
from leasing.models import CHOOSABLE, Buyout, Lease, LeasingArrangement
from leasing.services import buyout_price, return_party
from orders.models import Product, ProductRequest, RequestStatus, order_number
from orders.selectors import OrderStatus, order_is_open, order_status, request_quote

S = DeviceStatus


MONTHS = ("", "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
MONTHS_LONG = (
    "",
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
CATEGORY_LABELS = dict(Category.choices)


def short_date(value) -> str:
    """3 Jan 2026: dates formatted here once, not by a template filter per row."""
    if isinstance(value, datetime):
        value = timezone.localtime(value)
    return f"{value.day} {MONTHS[value.month]} {value.year}"


def long_date(value) -> str:
    if isinstance(value, datetime):
        value = timezone.localtime(value)
    return f"{value.day} {MONTHS_LONG[value.month]} {value.year}"


@dataclass
class OrderCard:
    """One order on Your Details, summarised from the device rows already loaded."""

    pk: int
    number: str
    ordered: str
    partner_name: str
    tracks: bool
    expected: str = ""
    devices: list = field(default_factory=list)
    status: OrderStatus | None = None
    shipped: bool = False

    @property
    def url(self) -> str:
        return f"/me/orders/{self.pk}/"

    @property
    def track_url(self) -> str:
        return f"/me/orders/{self.pk}/track/"

    @property
    def items(self) -> str:
        names = [d["name"] for d in self.devices]
        return ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")


@dataclass
class YourDetails:
    devices: list[dict]
    open_orders: list[OrderCard]
    waiting: list[dict]  # delivered devices the employee should mark received
    counts: dict
    budgets: list = field(default_factory=list)
    requests: list = field(default_factory=list)
    payments: list = field(default_factory=list)
    lease_due: list[dict] = field(default_factory=list)  # lease ends: return or buy out?
    buyouts: list[dict] = field(default_factory=list)  # buyouts waiting for payment


DEVICE_ROW_FIELDS = (
    "pk",
    "name",
    "category",
    "status",
    "registered_manually",
    "delivered_at",
    "received_on",
    "shipment_id",
    "order_id",
    "order__created_at",
    "order__expected_delivery",
    "partner__name",
    "partner__offers_tracking",
    "shipment__expected_delivery",
    "lease__ends_on",
    "lease__status",
    "lease__choice",
    "lease__last_notice_days",
)


def _device_row(v: dict) -> dict:
    """A device as Your Details shows it: every label and date worked out once here."""
    meta = [CATEGORY_LABELS.get(v["category"], v["category"])]
    if v["registered_manually"]:
        meta.append("Registered manually")
    elif v["order_id"]:
        meta.append(f"Ordered {short_date(v['order__created_at'])}")
    expected = v["shipment__expected_delivery"] or v["order__expected_delivery"]
    if v["received_on"]:
        meta.append(f"Received {short_date(v['received_on'])}")
    elif v["delivered_at"]:
        meta.append(f"Delivered {short_date(v['delivered_at'])}")
    elif expected and v["status"] in (S.SHIPPED, S.PREPARING, S.NOT_STARTED, S.ORDERED):
        meta.append(f"Expected {short_date(expected)}")
    if v["lease__ends_on"] and v["lease__status"] == "active":
        meta.append(f"Lease ends {long_date(v['lease__ends_on'])}")
    return {
        "pk": v["pk"],
        "name": v["name"],
        "url": f"/me/devices/{v['pk']}/",
        "status": v["status"],
        "label": LABELS[v["status"]],
        "tone": TONE[v["status"]],
        "meta": " · ".join(meta),
        "delivered": long_date(v["delivered_at"]) if v["delivered_at"] else "",
        # a lease-end notice the employee has not answered yet
        "lease_due": long_date(v["lease__ends_on"])
        if v["lease__status"] == "active"
        and v["lease__last_notice_days"] is not None
        and not v["lease__choice"]
        and v["status"] in (S.RECEIVED, S.ACTIVE)
        else "",
    }


def your_details_for(user: User) -> YourDetails:
    """Everything on Your Details in one query: the user's devices with their order,
    partner, shipment and lease, read as plain values (no model instances: this page must
    stay fast with hundreds of devices); the orders are summarised from them."""
    values = (
        Device.objects.visible_to(user)
        .filter(owner=user)
        .order_by("-created_at", "-pk")
        .values(*DEVICE_ROW_FIELDS)
    )
    rows, cards = [], {}
    for v in values:
        row = _device_row(v)
        rows.append(row)
        order_id = v["order_id"]
        if order_id is None:
            continue
        card = cards.get(order_id)
        if card is None:
            expected = v["order__expected_delivery"]
            card = cards[order_id] = OrderCard(
                pk=order_id,
                number=order_number(order_id),
                ordered=short_date(v["order__created_at"]),
                partner_name=v["partner__name"] or "",
                tracks=bool(v["partner__offers_tracking"]),
                expected=short_date(expected) if expected else "",
            )
        card.devices.append(row)
        card.shipped = card.shipped or bool(v["shipment_id"])
    open_orders = []
    for card in cards.values():
        statuses = [d["status"] for d in card.devices]
        if order_is_open(statuses):
            card.status = order_status(statuses)
            open_orders.append(card)
    return YourDetails(
        devices=rows,
        open_orders=open_orders,
        waiting=[r for r in rows if r["status"] == S.DELIVERED],
        lease_due=[r for r in rows if r["lease_due"]],
        buyouts=[r for r in rows if r["status"] == S.PENDING_BUYOUT],
        counts={
            "devices": len(rows),
            "in_use": sum(1 for r in rows if r["status"] in (S.RECEIVED, S.ACTIVE)),
        },
        budgets=budget_cards_for(user),
        requests=requests_for(user),
        payments=payments_for(user),
    )


@dataclass
class BudgetCard:
    budget: Budget

    @property
    def label(self) -> str:
        return self.budget.category_label

    @property
    def until(self) -> str:
        return long_date(self.budget.period_end)

    def share(self, value) -> str:
        """A part of the allowance as a CSS width (the meter)."""
        total = self.budget.total_allowance
        return f"{min(value / total * 100, 100):.1f}%" if total > 0 else "0%"

    @property
    def meter(self) -> dict:
        b = self.budget
        return {
            "spent": self.share(b.spent),
            "committed": self.share(b.committed),
            "reserved": self.share(b.reserved),
        }


def budget_cards_for(user: User) -> list[BudgetCard]:
    """The user's budgets: one query."""
    return [
        BudgetCard(b)
        for b in Budget.objects.visible_to(user).filter(employee=user).order_by("category")
    ]


def requests_for(user: User, days: int = 30) -> list[ProductRequest]:
    """Requests waiting for approval, and those turned down in the last ``days`` (approved
    ones show as orders): one query."""
    since = timezone.now() - timedelta(days=days)
    turned_down = [RequestStatus.REJECTED, RequestStatus.WITHDRAWN, RequestStatus.FAILED]
    waiting = [RequestStatus.PENDING, RequestStatus.AWAITING_PAYMENT]
    unpaid = [CardPayment.Status.PENDING, CardPayment.Status.EXPIRED]
    return list(
        ProductRequest.objects.visible_to(user)
        .filter(employee=user)
        .filter(
            Q(status__in=waiting)
            | Q(status__in=turned_down, decided_at__gte=since)
            # approved, but the hold ran out before it was captured: the card is asked again
            | Q(status=RequestStatus.APPROVED, card_payment__status__in=unpaid)
        )
        .select_related("card_payment")
        .order_by("-created_at")
    )


def payments_for(user: User) -> list[CardPayment]:
    """Card payments with their refunds, but not the failed attempts the employee
    dismissed: two queries (one when there are none)."""
    return list(
        CardPayment.objects.visible_to(user)
        .filter(employee=user, dismissed_at__isnull=True)
        .select_related("request")
        .prefetch_related(Prefetch("refunds", queryset=Refund.objects.order_by("created_at")))
        .order_by("-created_at")
    )


def budget_history_for(user: User) -> dict:
    """The budget page: budgets, every ledger entry, card payments and refunds."""
    budgets = budget_cards_for(user)
    entries = list(
        BudgetEntry.objects.visible_to(user)
        .filter(budget__employee=user)
        .select_related("budget", "request", "order")
        .order_by("-created_at", "-id")
    )
    return {"budgets": budgets, "entries": entries, "payments": payments_for(user)}


def catalogue_for(user: User, category: str = "") -> list[tuple]:
    """The company's active products with how each would be paid: two queries."""
    products = Product.objects.visible_to(user).active().select_related("partner")
    if category:
        products = products.filter(category=category)
    budgets = {b.category: b for b in Budget.objects.visible_to(user).filter(employee=user)}
    rows = []
    for product in products.order_by("category", "price"):
        budget = budgets.get(product.category) or budgets.get("")
        rows.append(
            (
                product,
                request_quote(employee=user, product=product, budget=budget) if budget else None,
            )
        )
    return rows


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


def lease_panel_for(device: Device) -> dict | None:
    """What the device page shows of a leased device's lease: the lease, who sends the
    return instructions (and the steps), a buyout waiting for payment and its price, and
    which choices are open. Two queries; None for a device that is not leased."""

    try:
        lease = device.lease
    except Lease.DoesNotExist:
        return None
    lease.device = device
    arrangement = (
        LeasingArrangement.objects.select_related("partner")
        .filter(company_id=device.company_id, leasing_company_id=lease.leasing_company_id)
        .first()
    )
    buyout = (
        Buyout.objects.filter(lease=lease, status__in=[Buyout.Status.PENDING, Buyout.Status.PAID])
        .select_related("payment")
        .order_by("-created_at")
        .first()
    )
    choosable = lease.is_open and device.status in CHOOSABLE
    return {
        "lease": lease,
        "party": return_party(lease, arrangement),
        "steps": arrangement.return_steps if arrangement else LeasingArrangement().return_steps,
        "buyout": buyout if buyout and buyout.status == Buyout.Status.PENDING else None,
        "paid_buyout": buyout if buyout and buyout.status == Buyout.Status.PAID else None,
        "price": buyout.price if buyout else buyout_price(lease, arrangement),
        "buyout_allowed": device.company.buyout_allowed,
        "can_choose": choosable,
        "returning": lease.is_open and device.status == S.PROCESSING_TRADE_IN,
    }


def support_contacts_for(user: User) -> dict:
    """Who an employee can ask: their company's IT contact and admins, the partners that
    handle their orders, and the leasing company. Two queries."""
    company = user.company
    if company is None:
        return {"company": None, "admins": [], "partners": [], "leasing_company": None}
    admins = list(
        User.objects.company_admins(company.pk)
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
