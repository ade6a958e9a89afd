"""Orders, requests and the catalogue in the admin."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.db.models import Count, OuterRef, Prefetch, Subquery
from django.utils import timezone

from budgets.services import BudgetRefused
from devices.models import TRANSITION_LABELS, Device
from devices.services import Result, TransitionRefused, available_transitions
from orders import services
from orders.models import (
    Adapter,
    DispatchStatus,
    DistributorConnection,
    Order,
    OrderEvent,
    OrderLine,
    Product,
    ProductRequest,
    RequestStatus,
    Shipment,
)
from orders.selectors import order_status
from velory.tenant_admin import ObjectAction, ObjectActionsAdmin, TenantAdmin, TenantInline

from .common import (
    ADMIN_TRANSITIONS,
    ReasonForm,
    apply_kwargs,
    csv_response,
    form_for,
    is_company_admin,
    offered,
)


class OrderLineInline(TenantInline):
    model = OrderLine
    fields = ("name", "category", "quantity", "unit_price", "currency", "is_leased")
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


class ShipmentInline(TenantInline):
    model = Shipment
    fields = ("carrier", "tracking_number", "status_text", "shipped_at", "delivered_at")
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


class DeviceInline(TenantInline):
    model = Device
    fk_name = "order"
    fields = ("name", "status", "serial_number", "shipment")
    readonly_fields = fields
    can_delete = False
    show_change_link = True
    verbose_name_plural = "items"

    def has_add_permission(self, request, obj=None):
        return False


class OrderEventInline(TenantInline):
    model = OrderEvent
    fields = ("at", "message", "actor_name")
    readonly_fields = fields
    can_delete = False
    verbose_name_plural = "history"

    def has_add_permission(self, request, obj=None):
        return False


class NoteForm(forms.Form):
    note = forms.CharField(
        max_length=1000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Optional, shown to the employee.",
    )


def _company_admin(request, obj=None) -> bool:
    return is_company_admin(request)


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
        term = search_term.strip().upper().removeprefix("VO-").lstrip("0")
        return super().get_search_results(
            request, queryset, term if term.isdigit() else search_term
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
            label = "Cancel order" if name == "cancel" else TRANSITION_LABELS[name]
            if len(devices) > 1:
                label += f" ({len(ids)} of {len(devices)} items)"
            actions.append(
                ObjectAction(
                    name,
                    label,
                    self._runner(name, ids),
                    form=form_for(name),
                    danger=name == "cancel",
                    help_text=CANCEL_HELP if name == "cancel" else "",
                )
            )
        return actions

    def _place_again(self, request, obj, data):
        services.order_dispatch_retry(order_id=obj.pk, actor=request.user)
        return f"Velory tries to place {obj.number} with {obj.partner.name} again."

    def _runner(self, transition, ids):
        def run(request, obj, data):
            outcomes = services.devices_apply(
                transition=transition,
                device_ids=ids,
                actor=request.user,
                source="admin",
                **apply_kwargs(transition, data),
            )
            refused = [
                o.message for o in outcomes if o.result in (Result.REFUSED, Result.NOT_FOUND)
            ]
            done = sum(o.result is Result.CHANGED for o in outcomes)
            if refused and not done:
                raise TransitionRefused(" ".join(dict.fromkeys(refused)))
            message = f"{TRANSITION_LABELS[transition]}: done for {done} of {len(outcomes)} items."
            if transition == "cancel" and is_company_admin(request):  # money is theirs to see
                message += " " + _money_message(obj)
            return message + (" Refused: " + " ".join(dict.fromkeys(refused)) if refused else "")

        return run

    def get_actions(self, request):
        actions = super().get_actions(request)
        if not is_company_admin(request):
            actions.pop("export_csv", None)
        return actions

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


@admin.register(ProductRequest)
class ProductRequestAdmin(ObjectActionsAdmin):
    list_display = ("__str__", "employee", "amount", "card_amount", "status", "created_at")
    list_filter = ("status", "category", "company")
    list_select_related = ("employee",)
    search_fields = ("employee__full_name", "employee__email", "name")
    date_hierarchy = "created_at"
    readonly_fields = (
        "employee",
        "name",
        "category",
        "amount",
        "budget_amount",
        "card_amount",
        "currency",
        "is_leased",
        "delivery_address",
        "note",
        "status",
        "decided_by",
        "decided_at",
        "decision_reason",
        "order",
        "created_at",
    )
    fields = readonly_fields
    refusals = (TransitionRefused, BudgetRefused)
    actions = ["approve_selected"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False  # decided through the Approve and Reject buttons

    def get_object_actions(self, request, obj):
        if obj.status != RequestStatus.PENDING:
            return []
        return [
            ObjectAction(
                "approve",
                "Approve",
                self._approve,
                form=NoteForm,
                allowed=_company_admin,
                help_text="The order goes to the partner and the reserved budget is committed.",
            ),
            ObjectAction(
                "reject",
                "Reject",
                self._reject,
                form=ReasonForm,
                allowed=_company_admin,
                danger=True,
                help_text="The reserved budget is released, a card payment refunded, and the "
                "employee gets your reason by e-mail.",
            ),
        ]

    def _approve(self, request, obj, data):
        approved = services.request_approve(
            request_id=obj.pk, actor=request.user, note=data["note"]
        )
        return f"Approved. Order {approved.order.number} has gone to {approved.partner.name}."

    def _reject(self, request, obj, data):
        services.request_reject(request_id=obj.pk, actor=request.user, reason=data["reason"])
        return "Rejected; the employee has been told why."

    def get_actions(self, request):
        actions = super().get_actions(request)
        if not is_company_admin(request):
            actions.pop("approve_selected", None)
        return actions

    @admin.action(description="Approve the selected requests")
    def approve_selected(self, request, queryset):
        for pk in queryset.values_list("pk", flat=True):
            try:
                done = services.request_approve(request_id=pk, actor=request.user)
            except (TransitionRefused, BudgetRefused) as refusal:
                messages.warning(request, f"Request VR-{pk:06d}: refused — {refusal}")
            else:
                messages.success(request, f"{done.number} approved: order {done.order.number}.")


@admin.register(Product)
class ProductAdmin(TenantAdmin):
    list_display = (
        "name",
        "category",
        "price",
        "currency",
        "acquisition",
        "partner",
        "company",
        "active",
    )
    list_filter = ("category", "acquisition", "active", "company", "partner")
    list_select_related = ("partner", "company")
    search_fields = ("name",)
    fields = (
        "company",
        "partner",
        "name",
        "category",
        "description",
        "picture",
        "price",
        "currency",
        "acquisition",
        "monthly_price",
        "lease_months",
        "active",
    )


class ConnectionForm(forms.ModelForm):
    api_key = forms.CharField(
        label="API key",
        required=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Stored encrypted and never shown again. Leave empty to keep the current key.",
    )

    class Meta:
        model = DistributorConnection
        fields = (
            "partner",
            "adapter",
            "base_url",
            "api_key",
            "rate_per_second",
            "batch_size",
            "timeout_seconds",
            "enabled",
        )

    def clean(self):
        data = super().clean()
        if data.get("adapter") == Adapter.HTTP:
            if not data.get("base_url"):
                self.add_error("base_url", "The API needs its base URL.")
            if not data.get("api_key") and not (self.instance and self.instance.api_key_encrypted):
                self.add_error("api_key", "The API needs a key.")
        return data


@admin.register(DistributorConnection)
class DistributorConnectionAdmin(TenantAdmin):
    """How Velory talks to each partner, and how the polling goes (for superusers and the
    partner's own staff)."""

    form = ConnectionForm
    list_display = (
        "partner",
        "adapter",
        "enabled",
        "orders_waiting",
        "last_success_at",
        "last_error_at",
        "last_error",
        "backoff_until",
    )
    list_select_related = ("partner",)
    readonly_fields = (
        "key_status",
        "orders_waiting",
        "last_poll_at",
        "last_success_at",
        "last_error",
        "last_error_at",
        "consecutive_failures",
        "backoff_until",
    )

    def get_queryset(self, request):
        due = Order.objects.filter(partner=OuterRef("partner"), tracking_open=True).values(
            "partner"
        )
        return (
            super()
            .get_queryset(request)
            .annotate(waiting=Subquery(due.annotate(n=Count("pk")).values("n")[:1]))
        )

    def get_fieldsets(self, request, obj=None):
        api = (
            "base_url",
            "api_key",
            "key_status",
            "rate_per_second",
            "batch_size",
            "timeout_seconds",
        )
        if not self.has_change_permission(request, obj):
            api = tuple(f for f in api if f != "api_key")  # nothing to type, nothing to show
        return [
            (None, {"fields": ("partner", "adapter", "enabled")}),
            (
                "API",
                {
                    "fields": (
                        "base_url",
                        "api_key",
                        "key_status",
                        "rate_per_second",
                        "batch_size",
                        "timeout_seconds",
                    )
                },
            ),
            ("Polling", {"fields": self.readonly_fields[1:]}),
        ]

    @admin.display(description="orders being tracked")
    def orders_waiting(self, obj):
        return getattr(obj, "waiting", None) or 0

    @admin.display(description="API key")
    def key_status(self, obj):
        if not obj or not obj.api_key_encrypted:
            return "Not set"
        return (
            f"Set on {timezone.localtime(obj.api_key_set_at):%d %b %Y, %H:%M}"
            if obj.api_key_set_at
            else "Set"
        )

    def has_change_permission(self, request, obj=None):
        return request.user.is_superuser

    def has_add_permission(self, request):
        return request.user.is_superuser

    def save_model(self, request, obj, form, change):
        key = form.cleaned_data.get("api_key")
        if key:
            obj.set_api_key(key)
        obj.save()
