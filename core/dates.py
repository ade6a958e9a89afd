"""Date arithmetic shared by the apps."""

import calendar
from datetime import date

from django.core.exceptions import ValidationError


def add_months(day: date, months: int) -> date:
    """The same day ``months`` later (or earlier), or the month's last day when it is
    shorter: 31 Jan + 1 month = 28/29 Feb."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


# The dates Velory accepts from people: hardware, budgets and leases of this century. A date
# outside is a typo (or an attack on the arithmetic: 9999-12-31 plus a month has no year).
EARLIEST = date(2000, 1, 1)
LATEST = date(2099, 12, 31)


def date_in_range(value) -> None:
    """A form and model validator: the date (or datetime) is between EARLIEST and LATEST."""
    day = value.date() if hasattr(value, "date") and callable(value.date) else value
    if day is not None and not (EARLIEST <= day <= LATEST):
        raise ValidationError(
            f"Enter a date between {EARLIEST:%d %b %Y} and {LATEST:%d %b %Y}.",
            code="date_out_of_range",
        )


def add_months_checked(day: date, months: int) -> date:
    """``add_months`` for dates people entered: both ends within EARLIEST and LATEST, or a
    ValidationError that says so (never the arithmetic's own "year out of range")."""
    date_in_range(day)
    if not 0 < months <= 1200:
        raise ValidationError("A period runs for 1 to 1,200 months.")
    end = add_months(day, months) if day.year + months // 12 + 1 <= LATEST.year else None
    if end is None or end > LATEST:
        raise ValidationError(f"The period has to end by {LATEST:%d %b %Y}.")
    return end
