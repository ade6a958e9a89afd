"""Forms, reports and exports shared by the device and order admins."""

from __future__ import annotations

import csv
from collections.abc import Iterable

from django import forms
from django.contrib import messages
from django.http import StreamingHttpResponse
from django.utils import timezone

from devices.models import TRANSITION_LABELS
from devices.services import Result
from orders.services import NEEDS_REASON, NEEDS_SHIPMENT
from velory.tenancy import Role

# Transitions an admin page offers: receipt belongs to the employee in the portal.
ADMIN_TRANSITIONS = [name for name in TRANSITION_LABELS if name != "mark_received"]
# Status changes that only mean something for a leased device.
LEASE_TRANSITIONS = {
    "request_buyout",
    "withdraw_buyout",
    "complete_buyout",
    "start_trade_in",
    "confirm_trade_in",
}


def offered(transition: str, device) -> bool:
    """Whether an admin page offers this (allowed) transition for this device as a button."""
    return transition in ADMIN_TRANSITIONS and (
        device.is_leased or transition not in LEASE_TRANSITIONS
    )


class ReasonForm(forms.Form):
    reason = forms.CharField(
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Shown in the device's history; the employee is told where it matters.",
    )


class ShipForm(forms.Form):
    carrier = forms.CharField(max_length=80)
    tracking_number = forms.CharField(
        max_length=80,
        required=False,
        help_text="Required where your company shares tracking with employees.",
    )
    tracking_url = forms.URLField(
        max_length=500, required=False, label="Tracking link", assume_scheme="https"
    )
    expected_delivery = forms.DateField(
        required=False, widget=forms.DateInput(attrs={"type": "date"})
    )


def form_for(transition: str):
    if transition in NEEDS_SHIPMENT:
        return ShipForm
    if transition in NEEDS_REASON:
        return ReasonForm
    return None


def apply_kwargs(transition: str, data: dict) -> dict:
    """The service's arguments from the form's cleaned data."""
    if transition in NEEDS_SHIPMENT:
        return {
            "carrier": data["carrier"],
            "tracking_number": data.get("tracking_number", ""),
            "tracking_url": data.get("tracking_url", ""),
            "expected_delivery": data.get("expected_delivery"),
        }
    return {"note": data.get("reason", "")}


def report(request, transition: str, outcomes, names: dict[int, str]) -> None:
    """Tell the user, per row, what was done and what was refused and why."""
    verb = TRANSITION_LABELS[transition]
    done = [o for o in outcomes if o.result is Result.CHANGED]
    same = [o for o in outcomes if o.result is Result.UNCHANGED]
    refused = [o for o in outcomes if o.result in (Result.REFUSED, Result.NOT_FOUND)]
    if done:
        messages.success(request, f"{verb}: done for {len(done)} of {len(outcomes)}.")
    for o in same:
        messages.info(request, f"{names.get(o.device_id, o.device_id)}: {o.message}")
    for o in refused[:50]:
        messages.warning(request, f"{names.get(o.device_id, o.device_id)}: refused — {o.message}")
    if len(refused) > 50:
        messages.warning(request, f"… and {len(refused) - 50} more refused.")


def is_company_admin(request) -> bool:
    return request.user.is_superuser or request.user.role == Role.COMPANY_ADMIN


def is_partner(request) -> bool:
    return request.user.is_superuser or request.user.role == Role.PARTNER_STAFF


class Echo:
    def write(self, value):
        return value


def _cell(value):
    """A CSV cell a spreadsheet shows as text: what people typed (an address, a note) never
    runs as a formula."""
    if value is None:
        return ""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def csv_response(filename: str, header: list[str], rows: Iterable[list]) -> StreamingHttpResponse:
    """A CSV download streamed row by row (big exports never sit in memory)."""
    writer = csv.writer(Echo())

    def lines():
        yield writer.writerow(header)
        for row in rows:
            yield writer.writerow([_cell(v) for v in row])

    stamp = timezone.localdate().isoformat()
    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}-{stamp}.csv"'
    return response
