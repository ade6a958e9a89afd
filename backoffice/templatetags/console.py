"""Filters for console templates: status badges and bar widths. Money is the builtin
``money``/``signed_money`` of every template (core/templatetags/money_tags.py)."""

from django import template

from devices.display import status_badge

register = template.Library()


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
