"""The order console: orders with a button for each transition of their items, bulk
actions, placing again, and the CSV export."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import Prefetch
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext, pgettext_lazy

from core.exports import csv_response
from core.money import money
from core.tenant_admin import (
    ObjectAction,
    ObjectActionsAdmin,
    ReadOnlyInline,
    RecordAdmin,
    is_company_admin,
)
from devices.display import status_badge
from devices.engine import Result, TransitionRefused, available_transitions
from devices.lifecycle import devices_apply
from devices.models import TRANSITION_LABELS, Device, Source, Transition
from orders.models import (
    DispatchStatus,
    Order,
    OrderAlert,
    OrderEvent,
    OrderLine,
    Shipment,
    order_number,
    order_pk,
)
from orders.selectors import order_status
from partners.services import order_place_retry

from ..forms import ADMIN_TRANSITIONS, apply_kwargs, form_for, offered

T = Transition


class OrderLineInline(ReadOnlyInline):
    model = OrderLine
    fields = ("name", "kind", "quantity", "price", "line_total", "financing")
    readonly_fields = fields
    verbose_name_plural = gettext_lazy("order lines")

    @admin.display(description=pgettext_lazy("kind of item", "type"))
    def kind(self, obj):
        return obj.get_category_display()

    @admin.display(description=gettext_lazy("unit price"))
    def price(self, obj):
        return money(obj.unit_price, obj.currency)

    @admin.display(description=gettext_lazy("total"))
    def line_total(self, obj):
        return money(obj.unit_price * obj.quantity, obj.currency)

    @admin.display(description=gettext_lazy("financing"))
    def financing(self, obj):
        if not obj.is_leased:
            return _("Bought")
        monthly = money(obj.monthly_price, obj.currency) if obj.monthly_price else ""
        months = obj.lease_months
        if monthly and months:
            return ngettext(
                "Leased, %(monthly)s a month over %(months)s months",
                "Leased, %(monthly)s a month over %(months)s months",
                months,
            ) % {"monthly": monthly, "months": months}
        if monthly:
            return _("Leased, %(monthly)s a month") % {"monthly": monthly}
        if months:
            return ngettext(
                "Leased over %(months)s months", "Leased over %(months)s months", months
            ) % {"months": months}
        return _("Leased")


class ShipmentInline(ReadOnlyInline):
    model = Shipment
    fields = ("carrier", "tracking_number", "status_text", "shipped_at", "delivered_at")
    verbose_name_plural = gettext_lazy("parcels")


class DeviceInline(ReadOnlyInline):
    model = Device
    fk_name = "order"
    fields = ("name", "status_badge", "serial_number", "shipment")
    readonly_fields = fields
    show_change_link = True
    verbose_name_plural = gettext_lazy("items")

    @admin.display(description=gettext_lazy("status"))
    def status_badge(self, obj):
        return status_badge(obj.status)


class OrderEventInline(ReadOnlyInline):
    model = OrderEvent
    fields = ("at", "message", "actor_name")
    verbose_name_plural = gettext_lazy("history")


@admin.register(Order)
class OrderAdmin(ObjectActionsAdmin):
    list_display = (
        "__str__",
        "employee",
        "company",
        "partner",
        "status_display",
        "dispatch_status",
        "created_at",
    )
    list_filter = (
        "dispatch_status",
        "company",
        "partner",
        ("created_at", admin.DateFieldListFilter),
    )
    list_select_related = ("employee", "company", "partner")
    search_fields = ("employee__full_name", "employee__email", "=id")
    inlines = [DeviceInline, OrderLineInline, ShipmentInline, OrderEventInline]
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "status_display",
                    "total",
                    "payment",
                    "employee",
                    "company",
                    "partner",
                    "created_at",
                )
            },
        ),
        (gettext_lazy("Delivery"), {"fields": ("delivery_address", "note", "expected_delivery")}),
        (
            gettext_lazy("With the partner"),
            {
                "fields": (
                    "dispatch_status",
                    "partner_ref",
                    "placed_at",
                    "dispatch_attempts",
                    "dispatch_error",
                    "partner_status",
                    "last_polled_at",
                    "next_poll_at",
                ),
                "description": gettext_lazy(
                    "How Velory placed the order with the partner and follows it."
                ),
            },
        ),
    )
    readonly_fields = tuple(name for _, block in fieldsets for name in block["fields"])
    actions = ["export_csv"]
    company_admin_actions = ("export_csv",)  # money and people's data: theirs alone
    refusals = (TransitionRefused,)

    def get_queryset(self, request):
        # The status column is derived from the devices: one more query for the page.
        return (
            super()
            .get_queryset(request)
            .prefetch_related(
                Prefetch(
                    "devices", queryset=Device.objects.only("pk", "status", "order_id", "name")
                )
            )
        )

    def get_search_results(self, request, queryset, search_term):
        # "VO-000123" finds order 123.
        pk = order_pk(search_term)
        return super().get_search_results(
            request, queryset, str(pk) if pk is not None else search_term
        )

    @admin.display(description=gettext_lazy("status"))
    def status_display(self, obj):
        status = order_status(d.status for d in obj.devices.all())
        return format_html(
            '<span class="badge badge-{}">{}</span>{}',
            status.tone,
            status.label,
            f" {status.detail}" if status.detail else "",
        )

    @admin.display(description=gettext_lazy("total"))
    def total(self, obj):
        lines = list(obj.lines.all())
        if not lines:
            return "—"
        currencies = {line.currency for line in lines}
        return " + ".join(
            money(sum(li.unit_price * li.quantity for li in lines if li.currency == c), c)
            for c in sorted(currencies)
        )

    @admin.display(description=gettext_lazy("paid from"))
    def payment(self, obj):
        """The request's split between budget and card, with the card payment's state
        (company admins only: the employee's money is theirs to see)."""
        request_obj = getattr(obj, "request", None)
        if request_obj is None:
            return _("Ordered by an admin: no request, nothing taken from a budget.")
        currency = request_obj.currency
        parts = [_("Budget %(amount)s") % {"amount": money(request_obj.budget_amount, currency)}]
        if request_obj.card_amount:
            card = money(request_obj.card_amount, currency)
            payment = getattr(request_obj, "card_payment", None)
            if payment is not None:
                # Translators: the card part of an order's payment, e.g. "card 99.00 EUR
                # (captured)"; the state is a card payment's status.
                card = _("card %(amount)s (%(state)s)") % {
                    "amount": card,
                    "state": payment.get_status_display().lower(),
                }
            else:
                card = _("card %(amount)s") % {"amount": card}
            parts.append(card)
        return " · ".join(parts)

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if is_company_admin(request):
            return fieldsets
        # Partners see the order, not the employee's budget or card.
        first = dict(fieldsets[0][1])
        first["fields"] = tuple(f for f in first["fields"] if f != "payment")
        return ((fieldsets[0][0], first), *fieldsets[1:])

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False  # an order changes only through its buttons

    def get_object_actions(self, request, obj):
        """A button per transition this user may make on some of the order's items."""
        devices = list(obj.devices.all())
        by_transition: dict[str, list[int]] = {}
        for device in devices:
            for name in available_transitions(device, request.user):
                if offered(name, device):
                    by_transition.setdefault(name, []).append(device.pk)
        actions = []
        if obj.dispatch_status == DispatchStatus.FAILED:
            actions.append(
                ObjectAction(
                    "place_again",
                    _("Place with partner again"),
                    self._place_again,
                    help_text=_("Velory could not place this order: %(error)s")
                    % {"error": obj.dispatch_error},
                )
            )
        for name in ADMIN_TRANSITIONS:
            ids = by_transition.get(name)
            if not ids:
                continue
            label = _("Cancel order") if name == T.CANCEL else TRANSITION_LABELS[name]
            if len(devices) > 1:
                label = ngettext(
                    # Translators: an order's button, e.g. "Ship (2 of 3 items)".
                    "%(action)s (%(count)s of %(total)s items)",
                    "%(action)s (%(count)s of %(total)s items)",
                    len(devices),
                ) % {"action": label, "count": len(ids), "total": len(devices)}
            actions.append(
                ObjectAction(
                    name,
                    label,
                    self._runner(name, ids),
                    form=form_for(name),
                    danger=name == T.CANCEL,
                    help_text=CANCEL_HELP if name == T.CANCEL else "",
                )
            )
        return actions

    def _place_again(self, request, obj, data):
        order_place_retry(order_id=obj.pk, actor=request.user)
        return _("Velory tries to place %(order)s with %(partner)s again.") % {
            "order": obj.number,
            "partner": obj.partner.name,
        }

    def _runner(self, transition, ids):
        def run(request, obj, data):
            outcomes = devices_apply(
                transition=transition,
                device_ids=ids,
                actor=request.user,
                source=Source.ADMIN,
                **apply_kwargs(transition, data),
            )
            refused = [
                o.message for o in outcomes if o.result in (Result.REFUSED, Result.NOT_FOUND)
            ]
            done = sum(o.result is Result.CHANGED for o in outcomes)
            if refused and not done:
                raise TransitionRefused(" ".join(dict.fromkeys(refused)))
            message = ngettext(
                # Translators: after an order's button, e.g. "Ship: done for 2 of 3 items."
                "%(action)s: done for %(done)s of %(total)s items.",
                "%(action)s: done for %(done)s of %(total)s items.",
                len(outcomes),
            ) % {"action": TRANSITION_LABELS[transition], "done": done, "total": len(outcomes)}
            if transition == T.CANCEL and is_company_admin(request):  # money is theirs to see
                message += " " + _money_message(obj)
            if refused:
                message += " " + _("Refused: %(reasons)s") % {
                    "reasons": " ".join(dict.fromkeys(refused))
                }
            return message

        return run

    @admin.action(description=gettext_lazy("Export the selected orders to CSV"))
    def export_csv(self, request, queryset):
        rows = (
            [
                o.number,
                o.employee.full_name,
                o.employee.email,
                o.company.name,
                o.partner.name,
                order_status(d.status for d in o.devices.all()).text,
                ", ".join(d.name for d in o.devices.all()),
                o.created_at.date(),
                o.expected_delivery,
                o.delivery_address.replace("\n", ", "),
            ]
            for o in queryset.select_related("employee", "company", "partner").order_by("pk")
        )
        header = [
            "order",
            "employee",
            "e-mail",
            "company",
            "partner",
            "status",
            "items",
            "ordered",
            "expected",
            "delivery address",
        ]
        return csv_response("orders", header, rows)


CANCEL_HELP = gettext_lazy(
    "Every item still with the partner is cancelled; items already shipped are kept. The budget "
    "is released at once and a card payment refunded to the same card. The employee gets an "
    "e-mail with your reason."
)


def _money_message(order) -> str:
    event = OrderEvent.objects.filter(order=order, kind=OrderEvent.Kind.CANCELLED).first()
    if not event:
        return ""
    parts = []
    if event.data.get("released") not in (None, "0", "0.00"):
        parts.append(_("%(amount)s released to the budget.") % {"amount": event.data["released"]})
    if event.data.get("refunded") not in (None, "0", "0.00"):
        parts.append(
            _("%(amount)s being refunded to the employee's card.")
            % {"amount": event.data["refunded"]}
        )
    return " ".join(parts)


class AlertOpenFilter(admin.SimpleListFilter):
    title = gettext_lazy("state")
    parameter_name = "open"

    def lookups(self, request, model_admin):
        # Translators: a filter of stuck-order alerts: the open ones, the closed ones.
        return [("yes", _("Open")), ("no", _("Closed"))]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(closed_at__isnull=True)
        if self.value() == "no":
            return queryset.filter(closed_at__isnull=False)
        return queryset


@admin.register(OrderAlert)
class OrderAlertAdmin(RecordAdmin):
    """Stuck orders, for the company admin and the partner: raised and closed by the hourly
    sweep (orders.services.alerts), never by hand."""

    list_display = ("order_link", "kind", "company", "partner", "opened_at", "closed_at")
    list_filter = (AlertOpenFilter, "kind")
    list_select_related = ("order", "company", "partner")
    show_full_result_count = False

    @admin.display(description=gettext_lazy("order"), ordering="order")
    def order_link(self, obj):
        return format_html(
            '<a href="{}">{}</a>',
            reverse("admin:orders_order_change", args=[obj.order_id]),
            order_number(obj.order_id),
        )
