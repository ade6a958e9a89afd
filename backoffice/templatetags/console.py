"""Filters for console templates: money as people read it, status badges."""

from django import template

from core.money import money as format_money
from devices.display import status_badge

register = template.Library()


@register.filter
def money(amount, currency=""):
    """{{ amount|money:currency }} → "1,234.56 EUR"."""
    return format_money(amount, currency)


@register.filter
def signed_money(amount, currency=""):
    """{{ amount|signed_money:currency }} → "+1,234.56 EUR" / "−249.00 EUR"."""
    return format_money(amount, currency, signed=True)


@register.filter
def badge(status):
    """{{ device.status|badge }}: the help article's label in its colour."""
    return status_badge(status)


@register.filter
def percent_of(value, total):
    """{{ count|percent_of:max }}: for a bar's width (0–100)."""
    try:
        return round(100 * float(value) / float(total)) if total else 0
    except (TypeError, ValueError):
        return 0
