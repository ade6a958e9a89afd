"""Reads about orders, for pages: each a constant number of queries."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import Prefetch, Q
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from budgets.models import ZERO, Budget, CardPayment
from budgets.selectors import budget_applicable
from companies.models import User
from core.money import money
from devices.models import (
    FINAL_STATUSES,
    IN_USE_STATUSES,
    LABELS,
    PROGRESS,
    TONE,
    UPDATABLE_STATUSES,
    Device,
    DeviceStatus,
)

from .models import (
    Order,
    OrderEvent,
    Product,
    ProductRequest,
    RequestStatus,
    Shipment,
    ShipmentEvent,
    order_number,
)

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
        return OrderStatus(_("No items"), "neutral")
    live = [s for s in statuses if s != S.CANCELLED]
    if not live:
        return OrderStatus(LABELS[S.CANCELLED], TONE[S.CANCELLED])
    if len(set(live)) == 1:
        status = live[0]
        detail = _of_items(len(live), len(statuses)) if len(live) < len(statuses) else ""
        return OrderStatus(LABELS[status], TONE[status], detail)
    furthest = max(live, key=lambda s: PROGRESS[s])
    reached = sum(1 for s in live if PROGRESS[s] >= PROGRESS[furthest])
    return OrderStatus(LABELS[furthest], TONE[furthest], _of_items(reached, len(statuses)))


def _of_items(count: int, total: int) -> str:
    # Translators: how many of an order's items reached its status ("Shipped — 2 of 3 items").
    return ngettext("%(count)d of %(total)d item", "%(count)d of %(total)d items", total) % {
        "count": count,
        "total": total,
    }


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
            _("You have no hardware budget for this yet. Ask your company admin."),
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
            _(
                "This product is priced in %(currency)s and your budget is in "
                "%(budget_currency)s; ask your company admin."
            )
            % {"currency": currency, "budget_currency": budget.currency},
        )
    if amount <= available:
        return Quote(amount, currency, budget, available, amount, ZERO, True)
    if employee.company.card_payments_allowed:
        over = amount - available
        if available > 0:
            how = _(
                "%(available)s comes from your budget and the remaining %(over)s is paid by "
                "your card."
            ) % {"available": money(available, currency), "over": money(over, currency)}
        else:
            # Translators: %(category)s is the budget's kind in lower case ("laptop",
            # "hardware").
            how = _(
                "Your %(category)s budget has nothing left, so the full %(over)s is paid by "
                "your card."
            ) % {"category": budget.category_label.lower(), "over": money(over, currency)}
        return Quote(amount, currency, budget, available, available, over, True, how)
    return Quote(
        amount,
        currency,
        budget,
        available,
        ZERO,
        ZERO,
        False,
        # Translators: %(category)s is the budget's kind in lower case ("laptop", "hardware").
        _("This costs %(amount)s and you have %(available)s available in your %(category)s budget.")
        % {
            "amount": money(amount, currency),
            "available": money(available, currency),
            "category": budget.category_label.lower(),
        },
    )


# --- A request as the company admin decides on it ---------------------------------------------

EARLIER_REQUESTS = 10
REQUEST_LABELS = dict(RequestStatus.choices)


@dataclass(frozen=True)
class RequestContext:
    """What a company admin sees beside a request before deciding on it."""

    request: ProductRequest
    budget: Budget | None  # the budget the request is paid from (its category's, else overall)
    payment: CardPayment | None  # the card part's payment, if any
    devices: list[dict] = field(default_factory=list)  # in the employee's hands
    open_orders: list[dict] = field(default_factory=list)  # still on their way
    earlier: list[dict] = field(default_factory=list)  # the last requests before this one
    more_earlier: bool = False  # there are older ones than those shown

    @property
    def available(self) -> Decimal | None:
        """What the budget has left now (a pending request's own share is reserved, so
        it is already taken out)."""
        return self.budget.available if self.budget is not None else None

    @property
    def share_reserved(self) -> bool:
        """This request's budget share is held in the budget's reserved total."""
        return self.request.status in (RequestStatus.PENDING, RequestStatus.AWAITING_PAYMENT)

    @property
    def card_warning(self) -> str:
        """Why approving would be refused for the card part, in the admin's words."""
        r, p = self.request, self.payment
        if not r.card_amount or r.status != RequestStatus.PENDING:
            return ""
        if p is None or p.status != CardPayment.Status.AUTHORIZED:
            return _(
                "The card part is not held now: approval is refused until the employee "
                "authorizes the card again."
            )
        return ""


def request_context_for(request_obj: ProductRequest, actor) -> RequestContext:
    """The request's employee as the deciding admin needs them: the budget the request is
    paid from and how it is split between budget and card (with the card payment's state),
    the devices they have, their open orders and their last earlier requests. Everything
    read through ``visible_to(actor)``, so nothing of another company shows (the request
    itself is not found for them). Four queries, whatever the number of devices, orders
    and requests."""
    request = (
        ProductRequest.objects.visible_to(actor)
        .select_related("employee", "card_payment")
        .get(pk=request_obj.pk)
    )
    employee_id = request.employee_id
    budgets = {
        b.category: b
        for b in Budget.objects.visible_to(actor).filter(
            employee_id=employee_id, category__in=[request.category, ""]
        )
    }
    budget = budgets.get(request.category) or budgets.get("")
    payment = getattr(request, "card_payment", None)

    devices, orders = [], {}
    rows = (
        Device.objects.visible_to(actor)
        .filter(Q(owner_id=employee_id) | Q(order__employee_id=employee_id))
        .order_by("-created_at", "-pk")
        .values("pk", "name", "status", "is_leased", "owner_id", "order_id", "order__created_at")
    )
    for row in rows:
        if row["owner_id"] == employee_id and row["status"] in IN_USE_STATUSES:
            devices.append(
                {
                    "pk": row["pk"],
                    "name": row["name"],
                    "label": LABELS[row["status"]],
                    "tone": TONE[row["status"]],
                    "leased": row["is_leased"],
                }
            )
        if row["order_id"] is not None:
            order = orders.setdefault(
                row["order_id"],
                {
                    "pk": row["order_id"],
                    "number": order_number(row["order_id"]),
                    "ordered": row["order__created_at"],
                    "statuses": [],
                },
            )
            order["statuses"].append(row["status"])
    open_orders = [
        {**order, "status": order_status(order["statuses"])}
        for order in orders.values()
        if order_is_open(order["statuses"])
    ]

    earlier = list(
        ProductRequest.objects.visible_to(actor)
        .filter(employee_id=employee_id)
        .filter(
            Q(created_at__lt=request.created_at)
            | Q(created_at=request.created_at, pk__lt=request.pk)
        )
        .order_by("-created_at", "-pk")
        .values("pk", "name", "status", "amount", "currency", "created_at")[: EARLIER_REQUESTS + 1]
    )
    return RequestContext(
        request=request,
        budget=budget,
        payment=payment,
        devices=devices,
        open_orders=open_orders,
        earlier=[_earlier_row(row) for row in earlier[:EARLIER_REQUESTS]],
        more_earlier=len(earlier) > EARLIER_REQUESTS,
    )


def _earlier_row(row: dict) -> dict:
    return {
        "pk": row["pk"],
        "number": f"VR-{row['pk']:06d}",
        "name": row["name"],
        "label": REQUEST_LABELS.get(row["status"], row["status"]),
        "amount": row["amount"],
        "currency": row["currency"],
        "created_at": row["created_at"],
    }
