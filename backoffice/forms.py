"""What the device and order consoles share: which transitions a page offers, the forms a
transition asks for, and the per-row report of a bulk action."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from core.forms import BoundedForm
from core.tenant_admin import ReasonForm
from devices.engine import Result
from devices.lifecycle import NEEDS_REASON, NEEDS_SHIPMENT
from devices.models import TRANSITION_LABELS, Transition

T = Transition

# Transitions an admin page offers: receipt belongs to the employee in the portal.
ADMIN_TRANSITIONS = [name for name in TRANSITION_LABELS if name != T.MARK_RECEIVED]
# Status changes that only mean something for a leased device.
LEASE_TRANSITIONS = {
    T.REQUEST_BUYOUT,
    T.WITHDRAW_BUYOUT,
    T.COMPLETE_BUYOUT,
    T.START_TRADE_IN,
    T.CONFIRM_TRADE_IN,
}


def offered(transition: str, device) -> bool:
    """Whether an admin page offers this (allowed) transition for this device as a button."""
    return transition in ADMIN_TRANSITIONS and (
        device.is_leased or transition not in LEASE_TRANSITIONS
    )


def https_only(value: str) -> None:
    """Tracking links open from employees' pages: only https ones."""
    if value and not value.startswith("https://"):
        raise ValidationError(_("Give an https:// link."))


class ShipForm(BoundedForm):
    carrier = forms.CharField(max_length=80, label=gettext_lazy("Carrier"))
    tracking_number = forms.CharField(
        max_length=80,
        required=False,
        label=gettext_lazy("Tracking number"),
        help_text=gettext_lazy("Required where your company shares tracking with employees."),
    )
    tracking_url = forms.URLField(
        max_length=500,
        required=False,
        label=gettext_lazy("Tracking link"),
        assume_scheme="https",
        validators=[https_only],
    )
    expected_delivery = forms.DateField(
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        label=gettext_lazy("Expected delivery"),
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
        messages.success(
            request,
            # Translators: after a bulk step, e.g. "Ship: done for 3 of 4."
            _("%(action)s: done for %(done)s of %(total)s.")
            % {"action": verb, "done": len(done), "total": len(outcomes)},
        )
    for o in same:
        messages.info(request, f"{names.get(o.device_id, o.device_id)}: {o.message}")
    for o in refused[:50]:
        messages.warning(
            request,
            # Translators: an item's name (order, device, employee), then why it was refused.
            _("%(item)s: refused — %(reason)s")
            % {"item": names.get(o.device_id, o.device_id), "reason": o.message},
        )
    if len(refused) > 50:
        more = len(refused) - 50
        messages.warning(
            request,
            ngettext("… and %(count)s more refused.", "… and %(count)s more refused.", more)
            % {"count": more},
        )
