"""Requests and the catalogue in the admin: company admins approve or reject requests and
keep their catalogue."""

from __future__ import annotations

from django.contrib import admin, messages

from budgets.services import BudgetRefused
from core.tenant_admin import (
    NoteForm,
    ObjectAction,
    ObjectActionsAdmin,
    ReasonForm,
    TenantAdmin,
    is_company_admin,
)
from devices.engine import TransitionRefused
from orders import services
from orders.models import (
    Product,
    ProductRequest,
    RequestStatus,
)


@admin.register(ProductRequest)
class ProductRequestAdmin(ObjectActionsAdmin):
    list_display = ("__str__", "employee", "amount", "card_hold", "status", "created_at")
    list_filter = ("status", "category", "company")
    list_select_related = ("employee", "card_payment")
    search_fields = ("employee__full_name", "employee__email", "name")
    date_hierarchy = "created_at"
    readonly_fields = (
        "employee",
        "name",
        "category",
        "amount",
        "budget_amount",
        "card_amount",
        "card_hold",
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
    company_admin_actions = ("approve_selected",)  # money and people's data: theirs alone

    @admin.display(description="Card part")
    def card_hold(self, obj):
        """The part over budget and where its hold stands (an expired hold waits for the
        employee to authorize again; approval is refused until then)."""
        payment = getattr(obj, "card_payment", None)
        if not obj.card_amount or payment is None:
            return "—"
        held = ""
        if payment.status == payment.Status.AUTHORIZED and payment.capture_before:
            held = f", until {payment.capture_before:%-d %b %Y}"
        return f"{obj.card_amount} {obj.currency}: {payment.get_status_display()}{held}"

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
                allowed=is_company_admin,
                help_text="The order goes to the partner and the reserved budget is committed.",
            ),
            ObjectAction(
                "reject",
                "Reject",
                self._reject,
                form=ReasonForm,
                allowed=is_company_admin,
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
