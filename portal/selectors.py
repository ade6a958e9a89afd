"""Page reads for the employee portal. Each costs a constant number of queries, whatever
the number of devices (asserted in tests/portal/test_queries.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from html import escape

from django.db import models
from django.db.models import F, OuterRef, Prefetch, Q, Subquery
from django.utils import timezone
from django.utils.dates import MONTHS as MONTHS_LONG
from django.utils.dates import MONTHS_3
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from budgets.models import Budget, BudgetEntry, CardPayment, Refund
from companies.models import Partner, User
from core import fastread
from core.money import money
from devices.models import (
    IN_TRANSIT_STATUSES,
    LABELS,
    PROGRESS,
    TONE,
    WITH_PARTNER_STATUSES,
    Category,
    Device,
    DeviceEvent,
    DeviceStatus,
)
from leasing.models import CHOOSABLE, Buyout, Lease, LeasingArrangement, return_due
from leasing.services import buyout_price, return_party
from orders.models import Order, Product, ProductRequest, RequestStatus, order_number
from orders.selectors import OrderStatus, order_is_open, order_status, request_quote
from people.selectors import inbox_reads

S = DeviceStatus


CATEGORY_LABELS = dict(Category.choices)


def short_date(value, tz=None) -> str:
    """3 Jan 2026 (``|date:"j M Y"``, in the active language): dates formatted here once,
    not by a template filter per row. A moment is read in ``tz`` (the current time zone,
    when not given)."""
    if isinstance(value, datetime):
        value = timezone.localtime(value, tz)
    return f"{value.day} {MONTHS_3[value.month].title()} {value.year}"


def long_date(value, tz=None) -> str:
    if isinstance(value, datetime):
        value = timezone.localtime(value, tz)
    return f"{value.day} {MONTHS_LONG[value.month]} {value.year}"  # |date:"j F Y"


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
        if len(names) <= 3:
            return ", ".join(names)
        more = len(names) - 3
        # Translators: an order's items on Your Details: "MacBook, iPhone, Dock and 2 more".
        return ngettext("%(names)s and %(count)s more", "%(names)s and %(count)s more", more) % {
            "names": ", ".join(names[:3]),
            "count": more,
        }

    @property
    def html(self) -> str:
        """Its line in "Orders on their way" (see ``device_lines``)."""
        url, status = escape(self.url), self.status
        title = escape(_("Order %(number)s") % {"number": self.number})
        expected = (
            # Translators: an expected delivery date (on Your Details and the device list).
            " · " + escape(_("Expected %(date)s") % {"date": self.expected})
            if self.expected
            else ""
        )
        ordered = escape(_("Ordered %(date)s") % {"date": self.ordered})
        detail = (
            f'<span class="small muted">{escape(str(status.detail))}</span>'
            if status.detail
            else ""
        )
        track = (
            f'<a class="button" href="{escape(self.track_url)}">{escape(_("Track Order"))}</a>'
            if self.tracks and self.shipped
            else ""
        )
        view = escape(_("View order"))
        return (
            '\n    <li class="item">\n      <div>\n'
            f'        <div class="item-title"><a href="{url}">{title}</a></div>\n'
            f'        <div class="item-meta">{escape(self.items)}</div>\n'
            f'        <div class="item-meta">{ordered} · '
            f"{escape(self.partner_name)}{expected}</div>\n"
            '      </div>\n      <div class="item-side">\n'
            f'        <span class="badge badge-{escape(status.tone)}">'
            f"{escape(str(status.label))}</span>"
            f"{detail}\n"
            f'        <span class="actions">{track}<a class="button" href="{url}">{view}</a>'
            "</span>\n      </div>\n    </li>\n    "
        )


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
    returns: list[dict] = field(default_factory=list)  # chosen returns: "Return by <date>"
    leaving: object = None  # an open offboarding case (people.selectors.LeavingNote)
    attestation: object = None  # an open "Do you still have these devices?"
    # Done with and needing nothing: under "Show past items", out of the counts.
    past_devices: list[dict] = field(default_factory=list)
    past_payments: list = field(default_factory=list)
    past_requests: list = field(default_factory=list)

    @property
    def past_count(self) -> int:
        return len(self.past_devices) + len(self.past_payments) + len(self.past_requests)

    # The page's long lists, written once in Python (see ``device_lines``).
    @property
    def devices_html(self) -> str:
        return device_lines(self.devices)

    @property
    def past_devices_html(self) -> str:
        return device_lines(self.past_devices)

    @property
    def open_orders_html(self) -> str:
        return mark_safe("".join(card.html for card in self.open_orders))  # noqa: S308

    @property
    def attestation_names(self) -> str:
        """The devices the attestation asks about, as the inbox lists them."""
        names = [escape(d["name"]) for d in self.devices if d["status"] in (S.RECEIVED, S.ACTIVE)]
        return mark_safe(", ".join(names))  # noqa: S308  (escaped here)


# Your Details' long lists (devices, past devices, orders on their way) are written here, not
# by the template: with 50 devices, the template's resolving and escaping of each line's
# five variables was most of its rendering. Each line is escaped as the template escaped it
# and spaced as its loop spaced it, so the page is the same to the byte.
def _device_item(d: dict) -> str:
    return (
        f'\n    <li class="item"><div><div class="item-title"><a href="{escape(d["url"])}">'
        f'{escape(d["name"])}</a></div><div class="item-meta">{escape(d["meta"])}</div></div>'
        f'<div class="item-side"><span class="badge badge-{escape(d["tone"])}">'
        f"{escape(str(d['label']))}</span></div></li>\n    "
    )


def device_lines(rows: list[dict]) -> str:
    """The devices' lines of a list on Your Details (``<li class="item">`` each)."""
    return mark_safe("".join(_device_item(d) for d in rows))  # noqa: S308  (escaped here)


# Devices that are no longer with the employee (or never reached them): past items.
PAST_STATUSES = frozenset({S.CANCELLED, S.TRADED_IN, S.REMOVED})
# Card attempts that came to nothing (declined, released): past items.
PAST_PAYMENT_STATUSES = frozenset({CardPayment.Status.FAILED, CardPayment.Status.VOIDED})
# Requests that went nowhere because of the employee or their card: past items (a
# rejection stays in view, with its reason, for its 30 days).
PAST_REQUEST_STATUSES = frozenset({RequestStatus.WITHDRAWN, RequestStatus.FAILED})


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
    "lease__return_due_on",
)


def _device_row(v: dict, today: date, tz=None) -> dict:
    """A device as Your Details shows it: every label and date worked out once here (its
    moments read in ``tz``, the current time zone, looked up once for all rows)."""
    meta = [str(CATEGORY_LABELS.get(v["category"], v["category"]))]
    if v["registered_manually"]:
        meta.append(_("Registered manually"))
    elif v["order_id"]:
        meta.append(_("Ordered %(date)s") % {"date": short_date(v["order__created_at"], tz)})
    expected = v["shipment__expected_delivery"] or v["order__expected_delivery"]
    if v["received_on"]:
        meta.append(_("Received %(date)s") % {"date": short_date(v["received_on"])})
    elif v["delivered_at"]:
        meta.append(_("Delivered %(date)s") % {"date": short_date(v["delivered_at"], tz)})
    elif expected and v["status"] in (S.SHIPPED, S.PREPARING, S.NOT_STARTED, S.ORDERED):
        meta.append(_("Expected %(date)s") % {"date": short_date(expected)})
    if v["lease__ends_on"] and v["lease__status"] == "active":
        meta.append(_("Lease ends %(date)s") % {"date": long_date(v["lease__ends_on"])})
    return {
        "pk": v["pk"],
        "name": v["name"],
        "url": f"/me/devices/{v['pk']}/",
        "status": v["status"],
        "label": LABELS[v["status"]],
        "tone": TONE[v["status"]],
        "meta": " · ".join(meta),
        "delivered": long_date(v["delivered_at"], tz) if v["delivered_at"] else "",
        # a lease-end notice the employee has not answered yet
        "lease_due": long_date(v["lease__ends_on"])
        if v["lease__status"] == "active"
        and v["lease__last_notice_days"] is not None
        and not v["lease__choice"]
        and v["status"] in (S.RECEIVED, S.ACTIVE)
        else "",
        # a return under way: shown until the partner confirms the trade-in
        "return_by": long_date(due) if (due := _return_due(v)) else "",
        "return_overdue": bool(due and due < today),
    }


def _return_due(v: dict) -> date | None:
    if v["status"] == S.PROCESSING_TRADE_IN and v["lease__status"] == "active":
        return v["lease__return_due_on"]
    return None


def _device_rows(actor):
    """The user's devices with their order, partner, shipment and lease, as plain values."""
    return (
        Device.objects.visible_to(actor)
        .filter(owner_id=actor.pk)
        .order_by("-created_at", "-pk")
        .values(*DEVICE_ROW_FIELDS)
    )


DEVICE_ROWS = fastread.Statement(Device, _device_rows)


def your_details_for(user: User) -> YourDetails:
    """Everything on Your Details: the user's devices with their order, partner, shipment
    and lease in one query, read as plain values (no model instances: this page must stay
    fast with hundreds of devices), and the orders summarised from them; their requests,
    card payments, budgets and action inbox. Compiled reads (core.fastread), sent to the
    database together."""
    values, requests, payments, (leaving, attestation), budgets = _your_details_reads(user)
    tz = timezone.get_current_timezone()
    today = timezone.localdate(timezone=tz)
    rows, past, cards = [], [], {}
    for v in values:
        row = _device_row(v, today, tz)
        (past if v["status"] in PAST_STATUSES else rows).append(row)
        order_id = v["order_id"]
        if order_id is None:
            continue
        card = cards.get(order_id)
        if card is None:
            expected = v["order__expected_delivery"]
            card = cards[order_id] = OrderCard(
                pk=order_id,
                number=order_number(order_id),
                ordered=short_date(v["order__created_at"], tz),
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
        leaving=leaving,
        attestation=attestation,
        devices=rows,
        open_orders=open_orders,
        waiting=[r for r in rows if r["status"] == S.DELIVERED],
        lease_due=[r for r in rows if r["lease_due"]],
        buyouts=[r for r in rows if r["status"] == S.PENDING_BUYOUT],
        returns=[r for r in rows if r["return_by"]],
        counts={
            "devices": len(rows),
            "in_use": sum(1 for r in rows if r["status"] in (S.RECEIVED, S.ACTIVE)),
        },
        budgets=budgets,
        requests=[r for r in requests if r.status not in PAST_REQUEST_STATUSES],
        payments=[p for p in payments if p.status not in PAST_PAYMENT_STATUSES],
        past_devices=past,
        past_requests=[r for r in requests if r.status in PAST_REQUEST_STATUSES],
        past_payments=[p for p in payments if p.status in PAST_PAYMENT_STATUSES],
    )


def _your_details_reads(user: User):
    """The page's reads, in one round trip: devices, requests, card payments (with their
    refunds), the action inbox, budgets."""
    devices, requests, payments, case, attestation, budgets = fastread.run(
        DEVICE_ROWS.bind(user),
        _requests_read(user),
        PAYMENTS.bind(user, then=_with_refunds),
        *inbox_reads(user),
        BUDGETS.bind(user, then=_budget_cards),
    )
    return devices, requests, payments, (case, attestation), budgets


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


def _budgets(actor):
    return Budget.objects.visible_to(actor).filter(employee_id=actor.pk).order_by("category")


BUDGETS = fastread.Statement(Budget, _budgets)


def _budget_cards(budgets: list[Budget]) -> list[BudgetCard]:
    return [BudgetCard(b) for b in budgets]


def budget_cards_for(user: User) -> list[BudgetCard]:
    """The user's budgets: one query."""
    return BUDGETS.fetch(user, then=_budget_cards)


# Requests turned down stay on Your Details this long (approved ones show as orders).
REQUEST_DAYS = 30


def _requests(actor, since):
    """Requests waiting for approval, and those turned down since ``since``."""
    turned_down = [RequestStatus.REJECTED, RequestStatus.WITHDRAWN, RequestStatus.FAILED]
    waiting = [RequestStatus.PENDING, RequestStatus.AWAITING_PAYMENT]
    unpaid = [CardPayment.Status.PENDING, CardPayment.Status.EXPIRED]
    return (
        ProductRequest.objects.visible_to(actor)
        .filter(employee_id=actor.pk)
        .filter(
            Q(status__in=waiting)
            | Q(status__in=turned_down, decided_at__gte=since)
            # approved, but the hold ran out before it was captured: the card is asked again
            | Q(status=RequestStatus.APPROVED, card_payment__status__in=unpaid)
        )
        .select_related("card_payment")
        .order_by("-created_at")
    )


REQUESTS = fastread.Statement(ProductRequest, _requests, since=models.DateTimeField())


def _requests_read(user: User, days: int = REQUEST_DAYS) -> fastread.Read:
    return REQUESTS.bind(user, since=timezone.now() - timedelta(days=days))


def requests_for(user: User, days: int = REQUEST_DAYS) -> list[ProductRequest]:
    """Requests waiting for approval, and those turned down in the last ``days`` (approved
    ones show as orders): one query."""
    return fastread.run(_requests_read(user, days))[0]


# Each card payment's refunds come in the payments' own query (a join, one row per refund),
# as the columns of these annotations; ``_with_refunds`` makes them what
# ``prefetch_related("refunds")`` made.
REFUND_COLUMNS = tuple(f.attname for f in Refund._meta.concrete_fields)
REFUND_ANNOTATIONS = tuple(f"_refund_{name}" for name in REFUND_COLUMNS)


def _payments(actor):
    """Card payments (with their request and their refunds, oldest refund first), but not
    the failed attempts the employee dismissed."""
    return (
        CardPayment.objects.visible_to(actor)
        .filter(employee_id=actor.pk, dismissed_at__isnull=True)
        .select_related("request")
        .annotate(
            **{
                alias: F(f"refunds__{name}")
                for alias, name in zip(REFUND_ANNOTATIONS, REFUND_COLUMNS, strict=True)
            }
        )
        .order_by("-created_at", "refunds__created_at")
    )


PAYMENTS = fastread.Statement(CardPayment, _payments)


def _with_refunds(rows: list[CardPayment]) -> list[CardPayment]:
    """One payment per payment (the join repeats it for each refund), its refunds as
    prefetched: ``payment.refunds.all()`` reads no more."""
    payments: dict[int, CardPayment] = {}
    refunds: dict[int, list[Refund]] = {}
    for row in rows:
        values = [row.__dict__.pop(alias) for alias in REFUND_ANNOTATIONS]
        payment = payments.setdefault(row.pk, row)
        found = refunds.setdefault(payment.pk, [])
        if values[0] is not None:
            refund = Refund.from_db(payment._state.db, REFUND_COLUMNS, values)
            refund.payment = payment
            found.append(refund)
    ordered = Refund.objects.order_by("created_at") if payments else None
    for payment in payments.values():
        cached = payment.refunds._apply_rel_filters(ordered)
        cached._result_cache = refunds[payment.pk]
        cached._prefetch_done = True
        payment._prefetched_objects_cache = {"refunds": cached}
    return list(payments.values())


def payments_for(user: User) -> list[CardPayment]:
    """Card payments with their refunds, but not the failed attempts the employee
    dismissed: one query."""
    return PAYMENTS.fetch(user, then=_with_refunds)


@dataclass
class LedgerRow:
    """One line of the budget history, as the employee reads it: what the change did to
    the money available (signed, with the currency) and what was available after it."""

    entry: BudgetEntry
    date: str
    change: str  # "−249.00 EUR", "+249.00 EUR", "±0.00 EUR"
    tone: str  # "down", "up" or "moved"
    balance: str
    moved: str = ""  # for a change that moves money without changing what is available


def _available_delta(e: BudgetEntry) -> Decimal:
    return e.allowance_delta - e.reserved_delta - e.committed_delta - e.spent_delta


def _moved(e: BudgetEntry, currency: str) -> str:
    """A change that leaves the available amount alone, in words ("moved from Reserved to
    Approved")."""
    names = (
        # Translators: the parts of a budget's bar, as in "moved from Reserved to Spent".
        (_("Reserved"), e.reserved_delta),
        (_("Approved, on the way"), e.committed_delta),
        (_("Spent"), e.spent_delta),
    )
    source = next((n for n, d in names if d < 0), "")
    target = next((n for n, d in names if d > 0), "")
    if not (source and target):
        return ""
    # Translators: a budget history line, e.g. "249.00 EUR moved from Reserved to Spent".
    return _("%(amount)s moved from %(source)s to %(target)s") % {
        "amount": money(e.amount, currency),
        "source": source,
        "target": target,
    }


def budget_history_for(user: User) -> dict:
    """The budget page: budgets, every ledger entry with its signed change and the balance
    after it, card payments and refunds (four queries).

    The balance is counted back from what each budget has available now, so it always ends
    at the figure on the card above, whatever the history before the ledger began."""
    budgets = budget_cards_for(user)
    entries = list(
        BudgetEntry.objects.visible_to(user)
        .filter(budget__employee=user)
        .select_related("budget", "request", "order")
        .order_by("-created_at", "-id")
    )
    balance = {card.budget.pk: card.budget.available for card in budgets}
    rows = []
    for e in entries:  # newest first: the balance after each is known, going back
        currency = e.budget.currency
        after = balance.get(e.budget_id, e.budget.available)
        delta = _available_delta(e)
        balance[e.budget_id] = after - delta
        moved = _moved(e, currency) if delta == 0 else ""
        rows.append(
            LedgerRow(
                entry=e,
                date=short_date(e.created_at),
                change=money(delta, currency, signed=True) if delta else f"±{money(0, currency)}",
                tone="up" if delta > 0 else "down" if delta < 0 else "moved",
                balance=money(after, currency),
                moved=moved,
            )
        )
    return {
        "budgets": budgets,
        "entries": entries,
        "rows": rows,
        "payments": payments_for(user),
    }


# The catalogue's orders, by the GET parameter "sort" (the first is the default).
CATALOGUE_SORTS = {
    # Translators: a product's type (laptop, phone…): here the catalogue's sort order by type.
    "": (gettext_lazy("Type"), ("category", "price", "name")),
    "price": (gettext_lazy("Price: low to high"), ("price", "name")),
    "-price": (gettext_lazy("Price: high to low"), ("-price", "name")),
    # Translators: a sort order of the catalogue: by the product's name.
    "name": (gettext_lazy("Name"), ("name",)),
}
# Statuses in which a device counts as "on order": not yet in the employee's hands.
ON_ORDER_STATUSES = WITH_PARTNER_STATUSES | IN_TRANSIT_STATUSES
KEY_SPECS = 3  # lines of the description a catalogue card shows


@dataclass
class CatalogueRow:
    product: Product
    quote: object | None
    specs: list[str]
    on_order: str = ""  # "You already have a laptop on order: MacBook, order VO-000123."


def product_specs(product: Product, limit: int | None = None) -> list[str]:
    """The product's key specs: the lines of its description ("16 GB memory"), bullets
    and blank lines dropped; then how it is acquired."""
    lines = [
        line.strip().lstrip("-•*").strip() for line in (product.description or "").splitlines()
    ]
    specs = [line for line in lines if line][: limit or None]
    if product.is_leased:
        months = product.lease_months
        specs.append(
            ngettext("Leased for %(months)s month", "Leased for %(months)s months", months)
            % {"months": months}
        )
    return specs


def with_on_order(products, user: User):
    """Products annotated with what the employee already has coming of the same category:
    the newest device not yet received (its name and order) and the newest request waiting
    for a decision (its name and id). Subqueries of the products' own query: no query more."""
    coming = (
        Device.objects.visible_to(user)
        .filter(owner=user, status__in=ON_ORDER_STATUSES, category=OuterRef("category"))
        .order_by("-created_at", "-pk")
    )
    waiting = (
        ProductRequest.objects.visible_to(user)
        .filter(
            employee=user,
            status__in=[RequestStatus.PENDING, RequestStatus.AWAITING_PAYMENT],
            category=OuterRef("category"),
        )
        .order_by("-created_at", "-pk")
    )
    return products.annotate(
        coming_name=Subquery(coming.values("name")[:1]),
        coming_order=Subquery(coming.values("order_id")[:1]),
        waiting_name=Subquery(waiting.values("name")[:1]),
        waiting_id=Subquery(waiting.values("pk")[:1]),
    )


def on_order_text(product) -> str:
    """The warning for a product of ``with_on_order`` ("You already have a laptop on …")."""
    if product.coming_name:
        what = (
            # Translators: a device on its way: its name and its order's number.
            _("%(name)s, order %(number)s")
            % {"name": product.coming_name, "number": order_number(product.coming_order)}
            if product.coming_order
            else product.coming_name
        )
    elif product.waiting_name:
        number = ProductRequest(pk=product.waiting_id).number
        what = _("%(name)s, request %(number)s waiting for approval") % {
            "name": product.waiting_name,
            "number": number,
        }
    else:
        return ""
    sentence = ON_ORDER_SENTENCES.get(product.category) or ON_ORDER_OTHER
    return sentence % {"what": what}


# The warning of ``on_order_text``, by category: a whole sentence each, as the noun's
# gender and article differ by language. %(what)s is the device or request already coming.
ON_ORDER_SENTENCES = {
    Category.LAPTOP: gettext_lazy("You already have a laptop on order: %(what)s."),
    Category.PHONE: gettext_lazy("You already have a phone on order: %(what)s."),
    Category.HEADSET: gettext_lazy("You already have a headset on order: %(what)s."),
    Category.TABLET: gettext_lazy("You already have a tablet on order: %(what)s."),
    Category.MONITOR: gettext_lazy("You already have a monitor on order: %(what)s."),
    Category.ACCESSORY: gettext_lazy("You already have an accessory on order: %(what)s."),
}
ON_ORDER_OTHER = gettext_lazy("You already have one of these on order: %(what)s.")


def catalogue_for(user: User, category: str = "", query: str = "", sort: str = "") -> dict:
    """The company's active products in the currency they would be paid in, with how each
    would be paid, their key specs and whether one of the same kind is already on order:
    two queries. ``query`` searches
    names and descriptions; ``sort`` is a key of CATALOGUE_SORTS."""
    products = Product.objects.visible_to(user).active().select_related("partner")
    if category:
        products = products.filter(category=category)
    if query:
        products = products.filter(Q(name__icontains=query) | Q(description__icontains=query))
    products = with_on_order(products, user)
    budgets = {b.category: b for b in Budget.objects.visible_to(user).filter(employee=user)}
    rows = []
    for product in products.order_by(*CATALOGUE_SORTS.get(sort, CATALOGUE_SORTS[""])[1]):
        budget = budgets.get(product.category) or budgets.get("")
        # Only what the employee can pay: a product priced in their budget's currency (an
        # office budgeting in SEK sees the SEK prices), the company's without a budget.
        pays_in = budget.currency if budget else (user.company.currency if user.company_id else "")
        if pays_in and product.currency != pays_in:
            continue
        rows.append(
            CatalogueRow(
                product=product,
                quote=request_quote(employee=user, product=product, budget=budget)
                if budget
                else None,
                specs=product_specs(product, KEY_SPECS),
                on_order=on_order_text(product),
            )
        )
    return {"rows": rows}


# The columns the device page (and its lease panel) reads: the page used to load every
# column of eight tables (the owner and the company again, though the request has them),
# and planning and building that was most of its time.
DEVICE_PAGE_FIELDS = (
    "pk",
    "company_id",
    "owner_id",
    "partner_id",
    "order_id",
    "shipment_id",
    "name",
    "category",
    "serial_number",
    "is_leased",
    "price",
    "currency",
    "status",
    "status_changed_at",
    "shipped_at",
    "delivered_at",
    "received_on",
    "registered_manually",
    "partner__name",
    "partner__offers_tracking",
    "partner__support_email",
    "partner__support_phone",
    "partner__website",
    "order__created_at",
    "shipment__carrier",
    "shipment__tracking_number",
    "shipment__expected_delivery",
)


def device_detail_for(user, device_id: int) -> Device:
    """The user's own device (the portal shows nobody else's, not even to a company admin),
    with its order, partner, shipment, lease and history: 2 queries. Its owner and company
    are the user's own, already loaded with the request."""
    device = (
        Device.objects.visible_to(user)
        .filter(owner=user)
        .select_related("partner", "order", "shipment", "lease", "lease__leasing_company")
        .only(*DEVICE_PAGE_FIELDS, "lease", "lease__leasing_company")
        .get(pk=device_id)
    )
    # Its history, as prefetch_related("events") would give it, by a plain filter: the
    # prefetch machinery was a fifth of this page's time in a profile under load.
    device._prefetched_objects_cache = {
        "events": list(DeviceEvent.objects.filter(device_id=device.pk).order_by("-at", "-id"))
    }
    device.owner = user
    if user.company_id == device.company_id:
        device.company = user.company
    return device


def lease_panel_for(device: Device) -> dict | None:
    """What the device page shows of a leased device's lease: the lease, who sends the
    return instructions (and the steps), a buyout waiting for payment and its price, which
    choices are open, and when a return chosen today would be due, and why (the lease-end
    rule, ``leasing.models.return_due``). Two queries; None for a device that is not
    leased."""

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
    due = return_due(lease, device.company, chosen_on=timezone.localdate())
    return {
        "return_days": due.days,
        "return_by": due.on,
        "return_why": due.explanation,
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


def order_live_for(user, order_id: int):
    """The user's own order with its partner and devices, for the live part of its page:
    2 queries."""
    return (
        Order.objects.visible_to(user)
        .filter(employee=user)
        .select_related("partner")
        .prefetch_related(Prefetch("devices", queryset=Device.objects.order_by("pk")))
        .get(pk=order_id)
    )


def order_stage(statuses) -> str:
    """Where an order is, for the words its page uses: "cancelled" (every item),
    "with_partner" (something still with the partner: it can still be cancelled),
    "in_transit" (shipped, not all received yet) or "received" (everything arrived)."""
    live = [s for s in statuses if s != S.CANCELLED]
    if not live:
        return "cancelled"
    if any(s in WITH_PARTNER_STATUSES for s in live):
        return "with_partner"
    if any(PROGRESS[s] < PROGRESS[S.RECEIVED] for s in live):
        return "in_transit"
    return "received"
