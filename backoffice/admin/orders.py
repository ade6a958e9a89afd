"""The order console: orders with a button for each transition of their items, bulk
actions, placing again, and the CSV export."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import Prefetch

from core.exports import csv_response
from core.tenant_admin import (
    ObjectAction,
    ObjectActionsAdmin,
    ReadOnlyInline,
    is_company_admin,
)
from devices.engine import Result, TransitionRefused, available_transitions
from devices.lifecycle import devices_apply
from devices.models import TRANSITION_LABELS, Device, Source, Transition
from orders.models import (
    DispatchStatus,
    Order,
    OrderEvent,
    OrderLine,
    Shipment,
    order_pk,
)
from orders.selectors import order_status
from partners.services import order_place_retry

from ..forms import ADMIN_TRANSITIONS, apply_kwargs, form_for, offered

T = Transition


class OrderLineInline(ReadOnlyInline):
    model = OrderLine
    fields = ("name", "category", "quantity", "unit_price", "currency", "is_leased")


class ShipmentInline(ReadOnlyInline):
    model = Shipment
    fields = ("carrier", "tracking_number", "status_text", "shipped_at", "delivered_at")


class DeviceInline(ReadOnlyInline):
    model = Device
    fk_name = "order"
    fields = ("name", "status", "serial_number", "shipment")
    show_change_link = True
    verbose_name_plural = "items"


class OrderEventInline(ReadOnlyInline):
    model = OrderEvent
    fields = ("at", "message", "actor_name")
    verbose_name_plural = "history"


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
    list_filter = ("dispatch_status", "company", "partner")
    list_select_related = ("employee", "company", "partner")
    search_fields = ("employee__full_name", "employee__email", "=id")
    date_hierarchy = "created_at"
    inlines = [DeviceInline, OrderLineInline, ShipmentInline, OrderEventInline]
    readonly_fields = (
        "company",
        "employee",
        "partner",
        "delivery_address",
        "note",
        "expected_delivery",
        "created_at",
        "dispatch_status",
        "partner_ref",
        "placed_at",
        "dispatch_attempts",
        "dispatch_error",
        "partner_status",
        "last_polled_at",
        "next_poll_at",
    )
    fields = readonly_fields
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

    @admin.display(description="status")
    def status_display(self, obj):
        return order_status(d.status for d in obj.devices.all()).text

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
                    "Place with partner again",
                    self._place_again,
                    help_text=f"Velory could not place this order: {obj.dispatch_error}",
                )
            )
        for name in ADMIN_TRANSITIONS:
            ids = by_transition.get(name)
            if not ids:
                continue
            label = "Cancel order" if name == T.CANCEL else TRANSITION_LABELS[name]
            if len(devices) > 1:
                label += f" ({len(ids)} of {len(devices)} items)"
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
        return f"Velory tries to place {obj.number} with {obj.partner.name} again."

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
            message = f"{TRANSITION_LABELS[transition]}: done for {done} of {len(outcomes)} items."
            if transition == T.CANCEL and is_company_admin(request):  # money is theirs to see
                message += " " + _money_message(obj)
            return message + (" Refused: " + " ".join(dict.fromkeys(refused)) if refused else "")

        return run

    @admin.action(description="Export the selected orders to CSV")
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


CANCEL_HELP = (
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
        parts.append(f"{event.data['released']} released to the budget.")
    if event.data.get("refunded") not in (None, "0", "0.00"):
        parts.append(f"{event.data['refunded']} being refunded to the employee's card.")
    return " ".join(parts)
