"""The console's landing page for each role: what waits on them, counted, with the oldest
item's age and a link to the list that shows it; the company admin's spend and lease ends
by month; the partner's queue and service figures per company they serve.

Every figure is one aggregate over the user's own scope (``visible_to``), so the page costs
the same few queries however many rows there are. The partner's service figures read every
device of the last 90 days with its history, so they are kept for SLA_CACHE_SECONDS."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import lru_cache

from django.db import connection
from django.db.models import Count, F, Min, Q, Sum
from django.db.models.functions import TruncMonth
from django.utils import dateformat, timezone
from django.utils.translation import get_language, ngettext
from django.utils.translation import gettext as _

from budgets.models import Budget, BudgetEntry, PaymentMismatch, Refund
from core.cache import cache_get, cache_set
from core.tenancy import Role
from devices.models import LABELS, Device, DeviceEvent, DeviceStatus
from leasing.models import Buyout, Lease
from notifications.models import Notification
from orders.models import (
    AGREED_SHIP_DAYS,
    DispatchStatus,
    Order,
    OrderAlert,
    ProductRequest,
    RequestStatus,
)
from partners.models import DistributorConnection
from people.selectors import open_cases_for

S = DeviceStatus
# A delivered device not marked received after this many days is chased.
UNCONFIRMED_AFTER_DAYS = 7
# The statuses in which a device waits on its partner.
WAITING_ON_PARTNER = [S.ORDERED, S.NOT_STARTED, S.PREPARING, S.ON_HOLD, S.BACKORDERED]
# A partner's promise, shipped within AGREED_SHIP_DAYS of the order (the SLA's share), is
# orders.models' (the stuck-order alerts use the same days).


@dataclass
class InboxItem:
    label: str  # translated where the item is made (it names what is counted)
    count: int
    oldest: datetime | date | None
    url: str
    tone: str = "warn"  # warn: waiting on you; bad: something failed

    @property
    def age(self) -> str:
        """How long the oldest has waited, in words ("3 days", "5 hours")."""
        if self.oldest is None or not self.count:
            return ""
        oldest = self.oldest
        if isinstance(oldest, date) and not isinstance(oldest, datetime):
            days = (timezone.localdate() - oldest).days
            if days >= 0:
                return _days(days)
            # Translators: when the first of the items is due ("oldest: in 3 days").
            return ngettext("in %(count)s day", "in %(count)s days", -days) % {"count": -days}
        delta = timezone.now() - oldest
        if delta < timedelta(hours=1):
            minutes = max(1, int(delta.total_seconds() // 60))
            # Translators: an age in minutes, abbreviated ("oldest: 5 min").
            return ngettext("%(count)s min", "%(count)s min", minutes) % {"count": minutes}
        if delta < timedelta(days=1):
            hours = int(delta.total_seconds() // 3600)
            # Translators: an age ("oldest: 5 hours").
            return ngettext("%(count)s hour", "%(count)s hours", hours) % {"count": hours}
        return _days(delta.days)

    @property
    def longest(self) -> str:
        """'longest: 3 days': made here, not by a blocktranslate per item (the partner's
        dashboard has a thousand items, and each tag cost a tenth of a millisecond)."""
        return _longest(get_language()) % {"age": self.age}


@lru_cache(maxsize=16)
def _longest(language: str) -> str:
    return _("longest: %(age)s")


def _days(n: int) -> str:
    return _days_in(get_language(), n)


@lru_cache(maxsize=4096)
def _days_in(language: str, n: int) -> str:
    """An age in days, in ``language`` (the active one): a thousand items share a few ages."""
    # Translators: an age ("oldest: 3 days").
    return ngettext("%(count)s day", "%(count)s days", n) % {"count": n}


def _month(month: date) -> str:
    """A bar's month, "Jan 2026", in the active language."""
    return dateformat.format(month, "M Y")


@dataclass
class Bar:
    label: str
    value: Decimal | int
    share: int  # 0-100, of the largest bar


@dataclass
class Dashboard:
    role: str
    inbox: list[InboxItem] = field(default_factory=list)
    spend: dict = field(default_factory=dict)
    leases_by_month: list[Bar] = field(default_factory=list)
    spend_by_month: list[Bar] = field(default_factory=list)
    companies: list = field(default_factory=list)  # partner: per company served
    connections: list = field(default_factory=list)  # partner: poll health
    cases: list = field(default_factory=list)  # company admin: open offboarding cases

    @property
    def waiting(self) -> int:
        return sum(i.count for i in self.inbox)


def dashboard_for(user) -> Dashboard | None:
    """The landing dashboard of a company admin or partner staff (None for others)."""
    role = getattr(user, "role", None)
    if getattr(user, "is_superuser", False) or role == Role.COMPANY_ADMIN:
        return _company_dashboard(user)
    if role == Role.PARTNER_STAFF:
        return _partner_dashboard(user)
    return None


def _bars(rows: list[tuple[str, Decimal | int]]) -> list[Bar]:
    top = max((v for _, v in rows), default=0) or 1
    return [Bar(label, value, round(100 * value / top)) for label, value in rows]


def _months(first: date, n: int) -> list[date]:
    out, year, month = [], first.year, first.month
    for _month_index in range(n):
        out.append(date(year, month, 1))
        month += 1
        if month == 13:
            year, month = year + 1, 1
    return out


def _company_dashboard(user) -> Dashboard:
    now, today = timezone.now(), timezone.localdate()
    board = Dashboard("company_admin")
    cases_total, cases = open_cases_for(user, limit=5)
    requests = ProductRequest.objects.visible_to(user).aggregate(
        pending=Count("pk", filter=Q(status=RequestStatus.PENDING)),
        pending_oldest=Min("created_at", filter=Q(status=RequestStatus.PENDING)),
        card=Count("pk", filter=Q(status=RequestStatus.AWAITING_PAYMENT)),
        card_oldest=Min("created_at", filter=Q(status=RequestStatus.AWAITING_PAYMENT)),
    )
    orders = Order.objects.visible_to(user).aggregate(
        failed=Count("pk", filter=Q(dispatch_status=DispatchStatus.FAILED)),
        failed_oldest=Min("created_at", filter=Q(dispatch_status=DispatchStatus.FAILED)),
    )
    late = now - timedelta(days=UNCONFIRMED_AFTER_DAYS)
    devices = Device.objects.visible_to(user).aggregate(
        unconfirmed=Count("pk", filter=Q(status=S.DELIVERED, delivered_at__lte=late)),
        unconfirmed_oldest=Min(
            "delivered_at", filter=Q(status=S.DELIVERED, delivered_at__lte=late)
        ),
    )
    returning = Q(status=Lease.Status.ACTIVE, choice=Lease.Choice.RETURN)
    ending = Q(
        status=Lease.Status.ACTIVE, ends_on__gte=today, ends_on__lte=today + timedelta(days=90)
    )
    leases = Lease.objects.visible_to(user).aggregate(
        due=Count("pk", filter=returning & Q(return_due_on__gte=today)),
        due_first=Min("return_due_on", filter=returning & Q(return_due_on__gte=today)),
        overdue=Count("pk", filter=returning & Q(return_due_on__lt=today)),
        overdue_oldest=Min("return_due_on", filter=returning & Q(return_due_on__lt=today)),
        ending=Count("pk", filter=ending),
        ending_first=Min("ends_on", filter=ending),
    )
    buyouts = Buyout.objects.visible_to(user).aggregate(
        unpaid=Count("pk", filter=Q(status=Buyout.Status.PENDING)),
        unpaid_oldest=Min("created_at", filter=Q(status=Buyout.Status.PENDING)),
    )
    failing = Q(status__in=[Refund.Status.FAILED, Refund.Status.REFUSED])
    refunds = Refund.objects.visible_to(user).aggregate(
        failing=Count("pk", filter=failing), failing_oldest=Min("created_at", filter=failing)
    )
    open_mismatch = Q(resolved_at__isnull=True)
    mismatches = PaymentMismatch.objects.visible_to(user).aggregate(
        open=Count("pk", filter=open_mismatch), oldest=Min("found_at", filter=open_mismatch)
    )
    failed_mail = Q(status=Notification.Status.FAILED)
    mail = Notification.objects.visible_to(user).aggregate(
        failed=Count("pk", filter=failed_mail), oldest=Min("created_at", filter=failed_mail)
    )
    board.inbox = [
        InboxItem(
            ngettext(
                # Translators: each dashboard item is shown after its count ("3 Requests waiting
                # for approval"); the English is the same for one and many: give the forms your
                # language needs after a number.
                "Requests waiting for approval",
                "Requests waiting for approval",
                requests["pending"],
            ),
            requests["pending"],
            requests["pending_oldest"],
            "/admin/orders/productrequest/?status__exact=pending",
        ),
        InboxItem(
            ngettext(
                "Requests waiting for the employee's card",
                "Requests waiting for the employee's card",
                requests["card"],
            ),
            requests["card"],
            requests["card_oldest"],
            "/admin/orders/productrequest/?status__exact=awaiting_payment",
            tone="info",
        ),
        InboxItem(
            ngettext(
                "Orders that could not be placed",
                "Orders that could not be placed",
                orders["failed"],
            ),
            orders["failed"],
            orders["failed_oldest"],
            "/admin/orders/order/?dispatch_status__exact=failed",
            tone="bad",
        ),
        _stuck_item(user),
        InboxItem(
            ngettext(
                "Deliveries not confirmed after %(days)s days",
                "Deliveries not confirmed after %(days)s days",
                devices["unconfirmed"],
            )
            % {"days": UNCONFIRMED_AFTER_DAYS},
            devices["unconfirmed"],
            devices["unconfirmed_oldest"],
            "/admin/devices/device/?status__exact=delivered",
        ),
        InboxItem(
            ngettext("Returns due", "Returns due", leases["due"]),
            leases["due"],
            leases["due_first"],
            "/admin/leasing/lease/?overdue=open",
            tone="info",
        ),
        InboxItem(
            ngettext("Returns overdue", "Returns overdue", leases["overdue"]),
            leases["overdue"],
            leases["overdue_oldest"],
            "/admin/leasing/lease/?overdue=yes",
            tone="bad",
        ),
        InboxItem(
            ngettext("Buyouts not paid", "Buyouts not paid", buyouts["unpaid"]),
            buyouts["unpaid"],
            buyouts["unpaid_oldest"],
            "/admin/leasing/buyout/?status__exact=pending",
        ),
        InboxItem(
            ngettext(
                "Leases ending within 90 days", "Leases ending within 90 days", leases["ending"]
            ),
            leases["ending"],
            leases["ending_first"],
            "/admin/leasing/lease/?ending=90",
            tone="info",
        ),
        InboxItem(
            ngettext("Refunds failing", "Refunds failing", refunds["failing"]),
            refunds["failing"],
            refunds["failing_oldest"],
            "/admin/budgets/refund/?status__exact=failed",
            tone="bad",
        ),
        InboxItem(
            ngettext(
                "Payment differences to resolve",
                "Payment differences to resolve",
                mismatches["open"],
            ),
            mismatches["open"],
            mismatches["oldest"],
            "/admin/budgets/paymentmismatch/?resolved_at__isnull=True",
            tone="bad",
        ),
        InboxItem(
            ngettext(
                "Leavers with hardware to settle", "Leavers with hardware to settle", cases_total
            ),
            cases_total,
            cases[0].case.exit_date if cases else None,
            "/admin/people/offboardingcase/?status__exact=open",
            tone="info",
        ),
        InboxItem(
            ngettext("Mail that could not be sent", "Mail that could not be sent", mail["failed"]),
            mail["failed"],
            mail["oldest"],
            "/admin/notifications/notification/?status__exact=failed",
            tone="bad",
        ),
    ]
    board.cases = cases
    # One figure per currency: money in SEK and in EUR is never added up.
    home = user.company.currency if getattr(user, "company_id", None) else ""
    per_currency = (
        Budget.objects.visible_to(user)
        .values("currency")
        .annotate(
            allowance=Sum("allowance"),
            spent=Sum("spent"),
            committed=Sum("committed"),
            reserved=Sum("reserved"),
        )
        .order_by("currency")
    )
    board.spend = []
    for totals in sorted(per_currency, key=lambda t: (t["currency"] != home, t["currency"])):
        used = sum((totals[k] or Decimal("0")) for k in ("spent", "committed", "reserved"))
        allowance = totals["allowance"] or Decimal("0")
        board.spend.append(
            {
                "allowance": allowance,
                "spent": totals["spent"] or Decimal("0"),
                "committed": totals["committed"] or Decimal("0"),
                "reserved": totals["reserved"] or Decimal("0"),
                "used": used,
                "share": round(100 * used / allowance) if allowance else 0,
                "currency": totals["currency"],
            }
        )
    months = _months(date(today.year, today.month, 1), 12)
    ends = dict(
        Lease.objects.visible_to(user)
        .filter(status=Lease.Status.ACTIVE, ends_on__gte=months[0])
        .filter(ends_on__lt=_months(months[-1], 2)[1])
        .annotate(month=TruncMonth("ends_on"))
        .values("month")
        .annotate(n=Count("pk"))
        .values_list("month", "n")
    )
    board.leases_by_month = _bars([(_month(m), ends.get(m, 0)) for m in months])
    first = _months(date(today.year - 1, today.month, 1), 13)[1]
    past = _months(first, 12)
    spent: dict[str, dict] = {}
    for m, currency, v in (
        BudgetEntry.objects.visible_to(user)
        .filter(kind=BudgetEntry.Kind.SPEND, created_at__date__gte=first)
        .annotate(month=TruncMonth("created_at"))
        .values("month", "budget__currency")
        .annotate(total=Sum(F("spent_delta")))
        .values_list("month", "budget__currency", "total")
    ):
        spent.setdefault(currency, {})[m.date() if isinstance(m, datetime) else m] = v
    currencies = sorted(set(spent) | ({home} if home else set()), key=lambda c: (c != home, c))
    board.spend_by_month = [
        {
            "currency": currency,
            "bars": _bars(
                [(_month(m), abs(spent.get(currency, {}).get(m) or Decimal("0"))) for m in past]
            ),
        }
        for currency in currencies
    ]
    return board


def _stuck_item(user) -> InboxItem:
    """Open stuck-order alerts (orders.services.alerts): one query."""
    alerts = (
        OrderAlert.objects.visible_to(user).open().aggregate(n=Count("pk"), oldest=Min("opened_at"))
    )
    return InboxItem(
        ngettext(
            "Orders stuck (late or not moving)", "Orders stuck (late or not moving)", alerts["n"]
        ),
        alerts["n"],
        alerts["oldest"],
        "/admin/orders/orderalert/?open=yes",
        tone="bad",
    )


def _partner_dashboard(user) -> Dashboard:
    now = timezone.now()
    board = Dashboard("partner_staff")
    devices = Device.objects.visible_to(user)
    waiting = {
        (row["company__name"], row["status"]): row
        for row in devices.filter(status__in=[*WAITING_ON_PARTNER, S.PROCESSING_TRADE_IN])
        .values("company__name", "company_id", "status")
        .annotate(n=Count("pk"), oldest=Min("status_changed_at"))
        .order_by()
    }
    failed = dict(
        Order.objects.visible_to(user)
        .filter(dispatch_status=DispatchStatus.FAILED)
        .values("company__name")
        .annotate(n=Count("pk"))
        .order_by()
        .values_list("company__name", "n")
    )
    sla = _partner_sla(user, now)
    companies = sorted({c for c, _ in waiting} | set(failed) | set(sla))
    labels = {status: str(LABELS[status]) for status in LABELS}  # translated once, not per row
    for name in companies:
        rows = [
            InboxItem(
                labels[status],
                waiting[(name, status)]["n"],
                waiting[(name, status)]["oldest"],
                "/admin/orders/workqueueorder/?waiting="
                f"{status}&company__id__exact={waiting[(name, status)]['company_id']}",
                tone="info" if status == S.PROCESSING_TRADE_IN else "warn",
            )
            for status in [*WAITING_ON_PARTNER, S.PROCESSING_TRADE_IN]
            if (name, status) in waiting
        ]
        figures = sla.get(name)
        board.companies.append(
            {
                "name": name,
                "waiting": rows,
                "placing_errors": failed.get(name, 0),
                "sla": figures or dict.fromkeys(SLA_WINDOWS, NO_FIGURES),
            }
        )
    to_work = sum(r["n"] for (c, s), r in waiting.items() if s != S.PROCESSING_TRADE_IN)
    to_confirm = sum(r["n"] for (c, s), r in waiting.items() if s == S.PROCESSING_TRADE_IN)
    not_placed = sum(failed.values())
    board.inbox = [
        InboxItem(
            ngettext("Items waiting on you", "Items waiting on you", to_work),
            to_work,
            min(
                (r["oldest"] for (c, s), r in waiting.items() if s != S.PROCESSING_TRADE_IN),
                default=None,
            ),
            "/admin/orders/workqueueorder/",
        ),
        InboxItem(
            ngettext("Returns to confirm", "Returns to confirm", to_confirm),
            to_confirm,
            min(
                (r["oldest"] for (c, s), r in waiting.items() if s == S.PROCESSING_TRADE_IN),
                default=None,
            ),
            f"/admin/orders/workqueueorder/?waiting={S.PROCESSING_TRADE_IN}",
            tone="info",
        ),
        InboxItem(
            ngettext(
                "Orders that could not be placed", "Orders that could not be placed", not_placed
            ),
            not_placed,
            None,
            "/admin/orders/order/?dispatch_status__exact=failed",
            tone="bad",
        ),
        _stuck_item(user),
    ]
    board.connections = list(
        DistributorConnection.objects.visible_to(user).values(
            "partner__name", "last_poll_at", "last_error", "consecutive_failures", "pushes_updates"
        )
    )
    return board


# The partner's service figures move slowly (30 and 90 days of orders) and read every device
# of those days with its history: computed at most once per partner in this many seconds.
SLA_CACHE_SECONDS = 300
SLA_WINDOWS = (30, 90)

# The figures of each window, in one pass over the partner's devices of the longest window:
# per device, when it was ordered and the first time it was shipped, delivered, received or
# cancelled (its status history); per company, the counts and medians of those times. The
# medians are percentile_cont(0.5), the middle value or the mean of the two middle ones, as
# statistics.median; the rounding is left to Python, as before.
SLA_SQL = """
SELECT c.name, {figures}
FROM (
    SELECT d.company_key, d.ordered,
           extract(epoch FROM e.shipped - d.ordered)::float8 / 86400 AS to_ship,
           extract(epoch FROM e.received - e.delivered)::float8 / 86400 AS to_receipt,
           e.cancelled
    FROM ({devices}) d
    CROSS JOIN LATERAL (
        SELECT min(ev.at) FILTER (WHERE ev.to_status = %s) AS shipped,
               min(ev.at) FILTER (WHERE ev.to_status = %s) AS delivered,
               min(ev.at) FILTER (WHERE ev.to_status = %s) AS received,
               min(ev.at) FILTER (WHERE ev.to_status = %s) AS cancelled
        FROM devices_deviceevent ev
        WHERE ev.device_id = d.device_key AND ev.to_status IN (%s, %s, %s, %s)
    ) e
) x
JOIN companies_company c ON c.id = x.company_key
GROUP BY c.name
"""
SLA_FIGURES = """
    count(*) FILTER (WHERE x.ordered >= %s),
    count(x.to_ship) FILTER (WHERE x.ordered >= %s),
    count(*) FILTER (WHERE x.ordered >= %s AND x.to_ship <= %s),
    count(x.cancelled) FILTER (WHERE x.ordered >= %s),
    percentile_cont(0.5) WITHIN GROUP (ORDER BY x.to_ship) FILTER (WHERE x.ordered >= %s),
    percentile_cont(0.5) WITHIN GROUP (ORDER BY x.to_receipt) FILTER (WHERE x.ordered >= %s)
"""


def _partner_sla(user, now) -> dict[str, dict[int, dict]]:
    """Per company (by name), the service figures of each window (SLA_WINDOWS, in days) for
    the partner's devices ordered within it: one aggregate query, cached per partner."""
    key = f"backoffice:dashboard:sla:{user.partner_id}"
    cached = cache_get(key)
    if cached is not None:
        return cached
    since = {days: now - timedelta(days=days) for days in SLA_WINDOWS}
    devices = (
        Device.objects.visible_to(user)
        .filter(created_at__gte=min(since.values()))
        .order_by()
        .values(device_key=F("pk"), company_key=F("company_id"), ordered=F("created_at"))
    )
    out: dict[str, dict[int, dict]] = {}
    if connection.vendor != "postgresql":  # SQLite (the demo): the same figures in Python
        out = _partner_sla_in_python(user, since)
    elif not devices.query.is_empty():
        devices_sql, devices_params = devices.query.sql_with_params()
        statuses = [S.SHIPPED, S.DELIVERED, S.RECEIVED, S.CANCELLED]
        figures_params = []
        for days in SLA_WINDOWS:
            at = since[days]
            figures_params += [at, at, at, AGREED_SHIP_DAYS, at, at, at]
        sql = SLA_SQL.format(
            figures=",".join([SLA_FIGURES] * len(SLA_WINDOWS)), devices=devices_sql
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, [*figures_params, *devices_params, *statuses, *statuses])
            for name, *values in cursor.fetchall():
                out[name] = {
                    days: _sla_figures(*values[i * 6 : (i + 1) * 6])
                    for i, days in enumerate(SLA_WINDOWS)
                }
    cache_set(key, out, SLA_CACHE_SECONDS)
    return out


def _partner_sla_in_python(user, since: dict[int, object]) -> dict[str, dict[int, dict]]:
    """What SLA_SQL computes, for a database without percentile_cont and FILTER (SQLite, in
    the demo, where a partner serves a handful of devices): two queries."""
    earliest = min(since.values())
    firsts: dict[int, dict] = {}
    for e in (
        DeviceEvent.objects.filter(device__in=Device.objects.visible_to(user))
        .filter(device__created_at__gte=earliest)
        .filter(to_status__in=[S.SHIPPED, S.DELIVERED, S.RECEIVED, S.CANCELLED])
        .values("device_id", "to_status")
        .annotate(first=Min("at"))
        .order_by()
    ):
        firsts.setdefault(e["device_id"], {})[e["to_status"]] = e["first"]
    rows: dict[str, list[tuple]] = {}
    for d in (
        Device.objects.visible_to(user)
        .filter(created_at__gte=earliest)
        .values("pk", "company__name", "created_at")
        .order_by()
    ):
        rows.setdefault(d["company__name"], []).append((d["created_at"], firsts.get(d["pk"], {})))
    out = {}
    for name, devices in rows.items():
        out[name] = {}
        for days, at in since.items():
            window = [(ordered, f) for ordered, f in devices if ordered >= at]
            to_ship = [
                (f[S.SHIPPED] - ordered).total_seconds() / 86400
                for ordered, f in window
                if S.SHIPPED in f
            ]
            to_receipt = [
                (f[S.RECEIVED] - f[S.DELIVERED]).total_seconds() / 86400
                for _, f in window
                if S.RECEIVED in f and S.DELIVERED in f
            ]
            out[name][days] = _sla_figures(
                len(window),
                len(to_ship),
                sum(1 for t in to_ship if t <= AGREED_SHIP_DAYS),
                sum(1 for _, f in window if S.CANCELLED in f),
                statistics.median(to_ship) if to_ship else None,
                statistics.median(to_receipt) if to_receipt else None,
            )
    return out


NO_FIGURES = {
    "devices": 0,
    "median_to_ship": None,
    "shipped_in_time": None,
    "cancel_rate": None,
    "delivery_to_receipt": None,
}


def _sla_figures(devices, shipped, in_time, cancelled, to_ship, to_receipt) -> dict:
    return {
        "devices": devices,
        "median_to_ship": round(to_ship, 1) if shipped else None,
        "shipped_in_time": round(100 * in_time / shipped) if shipped else None,
        "cancel_rate": round(100 * cancelled / devices) if devices else None,
        "delivery_to_receipt": round(to_receipt, 1) if to_receipt is not None else None,
    }
