from django import forms
from django.contrib import admin

from budgets.services import BudgetRefused
from devices.services import TransitionRefused
from velory.tenancy import Role
from velory.tenant_admin import ObjectAction, ObjectActionsAdmin, TenantAdmin, TenantInline

from . import services
from .models import Order, OrderEvent, OrderLine, Product, ProductRequest, RequestStatus, Shipment


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


class OrderEventInline(TenantInline):
    model = OrderEvent
    fields = ("at", "message", "actor_name")
    readonly_fields = fields
    can_delete = False
    verbose_name_plural = "history"

    def has_add_permission(self, request, obj=None):
        return False


class ReasonForm(forms.Form):
    reason = forms.CharField(max_length=1000, widget=forms.Textarea(attrs={"rows": 3}))


class NoteForm(forms.Form):
    note = forms.CharField(
        max_length=1000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Optional, shown to the employee.",
    )


def _company_admin(request, obj=None) -> bool:
    return request.user.is_superuser or request.user.role == Role.COMPANY_ADMIN


def _cancel_message(result) -> str:
    parts = [f"Cancelled: {', '.join(d.name for d in result.cancelled)}."]
    if result.released:
        parts.append(f"{result.released} released to the budget.")
    if result.refunded:
        parts.append(f"{result.refunded} being refunded to the employee's card.")
    if result.kept:
        parts.append(result.kept_message)
    return " ".join(parts) if result.cancelled else "Nothing was left to cancel."


@admin.register(Order)
class OrderAdmin(ObjectActionsAdmin):
    list_display = ("__str__", "employee", "company", "partner", "created_at")
    list_filter = ("company", "partner")
    list_select_related = ("employee", "company", "partner")
    search_fields = ("employee__full_name", "employee__email")
    date_hierarchy = "created_at"
    inlines = [OrderLineInline, ShipmentInline, OrderEventInline]
    readonly_fields = (
        "company",
        "employee",
        "partner",
        "delivery_address",
        "note",
        "expected_delivery",
        "created_at",
    )
    fields = readonly_fields
    refusals = (TransitionRefused,)

    def has_add_permission(self, request):
        return False

    def get_object_actions(self, request, obj):
        return [
            ObjectAction(
                "cancel",
                "Cancel order",
                self._cancel,
                form=ReasonForm,
                danger=True,
                help_text="Every item still with the partner is cancelled; items already shipped "
                "are kept. The budget is released at once and a card payment refunded to the "
                "same card. The employee gets an e-mail with your reason.",
            )
        ]

    def _cancel(self, request, obj, data):
        return _cancel_message(
            services.order_cancel(order_id=obj.pk, actor=request.user, reason=data["reason"])
        )


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

    @admin.action(description="Approve the selected requests")
    def approve_selected(self, request, queryset):
        from django.contrib import messages

        for pk in queryset.values_list("pk", flat=True):
            try:
                done = services.request_approve(request_id=pk, actor=request.user)
            except (TransitionRefused, BudgetRefused) as refusal:
                messages.error(request, f"Request VR-{pk:06d}: {refusal}")
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
