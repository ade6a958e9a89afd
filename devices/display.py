"""How a device status is shown on console pages: the help article's label in a badge
coloured by what it means (the portal's colours)."""

from django.utils.html import format_html

from .models import LABELS, TONE


def status_badge(status: str):
    if not status:
        return "—"
    return format_html('<span class="badge badge-{}">{}</span>', TONE[status], LABELS[status])
