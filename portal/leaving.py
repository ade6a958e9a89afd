"""The leaver's page: every device they hold, and per device the choice of returning it or
buying it at its value on the exit date, confirmed on a page that states the deadline or
the price first; then paying for what they bought. Thin: people.services.offboarding does
every change."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods

from devices.engine import TransitionRefused, refusal_message
from people.models import OffboardingItem
from people.selectors import inbox_for, leaving_for
from people.services import attestation, offboarding

LEAVING_URL = "/me/leaving/"


def _leaving(request):
    leaving = leaving_for(request.user)
    if leaving is None:
        raise Http404("No offboarding case")
    return leaving


def _item(leaving, item_id: int):
    for row in leaving.items:
        if row.item.pk == item_id:
            return row
    raise Http404("Not found")


@require_GET
def leaving(request):
    return render(request, "portal/leaving.html", {"nav": "me", "leaving": _leaving(request)})


@require_http_methods(["GET", "POST"])
def leaving_choose(request, item_id: int):
    """GET ?choice=return|buyout: the confirmation page; POST: the confirmed choice."""
    leaving = _leaving(request)
    row = _item(leaving, item_id)
    choice = request.POST.get("choice") or request.GET.get("choice", "")
    if choice not in OffboardingItem.Choice.values or not row.can_choose:
        return redirect(LEAVING_URL)
    if choice == "buyout" and not row.can_buy:
        messages.error(
            request,
            _("%(device)s cannot be bought: return it instead.") % {"device": row.device.name},
        )
        return redirect(LEAVING_URL)
    if request.method == "POST":
        try:
            offboarding.offboarding_choose(item_id=item_id, choice=choice, actor=request.user)
        except (offboarding.OffboardingRefused, TransitionRefused, ValidationError) as refusal:
            messages.error(request, refusal_message(refusal))
            return redirect(LEAVING_URL)
        if choice == "buyout":
            messages.success(
                request,
                _("You are buying %(device)s. Pay to complete it.") % {"device": row.device.name},
            )
            return redirect(_pay_url(row.device, item_id))
        messages.success(
            request,
            _("%(device)s is being returned: the instructions are on their way by e-mail.")
            % {"device": row.device.name},
        )
        return redirect(LEAVING_URL)
    return render(
        request,
        "portal/leaving_confirm.html",
        {"nav": "me", "leaving": leaving, "row": row, "choice": choice},
    )


def _pay_url(device, item_id: int) -> str:
    return f"/me/devices/{device.pk}/buyout/" if device.is_leased else f"/me/leaving/{item_id}/pay/"


@require_http_methods(["GET", "POST"])
def leaving_pay(request, item_id: int):
    """Pay for a company-owned device bought on leaving: by card or salary deduction."""
    leaving = _leaving(request)
    row = _item(leaving, item_id)
    if row.pay == "lease":
        return redirect(_pay_url(row.device, item_id))
    if not row.pay:
        messages.info(
            request, _("%(device)s has no payment waiting.") % {"device": row.device.name}
        )
        return redirect(LEAVING_URL)
    if request.method == "POST":
        try:
            if row.pay == "salary":
                offboarding.offboarding_pay_by_salary(item_id=item_id, actor=request.user)
                messages.success(
                    request, _("Done. %(device)s is yours now.") % {"device": row.device.name}
                )
                return redirect(LEAVING_URL)
            payment = offboarding.offboarding_buyout_checkout(item_id=item_id, actor=request.user)
        except (offboarding.OffboardingRefused, TransitionRefused, ValidationError) as refusal:
            messages.error(request, refusal_message(refusal))
            return redirect(LEAVING_URL)
        if payment.checkout_url:
            return redirect(payment.checkout_url)  # the processor's own page
        messages.error(request, _("The card processor is not answering. Try again shortly."))
        return redirect(LEAVING_URL)
    return render(request, "portal/leaving_pay.html", {"nav": "me", "leaving": leaving, "row": row})


# What an employee can report of a device they were asked about (the values are stored).
PROBLEMS = [
    ("lost", gettext_lazy("Lost")),
    ("stolen", gettext_lazy("Stolen")),
    ("broken", gettext_lazy("Broken")),
]


@require_http_methods(["GET", "POST"])
def attest(request):
    """“Do you still have these devices?”: yes in one click (from Your Details), or here
    with a device reported lost, stolen or broken (the company admin is told)."""
    _case, question = inbox_for(request.user)
    if question is None:
        messages.info(request, _("There is nothing to confirm right now."))
        return redirect("/me/")
    devices = list(attestation.attested_devices(request.user.pk))
    if request.method == "POST":
        reports = {}
        if request.POST.get("answer") != "yes":
            for device in devices:
                problem = request.POST.get(f"device-{device.pk}", "have")
                if problem in dict(PROBLEMS):
                    reports[device.pk] = (problem, request.POST.get(f"note-{device.pk}", ""))
        attestation.attestation_answer(actor=request.user, reports=reports)
        if reports:
            messages.success(
                request, _("Thank you. Your IT admin has been told what you reported.")
            )
        else:
            messages.success(request, _("Thank you: your devices are confirmed."))
        return redirect("/me/")
    return render(
        request,
        "portal/attest.html",
        {"nav": "me", "question": question, "devices": devices, "problems": PROBLEMS},
    )
