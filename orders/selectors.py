"""Reads about orders, for pages: each a constant number of queries."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Prefetch

from budgets.models import ZERO, Budget
from budgets.selectors import budget_applicable
from companies.models import User
from devices.models import (
    FINAL_STATUSES,
    LABELS,
    PROGRESS,
    TONE,
    UPDATABLE_STATUSES,
    Device,
    DeviceStatus,
)

from .models import Order, OrderEvent, Product, Shipment, ShipmentEvent

S = DeviceStatus


@dataclass(frozen=True)
class OrderStatus:
    label: str
    tone: str
    detail: str = ""

    @property
    def text(self) -> str:
        return f"{self.label} — {self.detail}" if self.detail else self.label


def order_status(statuses: Iterable[str]) -> OrderStatus:
    """An order's status, from its devices': when they all agree, their status; otherwise
    the furthest stage reached and by how many ("Shipped — 2 of 3 items"). Cancelled
    devices count only when all are cancelled."""
    statuses = list(statuses)
    if not statuses:
        return OrderStatus("No items", "neutral")
    live = [s for s in statuses if s != S.CANCELLED]
    if not live:
        return OrderStatus(LABELS[S.CANCELLED], TONE[S.CANCELLED])
    if len(set(live)) == 1:
        status = live[0]
        detail = f"{len(live)} of {len(statuses)} items" if len(live) < len(statuses) else ""
        return OrderStatus(LABELS[status], TONE[status], detail)
    furthest = max(live, key=lambda s: PROGRESS[s])
    reached = sum(1 for s in live if PROGRESS[s] >= PROGRESS[furthest])
    return OrderStatus(LABELS[furthest], TONE[furthest], f"{reached} of {len(statuses)} items")


def order_is_updatable(statuses: Iterable[str]) -> bool:
    """The employee may change the order only while every device is Ordered or Not started."""
    statuses = list(statuses)
    return bool(statuses) and all(s in UPDATABLE_STATUSES for s in statuses)


def order_is_open(statuses: Iterable[str]) -> bool:
    """Still on its way to the employee (some device not yet received, nor final)."""
    return any(PROGRESS[s] < PROGRESS[S.RECEIVED] and s not in FINAL_STATUSES for s in statuses)


def order_detail_for(user, order_id: int) -> Order:
    """The user's own order (the portal shows nobody else's, not even to a company admin),
    with partner, devices and history: 3 queries."""
    return (
        Order.objects.visible_to(user)
        .filter(employee=user)
        .select_related("partner", "employee", "company")
        .prefetch_related(
            Prefetch("devices", queryset=Device.objects.order_by("pk")),
            Prefetch("events", queryset=OrderEvent.objects.order_by("-at", "-id")),
        )
        .get(pk=order_id)
    )


def order_tracking_for(user, order_id: int) -> Order:
    """The user's own order with its shipments and their carrier events: 4 queries."""
    return (
        Order.objects.visible_to(user)
        .filter(employee=user)
        .select_related("partner")
        .prefetch_related(
            Prefetch("devices", queryset=Device.objects.order_by("pk")),
            Prefetch(
                "shipments",
                queryset=Shipment.objects.order_by("-shipped_at").prefetch_related(
                    Prefetch("events", queryset=ShipmentEvent.objects.order_by("-at", "-id"))
                ),
            ),
        )
        .get(pk=order_id)
    )


@dataclass(frozen=True)
class Quote:
    """How a request for a product would be paid, as the request form explains it."""

    amount: Decimal
    currency: str
    budget: Budget | None
    available: Decimal
    budget_amount: Decimal
    card_amount: Decimal
    allowed: bool
    message: str = ""

    @property
    def fits(self) -> bool:
        return self.allowed and self.card_amount == 0


def request_quote(*, employee: User, product: Product, budget: Budget | None = None) -> Quote:
    """Paid from the budget when it fits; the rest by card where the company allows it;
    otherwise refused, with the reason."""
    budget = budget or budget_applicable(employee, product.category)
    amount, currency = product.price, product.currency
    if budget is None:
        return Quote(
            amount,
            currency,
            None,
            ZERO,
            ZERO,
            ZERO,
            False,
            "You have no hardware budget for this yet. Ask your company admin.",
        )
    available = max(budget.available, ZERO)
    if currency != budget.currency:
        return Quote(
            amount,
            currency,
            budget,
            available,
            ZERO,
            ZERO,
            False,
            f"This product is priced in {currency} and your budget is in "
            f"{budget.currency}; ask your company admin.",
        )
    if amount <= available:
        return Quote(amount, currency, budget, available, amount, ZERO, True)
    if employee.company.card_payments_allowed:
        over = amount - available
        if available > 0:
            how = (
                f"{available} {currency} comes from your budget and the remaining {over} "
                f"{currency} is paid by your card."
            )
        else:
            how = (
                f"Your {budget.category_label.lower()} budget has nothing left, so the full "
                f"{over} {currency} is paid by your card."
            )
        return Quote(amount, currency, budget, available, available, over, True, how)
    return Quote(
        amount,
        currency,
        budget,
        available,
        ZERO,
        ZERO,
        False,
        f"This costs {amount} {currency} and you have {available} {currency} available "
        f"in your {budget.category_label.lower()} budget.",
    )
