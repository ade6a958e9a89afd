"""The employee's pages. Thin: read through the selectors, write through the services,
turn a refusal into a message. Every object is looked up through the tenant scope, so
another employee's device or order is a 404."""

import zlib

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import ValidationError
from django.db import connection
from django.http import Http404, HttpResponse, JsonResponse
from django.middleware.csrf import get_token
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.safestring import mark_safe
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from budgets.payments import PaymentError
from budgets.services import BudgetRefused
from core.cache import LocalCache, cache_get, cache_set
from devices import lifecycle
from devices.engine import Result, TransitionRefused, refusal_message
from devices.models import IN_TRANSIT_STATUSES, Category, Device
from leasing import services as leasing
from leasing.selectors import replacement_candidates
from orders import services as order_services
from orders.models import Order, Product, ProductRequest
from orders.selectors import (
    order_detail_for,
    order_is_updatable,
    order_status,
    order_tracking_for,
    request_quote,
)

from . import selectors
from .forms import MarkReceivedForm, OrderDetailsForm, RequestForm


def _get_or_404(loader, *args):
    try:
        return loader(*args)
    except (Device.DoesNotExist, Order.DoesNotExist):
        raise Http404("Not found") from None


@require_GET
def home(request):
    user = request.user
    if user.is_staff:
        # Company admins and partner staff land on their console's dashboard (what waits
        # on them); their own Your Details is a click away.
        return redirect("admin:index")
    return redirect("me")


# How long a rendered Your Details stays cached. It is keyed by the user's profile version,
# which every change to their hardware (or their partner) bumps, and by the day (a return
# deadline passes at midnight); this bounds memory and what only time changes (the 30 days
# of requests shown).
ME_CACHE_SECONDS = 10 * 60
# The hardware sections last served by this process, in front of the shared cache: the key
# names the profile version, so an entry here is never stale (core.cache.LocalCache).
HARDWARE = LocalCache(size=500, seconds=ME_CACHE_SECONDS)
# Where the cached hardware sections want this request's CSRF token (a one-click answer).
CSRF_SLOT = "@@CSRF@@"
# How often the live parts of a page ask for news (static/js/velory.js, data-live-every).
LIVE_EVERY_SECONDS = 30


def _hardware(request) -> str:
    """Your Details' hardware sections (portal/_hardware.html), from the cache when the
    profile has not changed: the page costs the same with 5 or 200 devices."""
    user = request.user
    # date_joined tells apart two users who got the same id (a database rebuilt under a
    # cache that was not); the language and time zone are the ones the page is written in.
    key = (
        f"me:v3:{user.pk}:{user.date_joined.timestamp():.0f}:{user.profile_version}"
        f":{timezone.localdate():%Y%m%d}:{get_language()}:{timezone.get_current_timezone_name()}"
    )
    hardware = None
    if settings.PAGE_CACHE:
        hardware = HARDWARE.get(key) or cache_get(key)
    if hardware is None:
        details = selectors.your_details_for(user)
        hardware = render_to_string("portal/_hardware.html", {"details": details}, request=request)
        if settings.PAGE_CACHE:
            cache_set(key, hardware, ME_CACHE_SECONDS)
    if settings.PAGE_CACHE:
        HARDWARE.set(key, hardware)
    if CSRF_SLOT in hardware:  # a form in the cached part: this request's token
        hardware = hardware.replace(CSRF_SLOT, get_token(request))
    return mark_safe(hardware)  # noqa: S308  (rendered by our own template)


@require_GET
def me(request):
    """Your Details. Its hardware sections refresh themselves (me_live)."""
    return render(
        request,
        "portal/me.html",
        {"nav": "me", "hardware": _hardware(request), "live_every": LIVE_EVERY_SECONDS},
    )


@require_GET
def me_live(request):
    """The live part of Your Details: the same markup as on the page, for velory.js."""
    return _fragment(_hardware(request))


# The device page's and the order page's main parts, cached like Your Details' hardware:
# keyed by the profile version (every writer of what they show renews it: the table in
# docs/architecture.md), the company's settings as read with the user (its policy shapes
# the buttons), and the day (a return chosen today is due on a date counted from today).
PAGES = LocalCache(size=1000, seconds=ME_CACHE_SECONDS)


def _company_mark(user) -> str:
    """A short fingerprint of the user's company row, read with the user anyway: a policy
    change (buyouts, grace days, the leasing company) gives the pages a new key."""
    company = user.company
    if company is None:
        return "-"
    values = [getattr(company, f.attname) for f in company._meta.concrete_fields]
    return f"{zlib.crc32(repr(values).encode()):08x}"


def _cached_page(request, kind: str, object_id: int, build) -> dict:
    """``{"title": ..., "body": ...}`` of one of the user's pages, from the cache when
    nothing it shows has changed; ``build()`` renders it (and raises Http404 for another
    person's object, which is then never cached under this user's key)."""
    user = request.user
    key = (
        f"{kind}:v2:{user.pk}:{user.date_joined.timestamp():.0f}:{user.profile_version}"
        f":{_company_mark(user)}:{timezone.localdate():%Y%m%d}:{get_language()}:{object_id}"
    )
    cached = None
    if settings.PAGE_CACHE:
        cached = PAGES.get(key) or cache_get(key)
    if cached is None:
        title, body = build()
        cached = f"{title.replace(chr(0), '')}\x00{body}"
        if settings.PAGE_CACHE:
            cache_set(key, cached, ME_CACHE_SECONDS)
    if settings.PAGE_CACHE:
        PAGES.set(key, cached)
    title, body = cached.split("\x00", 1)
    if CSRF_SLOT in body:  # a form in the cached part: this request's token
        body = body.replace(CSRF_SLOT, get_token(request))
    return {"title": title, "body": mark_safe(body)}  # noqa: S308  (our own template)


def _fragment(html: str) -> HttpResponse:
    response = HttpResponse(html)
    response["Vary"] = "X-Requested-With"
    return response


@require_GET
def device_detail(request, device_id: int):
    def build():
        device = _get_or_404(selectors.device_detail_for, request.user, device_id)
        panel = selectors.lease_panel_for(device)
        context = {
            "device": device,
            "can_receive": device.status in IN_TRANSIT_STATUSES,  # own devices only
            "events": device.events.all(),
            "has_lease": panel is not None,
            **(panel or {}),
            "csrf_token": CSRF_SLOT,
        }
        return device.name, render_to_string("portal/_device_body.html", context, request)

    page = _cached_page(request, "device", device_id, build)
    return render(request, "portal/device_detail.html", {"nav": "me", **page})


LEASE_CHOICES = ("return", "buyout")


@require_http_methods(["GET", "POST"])
def device_lease(request, device_id: int):
    """Return or buy out a leased device. GET: the two choices, with what each means;
    GET ?choice=return|buyout: the confirmation page (the deadline, who sends the return
    instructions, what the buyout costs and how it is paid); POST: the confirmed choice,
    carried out by leasing.lease_choose."""
    device = _get_or_404(selectors.device_detail_for, request.user, device_id)
    panel = selectors.lease_panel_for(device)
    if panel is None or not panel["lease"].is_open:
        messages.info(
            request,
            _("%(device)s has no open lease to return or buy out.") % {"device": device.name},
        )
        return redirect(device_detail_url(device))
    lease_url = f"/me/devices/{device.pk}/lease/"
    if request.method == "POST":
        choice = request.POST.get("choice", "")
        try:
            outcome = leasing.lease_choose(device_id=device.pk, actor=request.user, choice=choice)
        except (TransitionRefused, ValidationError) as refusal:
            messages.error(request, refusal_message(refusal))
            return redirect(lease_url)
        if choice == "buyout":
            if outcome.changed:
                messages.success(
                    request,
                    _("You are buying out %(device)s. Pay to complete it.")
                    % {"device": device.name},
                )
            return redirect(f"/me/devices/{device.pk}/buyout/")
        if outcome.changed:
            device.lease.refresh_from_db(fields=["return_due_on"])
            # the same rule the confirmation page stated (the lease's end, chosen today)
            messages.success(
                request,
                # Translators: %(why)s says why that date (the lease-end rule), %(party)s is
                # the partner or leasing company that sends the instructions.
                _(
                    "%(device)s is being returned: send it back by %(date)s (%(why)s). "
                    "%(party)s e-mails you the return instructions; they are also below."
                )
                % {
                    "device": device.name,
                    "date": selectors.long_date(device.lease.return_due_on),
                    "why": panel["return_why"],
                    "party": panel["party"].name,
                },
            )
        return redirect(device_detail_url(device))
    choice = request.GET.get("choice", "")
    context = {"nav": "me", "device": device, **panel}
    if choice in LEASE_CHOICES and panel["can_choose"]:
        if choice == "buyout" and not panel["buyout_allowed"]:
            return redirect(lease_url)
        context.update(choice=choice, by_salary=device.company.buyout_payment == "salary")
        return render(request, "portal/device_lease_confirm.html", context)
    return render(request, "portal/device_lease.html", context)


@require_http_methods(["GET", "POST"])
def device_buyout(request, device_id: int):
    """Pay a buyout: by card, or by accepting a salary deduction, per company policy."""
    device = _get_or_404(selectors.device_detail_for, request.user, device_id)
    panel = selectors.lease_panel_for(device)
    buyout = panel and panel["buyout"]
    if buyout is None:
        messages.info(
            request, _("%(device)s has no buyout waiting for payment.") % {"device": device.name}
        )
        return redirect(device_detail_url(device))
    by_salary = device.company.buyout_payment == "salary"
    if request.method == "POST":
        try:
            if by_salary:
                leasing.buyout_pay_by_salary(device_id=device.pk, actor=request.user)
                messages.success(
                    request, _("Done. %(device)s is yours now.") % {"device": device.name}
                )
                return redirect(device_detail_url(device))
            payment = leasing.buyout_checkout(device_id=device.pk, actor=request.user)
        except (TransitionRefused, ValidationError, leasing.BuyoutRefused) as refusal:
            messages.error(request, refusal_message(refusal))
            return redirect(f"/me/devices/{device.pk}/buyout/")
        if payment.checkout_url:
            return redirect(payment.checkout_url)  # the processor's own page
        messages.error(request, _("The card processor is not answering. Try again shortly."))
        return redirect(f"/me/devices/{device.pk}/buyout/")
    return render(
        request,
        "portal/device_buyout.html",
        {
            "nav": "me",
            "device": device,
            "by_salary": by_salary,
            "payment": buyout.payment,
            **panel,
        },
    )


@require_http_methods(["POST"])
def device_buyout_withdraw(request, device_id: int):
    device = _get_or_404(selectors.device_detail_for, request.user, device_id)
    try:
        leasing.buyout_withdraw(device_id=device.pk, actor=request.user)
    except (TransitionRefused, ValidationError, leasing.BuyoutRefused) as refusal:
        messages.error(request, refusal_message(refusal))
        return redirect(f"/me/devices/{device.pk}/buyout/")
    messages.success(
        request,
        _("The buyout is withdrawn: %(device)s stays with you as before.")
        % {"device": device.name},
    )
    return redirect(device_detail_url(device))


@require_http_methods(["GET", "POST"])
def device_receive(request, device_id: int):
    device = _get_or_404(selectors.device_detail_for, request.user, device_id)
    if request.method == "POST":
        form = MarkReceivedForm(request.POST)
        if form.is_valid():
            try:
                outcome = lifecycle.device_mark_received(
                    device_id=device.pk,
                    actor=request.user,
                    serial_number=form.cleaned_data["serial_number"],
                    received_on=form.cleaned_data["received_on"],
                )
            except TransitionRefused as refusal:
                messages.error(request, str(refusal))
                return redirect(device_detail_url(device))
            except ValidationError as error:
                form.add_error(None, error)
            else:
                if outcome.result is Result.UNCHANGED:
                    messages.info(
                        request,
                        _("%(device)s was already marked as received.") % {"device": device.name},
                    )
                else:
                    messages.success(
                        request,
                        _("%(device)s is marked as received. Enjoy!") % {"device": device.name},
                    )
                return redirect(device_detail_url(device))
    else:
        if device.status not in IN_TRANSIT_STATUSES:
            messages.info(
                request,
                # Translators: %(status)s is the device's status ("Ordered", "Cancelled").
                _("%(device)s is %(status)s: there is nothing to mark as received.")
                % {"device": device.name, "status": device.status_label},
            )
            return redirect(device_detail_url(device))
        form = MarkReceivedForm(initial={"serial_number": device.serial_number})
    return render(
        request, "portal/device_receive.html", {"nav": "me", "device": device, "form": form}
    )


def device_detail_url(device) -> str:
    return f"/me/devices/{device.pk}/"


def _order_live_context(order, devices: list, user) -> dict:
    """What the live part of the order page shows (portal/partials/order_live.html): the
    status, the one action that fits it, and what happens now, in words by stage."""
    statuses = [d.status for d in devices]
    updatable = (
        order_is_updatable([d.status for d in devices if not d.registered_manually])
        and order.employee_id == user.pk
    )
    return {
        "order": order,
        "devices": devices,
        "status": order_status(statuses),
        "stage": selectors.order_stage(statuses),
        "updatable": updatable,
        "has_leased": any(d.is_leased for d in devices),
        "live_every": LIVE_EVERY_SECONDS,
    }


@require_http_methods(["GET", "POST"])
def order_detail(request, order_id: int):
    if request.method != "POST":

        def build():
            order = _get_or_404(order_detail_for, request.user, order_id)
            live = _order_live_context(order, list(order.devices.all()), request.user)
            title = _("Order %(number)s") % {"number": order.number}
            return title, _order_body(request, order, live, None)

        page = _cached_page(request, "order", order_id, build)
        return render(request, "portal/order_detail.html", {"nav": "me", **page})
    order = _get_or_404(order_detail_for, request.user, order_id)
    live = _order_live_context(order, list(order.devices.all()), request.user)
    form = OrderDetailsForm(request.POST)
    if form.is_valid():
        try:
            order_services.order_update_details(
                order_id=order.pk,
                actor=request.user,
                delivery_address=form.cleaned_data["delivery_address"],
                note=form.cleaned_data["note"],
            )
        except TransitionRefused as refusal:
            messages.error(request, str(refusal))
            return redirect(f"/me/orders/{order.pk}/")
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(
                request,
                _("Order %(number)s is updated and %(partner)s was told.")
                % {"number": order.number, "partner": order.partner.name},
            )
            return redirect(f"/me/orders/{order.pk}/")
    # A refused change, with its errors: this request's own page, never cached.
    body = _order_body(request, order, live, form, csrf=None)
    title = _("Order %(number)s") % {"number": order.number}
    page = {"title": title, "body": mark_safe(body)}  # noqa: S308
    return render(request, "portal/order_detail.html", {"nav": "me", **page})


def _order_body(request, order, live: dict, form, csrf=CSRF_SLOT) -> str:
    if form is None and live["updatable"]:
        form = OrderDetailsForm(
            initial={"delivery_address": order.delivery_address, "note": order.note}
        )
    context = {**live, "form": form if live["updatable"] else None, "events": order.events.all()}
    if csrf:
        context["csrf_token"] = csrf
    return render_to_string("portal/_order_body.html", context, request)


@require_GET
def order_live(request, order_id: int):
    """The live part of the order page (status, action, items), for velory.js."""
    order = _get_or_404(selectors.order_live_for, request.user, order_id)
    context = _order_live_context(order, list(order.devices.all()), request.user)
    return _fragment(render_to_string("portal/partials/order_live.html", context, request))


def _track_context(request, order_id: int) -> dict:
    order = _get_or_404(order_tracking_for, request.user, order_id)
    devices = list(order.devices.all())
    return {
        "nav": "me",
        "order": order,
        "devices": devices,
        "status": order_status(d.status for d in devices),
        "shipments": order.shipments.all(),
        "live_every": LIVE_EVERY_SECONDS,
    }


@require_GET
def order_track(request, order_id: int):
    return render(request, "portal/order_track.html", _track_context(request, order_id))


@require_GET
def order_track_live(request, order_id: int):
    """The live part of Track Order (status, parcels, carrier updates), for velory.js."""
    context = _track_context(request, order_id)
    return _fragment(render_to_string("portal/partials/track_live.html", context, request))


CATALOGUE_QUERY_MAX = 100  # characters of a search kept


@require_GET
def catalogue(request):
    """The catalogue: filter by type, search and sort with GET parameters (a plain form:
    it works without JavaScript)."""
    category = request.GET.get("category", "")
    if category not in dict(Category.choices):
        category = ""
    query = " ".join(request.GET.get("q", "").split())[:CATALOGUE_QUERY_MAX]
    sort = request.GET.get("sort", "")
    if sort not in selectors.CATALOGUE_SORTS:
        sort = ""
    found = selectors.catalogue_for(request.user, category, query=query, sort=sort)
    return render(
        request,
        "portal/catalogue.html",
        {
            "nav": "catalogue",
            **found,
            "category": category,
            "categories": Category.choices,
            "q": query,
            "sort": sort,
            "sorts": [(key, label) for key, (label, _order) in selectors.CATALOGUE_SORTS.items()],
        },
    )


@require_http_methods(["GET", "POST"])
def product_detail(request, product_id: int):
    user = request.user
    try:
        product = selectors.with_on_order(
            Product.objects.visible_to(user).active().select_related("partner"), user
        ).get(pk=product_id)
    except Product.DoesNotExist:
        raise Http404("No such product") from None
    quote = request_quote(employee=user, product=product)
    replaceable = replacement_candidates(user, product.category) if product.is_leased else []
    form = RequestForm(
        request.POST or None,
        replaceable=replaceable,
        buyout_allowed=getattr(user.company, "buyout_allowed", False),
        initial={"delivery_address": user.delivery_address},
    )
    if request.method == "POST" and quote.allowed and form.is_valid():
        try:
            submitted = order_services.request_submit(
                employee=user,
                product_id=product.pk,
                delivery_address=form.cleaned_data["delivery_address"],
                note=form.cleaned_data["note"],
                replaces_device_id=form.cleaned_data.get("replaces"),
                replacement_choice=form.cleaned_data.get("replacement_choice", ""),
            )
        except (BudgetRefused, TransitionRefused, PaymentError) as refusal:
            form.add_error(None, str(refusal))
        except ValidationError as error:
            form.add_error(None, error)
        else:
            if submitted.status == "awaiting_payment":
                payment = submitted.card_payment
                if payment.checkout_url:
                    return redirect(payment.checkout_url)  # the processor's own page
                messages.warning(
                    request,
                    # Translators: "Continue to payment" is the button's name on Your Details.
                    _(
                        "Request %(number)s is saved, but the card processor is not answering. "
                        "Use Continue to payment below in a moment."
                    )
                    % {"number": submitted.number},
                )
                return redirect("me")
            messages.success(
                request,
                _("Request %(number)s for %(product)s is sent to your company admin for approval.")
                % {"number": submitted.number, "product": product.name},
            )
            return redirect("me")
    elif request.method == "POST" and not quote.allowed:
        form.add_error(None, quote.message)
    return render(
        request,
        "portal/product_detail.html",
        {
            "nav": "catalogue",
            "product": product,
            "quote": quote,
            "form": form,
            "replaceable": replaceable,
            "specs": selectors.product_specs(product),
            "on_order": selectors.on_order_text(product),
        },
    )


@require_http_methods(["GET", "POST"])
def request_withdraw(request, request_id: int):
    try:
        product_request = (
            ProductRequest.objects.visible_to(request.user)
            .filter(employee=request.user)
            .get(pk=request_id)
        )
    except ProductRequest.DoesNotExist:
        raise Http404("No such request") from None
    if request.method == "POST":
        try:
            order_services.request_withdraw(request_id=product_request.pk, actor=request.user)
        except TransitionRefused as refusal:
            messages.error(request, str(refusal))
        else:
            if product_request.card_amount:
                said = _(
                    "Request %(number)s is withdrawn; its budget is available again and the "
                    "hold on your card is released."
                )
            else:
                said = _("Request %(number)s is withdrawn; its budget is available again.")
            messages.success(request, said % {"number": product_request.number})
        return redirect("me")
    return render(request, "portal/request_withdraw.html", {"nav": "me", "req": product_request})


@require_GET
def budget(request):
    return render(
        request, "portal/budget.html", {"nav": "me", **selectors.budget_history_for(request.user)}
    )


@require_GET
def support(request):
    return render(
        request,
        "portal/support.html",
        {"nav": "support", **selectors.support_contacts_for(request.user)},
    )


@login_not_required
@never_cache
@require_GET
def health(request):
    """Liveness for the load balancer and docker compose: the database answers."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})


@login_not_required
@require_GET
def bare(request):
    """The benchmark's baseline: no work behind the same middleware."""
    return HttpResponse("ok")
