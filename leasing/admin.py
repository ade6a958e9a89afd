"""Leases, leasing arrangements and buyouts in the admin, scoped to the user's tenant.
Company admins follow lease ends (with a 12-month forecast), overdue returns and buyouts,
record the leasing company's settlement, and export salary deductions for payroll."""

from __future__ import annotations

from datetime import timedelta

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.template.response import TemplateResponse
from django.urls import path
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from companies import services as company_services
from core.exports import payroll_response
from core.forms import BoundedForm
from core.money import money
from core.tenant_admin import (
    ObjectAction,
    ObjectActionsAdmin,
    RecordAdmin,
    TenantAdmin,
    is_company_admin,
)
from devices.engine import TransitionRefused

from . import selectors, services
from .models import Buyout, Lease, LeasingArrangement


class OverdueFilter(admin.SimpleListFilter):
    # Translators: a filter of leases: where the device's return stands.
    title = gettext_lazy("return")
    parameter_name = "overdue"

    def lookups(self, request, model_admin):
        return [("yes", _("Overdue")), ("open", _("Waiting for the device"))]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.returns_overdue()
        if self.value() == "open":
            return queryset.open().filter(choice=Lease.Choice.RETURN)
        return queryset


class EndingFilter(admin.SimpleListFilter):
    # Translators: a filter of leases: when the lease ends.
    title = gettext_lazy("ends")
    parameter_name = "ending"

    def lookups(self, request, model_admin):
        return [
            ("30", _("Within 30 days")),
            ("90", _("Within 90 days")),
            ("past", _("Past its end")),
        ]

    def queryset(self, request, queryset):
        today = timezone.localdate()
        if self.value() in ("30", "90"):
            days = int(self.value())
            return queryset.open().filter(
                ends_on__gte=today, ends_on__lte=today + timedelta(days=days)
            )
        if self.value() == "past":
            return queryset.open().filter(ends_on__lt=today)
        return queryset


class SettlementForm(BoundedForm):
    amount = forms.DecimalField(
        max_digits=12, decimal_places=2, min_value=0, label=gettext_lazy("Amount")
    )
    reference = forms.CharField(
        max_length=100,
        required=False,
        label=gettext_lazy("Reference"),
        help_text=gettext_lazy("Their invoice or case."),
    )
    settled_on = forms.DateField(
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        label=gettext_lazy("Settled on"),
        help_text=gettext_lazy("Default: today."),
    )


@admin.register(Lease)
class LeaseAdmin(ObjectActionsAdmin):
    list_display = (
        "device",
        "employee",
        "leasing_company",
        "ends_on",
        "monthly",
        "choice",
        "return_due_on",
        "return_state",
        "status",
    )
    list_filter = (OverdueFilter, EndingFilter, "status", "choice", "leasing_company")
    list_select_related = ("device", "device__owner", "leasing_company")

    @admin.display(description=gettext_lazy("monthly price"), ordering="monthly_price")
    def monthly(self, obj):
        return money(obj.monthly_price, obj.currency)

    search_fields = ("device__name", "device__serial_number", "device__owner__email")
    # No date drill-down (a DISTINCT over every lease in scope on each page): the forecast
    # links to a month with ends_on__year / ends_on__month.
    extra_lookups = ("ends_on",)
    refusals = (TransitionRefused,)
    readonly_fields = (
        "device",
        "leasing_company",
        "partner",
        "starts_on",
        "ends_on",
        "monthly_price",
        "buyout_price",
        "currency",
        "status",
        "choice",
        "chosen_at",
        "return_due_on",
        "last_notice_days",
        "escalated_at",
        "settlement_amount",
        "settlement_reference",
        "settled_on",
        "outcome",
        "closed_at",
    )
    change_list_template = "admin/leasing/lease/change_list.html"

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description=gettext_lazy("employee"), ordering="device__owner__full_name")
    def employee(self, obj):
        return obj.device.owner

    # Translators: a column of leases: where the device's return stands.
    @admin.display(description=gettext_lazy("return"))
    def return_state(self, obj):
        if obj.return_overdue:
            return _("Overdue")
        if obj.is_open and obj.choice == Lease.Choice.RETURN:
            # Translators: a lease's return: the device is awaited.
            return _("Waiting")
        return "—"

    def get_object_actions(self, request, obj):
        return [
            ObjectAction(
                "settle",
                _("Record settlement"),
                self._settle,
                form=SettlementForm,
                allowed=lambda request, obj: is_company_admin(request) and obj.is_open,
                help_text=_(
                    "What the leasing company settled for a device leaving the fleet "
                    "early (lost, stolen, ...). A leased device can be removed once it is "
                    "recorded."
                ),
            )
        ]

    def _settle(self, request, obj, data):
        services.lease_record_settlement(
            lease_id=obj.pk,
            actor=request.user,
            amount=data["amount"],
            reference=data["reference"],
            settled_on=data["settled_on"],
        )
        return _("The settlement of %(device)s is recorded: it can now be removed.") % {
            "device": obj.device
        }

    def get_urls(self):
        return [
            path(
                "forecast/",
                self.admin_site.admin_view(self.forecast_view),
                name="leasing_lease_forecast",
            ),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        overdue = selectors.returns_overdue_count(request.user)
        return super().changelist_view(
            request, {**(extra_context or {}), "overdue_returns": overdue}
        )

    def forecast_view(self, request):
        if not self.has_view_permission(request):
            return TemplateResponse(request, "403.html", {}, status=403)
        months = selectors.lease_forecast(request.user)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": _("Leases ending per month"),
            "months": months,
            "busiest": max((row["count"] for row in months), default=0),
        }
        return TemplateResponse(request, "admin/leasing/lease/forecast.html", context)


@admin.register(LeasingArrangement)
class LeasingArrangementAdmin(TenantAdmin):
    list_display = (
        "company",
        "leasing_company",
        "return_instructions_from",
        "partner",
        "return_days",
        "residual_percent",
    )
    list_select_related = ("company", "leasing_company", "partner")

    def get_readonly_fields(self, request, obj=None):
        if request.user.is_superuser or obj is None:
            return ()
        return ("company", "leasing_company")

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if db_field.name == "company" and not request.user.is_superuser:
            field.initial = request.user.company_id
        return field

    def save_model(self, request, obj, form, change):
        if not request.user.is_superuser:
            obj.company_id = request.user.company_id
        try:
            obj.full_clean()
        except ValidationError as error:
            messages.error(request, "; ".join(error.messages))
            raise
        super().save_model(request, obj, form, change)
        company_services.company_people_touch(obj.company_id)  # their device pages show it

    def delete_model(self, request, obj):
        super().delete_model(request, obj)
        company_services.company_people_touch(obj.company_id)


@admin.register(Buyout)
class BuyoutAdmin(RecordAdmin):
    list_display = ("device", "employee", "amount", "method", "status", "paid_at")
    list_filter = ("status", "method", "payroll_exported_at")
    list_select_related = ("lease__device", "employee")
    search_fields = ("employee__email", "lease__device__name")
    readonly_fields = [f.name for f in Buyout._meta.fields]
    actions = ["export_payroll"]
    company_admin_actions = ("export_payroll",)  # money and people's data: theirs alone

    @admin.display(description=gettext_lazy("device"))
    def device(self, obj):
        return obj.lease.device

    @admin.display(description=gettext_lazy("price"), ordering="price")
    def amount(self, obj):
        return money(obj.price, obj.currency)

    @admin.action(
        description=gettext_lazy("Export salary deductions not exported yet, for payroll (CSV)")
    )
    def export_payroll(self, request, queryset):
        try:
            rows = services.buyouts_for_payroll(
                actor=request.user, buyout_ids=queryset.values_list("pk", flat=True)
            )
        except TransitionRefused as refusal:
            self.message_user(request, str(refusal), messages.ERROR)
            return None
        if not rows:
            self.message_user(
                request,
                _("None of the selected buyouts is a paid salary deduction waiting for export."),
                messages.WARNING,
            )
            return None
        return payroll_response(
            "payroll-buyouts",
            ((b.employee, b.lease.device, b.price, b.currency, b.paid_at) for b in rows),
        )
