"""Leasing reads for pages: a constant number of queries each."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from django.db.models import Count, Sum
from django.db.models.functions import TruncMonth
from django.utils import timezone

from companies.models import User
from core.dates import add_months
from devices.models import Device

from .models import CHOOSABLE, Lease


def _money(value) -> Decimal:
    """A sum as money (SQLite sums decimals as floats)."""
    return Decimal(str(value or 0)).quantize(Decimal("0.01"))


def returns_overdue_count(user) -> int:
    return Lease.objects.visible_to(user).returns_overdue().count()


def lease_forecast(user, today: date | None = None, months: int = 12) -> list[dict]:
    """Open leases ending per month for the next ``months`` months (this one first): how
    many, what they cost a month, and what buying them all out would take. One query."""
    today = today or timezone.localdate()
    first = today.replace(day=1)
    end = add_months(first, months)
    rows = (
        Lease.objects.visible_to(user)
        .open()
        .filter(ends_on__gte=first, ends_on__lt=end)
        .annotate(month=TruncMonth("ends_on"))
        .values("month", "currency")
        .annotate(count=Count("pk"), monthly=Sum("monthly_price"), buyout=Sum("buyout_price"))
        .order_by("month", "currency")
    )
    by_month: dict[date, list[dict]] = {}
    for row in rows:
        month = row["month"]
        month = month.date() if hasattr(month, "date") else month
        by_month.setdefault(month, []).append(row)
    out = []
    for i in range(months):
        month = add_months(first, i)
        found = by_month.get(month, [])
        out.append(
            {
                "month": month,
                "count": sum(r["count"] for r in found),
                "monthly": [(_money(r["monthly"]), r["currency"]) for r in found],
                "buyout": [(_money(r["buyout"]), r["currency"]) for r in found],
            }
        )
    return out


def replacement_candidates(employee: User, category: str) -> list[Device]:
    """The employee's leased devices of this category that a leased replacement would
    take the place of (received or in use, lease open)."""
    return list(
        Device.objects.filter(
            owner=employee,
            category=category,
            is_leased=True,
            status__in=CHOOSABLE,
            lease__status=Lease.Status.ACTIVE,
        )
        .select_related("lease")
        .order_by("lease__ends_on")
    )
