"""Budgets and payments in the admin: company admins see and adjust their people's budgets
(an adjustment is a ledger entry with a reason), and follow card payments and refunds; a
failed refund shows here and is retried."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from companies.models import Currency
from core.dates import add_months_checked
from core.forms import BoundedForm
from core.money import money
from core.tenant_admin import (
    ObjectAction,
    ObjectActionsAdmin,
    ReadOnlyInline,
    RecordAdmin,
    TenantAdmin,
    is_company_admin,
)

from . import services
from .models import (
    Budget,
    BudgetEntry,
    BudgetPolicy,
    CardPayment,
    PaymentMismatch,
    ProcessorEvent,
    Refund,
)


class BudgetEntryInline(ReadOnlyInline):
    """The ledger: what each entry did to the money available, signed and with the
    currency ("−249.00 EUR"), and the amount it moved between reserved, committed and
    spent."""

    model = BudgetEntry
    fields = ("created_at", "what", "available_change", "moved", "request", "order", "who")
    readonly_fields = fields
    ordering = ("-created_at", "-id")
    verbose_name_plural = gettext_lazy("ledger")
    view_only = True

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("budget")

    @admin.display(description=gettext_lazy("what"))
    def what(self, obj):
        return f"{obj.get_kind_display()}{f' — {obj.reason}' if obj.reason else ''}"

    @admin.display(description=gettext_lazy("available"))
    def available_change(self, obj):
        delta = obj.allowance_delta - obj.reserved_delta - obj.committed_delta - obj.spent_delta
        return money(delta, obj.budget.currency, signed=True)

    @admin.display(description=gettext_lazy("amount"))
    def moved(self, obj):
        return money(obj.amount, obj.budget.currency)

    # Translators: a column of the budget ledger: who made the entry.
    @admin.display(description=gettext_lazy("by"))
    def who(self, obj):
        return obj.actor_name


class AdjustForm(BoundedForm):
    amount = forms.DecimalField(
        max_digits=12,
        decimal_places=2,
        label=gettext_lazy("Amount"),
        help_text=gettext_lazy("Positive to raise, negative to lower (this period)."),
    )
    reason = forms.CharField(
        max_length=300, widget=forms.Textarea(attrs={"rows": 2}), label=gettext_lazy("Reason")
    )


class BudgetForm(forms.ModelForm):
    currency = forms.ChoiceField(
        label=gettext_lazy("Currency"),
        choices=[("", gettext_lazy("The company's currency")), *Currency.choices],
        required=False,
        help_text=gettext_lazy(
            "A request is paid only from a budget in its product's currency: an office that "
            "buys in SEK budgets in SEK."
        ),
    )

    class Meta:
        model = Budget
        fields = ("employee", "category", "allowance", "currency", "period_months", "period_start")

    def clean(self):
        data = super().clean()
        start, months = data.get("period_start"), data.get("period_months")
        if start and months:
            try:  # the service's own check, as a form error
                add_months_checked(start, months)
            except ValidationError as error:
                self.add_error("period_start", error)
        return data


@admin.register(Budget)
class BudgetAdmin(ObjectActionsAdmin):
    list_display = (
        "employee",
        "category_label",
        "allowance_money",
        "adjustments_money",
        "reserved_money",
        "committed_money",
        "spent_money",
        "available_display",
        "period_end",
    )
    list_filter = ("category", "company")
    list_select_related = ("employee",)
    search_fields = ("employee__full_name", "employee__email")
    autocomplete_fields = ("employee",)
    inlines = [BudgetEntryInline]
    refusals = (services.BudgetRefused,)

    def get_inlines(self, request, obj=None):
        return self.inlines if obj is not None else []

    @admin.display(description=gettext_lazy("allowance"), ordering="allowance")
    def allowance_money(self, obj):
        return money(obj.allowance, obj.currency)

    @admin.display(description=gettext_lazy("adjustments"), ordering="adjustments")
    def adjustments_money(self, obj):
        return money(obj.adjustments, obj.currency, signed=True)

    @admin.display(description=gettext_lazy("reserved"), ordering="reserved")
    def reserved_money(self, obj):
        return money(obj.reserved, obj.currency)

    @admin.display(description=gettext_lazy("committed"), ordering="committed")
    def committed_money(self, obj):
        return money(obj.committed, obj.currency)

    @admin.display(description=gettext_lazy("spent"), ordering="spent")
    def spent_money(self, obj):
        return money(obj.spent, obj.currency)

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = BudgetForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request, obj=None):
        if obj is None:
            return BudgetForm.Meta.fields
        return (
            "employee",
            "category",
            "allowance",
            "currency",
            "period_months",
            "period_start",
            "period_end",
            "adjustments",
            "reserved",
            "committed",
            "spent",
        )

    def get_readonly_fields(self, request, obj=None):
        return () if obj is None else self.get_fields(request, obj)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if db_field.name == "employee" and field is not None:
            field.queryset = field.queryset.filter(company__isnull=False)
        return field

    def save_model(self, request, obj, form, change):
        if change:
            return  # totals move only through ledger entries (the Adjust button)
        budget = services.budget_create(
            employee=form.cleaned_data["employee"],
            category=form.cleaned_data["category"],
            allowance=form.cleaned_data["allowance"],
            period_months=form.cleaned_data["period_months"],
            period_start=form.cleaned_data["period_start"],
            currency=form.cleaned_data.get("currency") or "",
            actor=request.user,
        )
        obj.pk, obj._state.adding = budget.pk, False

    @admin.display(description=gettext_lazy("category"))
    def category_label(self, obj):
        return obj.category_label

    @admin.display(description=gettext_lazy("available"))
    def available_display(self, obj):
        return money(obj.available, obj.currency)

    def get_object_actions(self, request, obj):
        return [
            ObjectAction(
                "adjust",
                _("Adjust budget"),
                self._adjust,
                form=AdjustForm,
                allowed=is_company_admin,
                help_text=_(
                    "Raise or lower this period's allowance. The change is a ledger entry "
                    "with your reason; the employee sees it in their budget history."
                ),
            )
        ]

    def _adjust(self, request, obj, data):
        services.budget_adjust(
            budget_id=obj.pk, amount=data["amount"], reason=data["reason"], actor=request.user
        )
        return _("The budget is adjusted by %(amount)s.") % {
            "amount": money(data["amount"], obj.currency, signed=True)
        }


class RefundInline(ReadOnlyInline):
    model = Refund
    fields = ("created_at", "amount", "status", "attempts", "last_error", "completed_at")


@admin.register(CardPayment)
class CardPaymentAdmin(RecordAdmin):
    list_display = (
        "created_at",
        "employee",
        "purpose",
        "amount",
        "currency",
        "status",
        "refunded",
        "capture_before",
    )
    list_filter = ("status", "company")
    list_select_related = ("employee",)
    search_fields = ("employee__full_name", "purpose", "charge_id")
    date_hierarchy = "created_at"
    inlines = [RefundInline]
    readonly_fields = (
        "employee",
        "request",
        "purpose",
        "amount",
        "currency",
        "gateway",
        "card_brand",
        "card_last4",
        "capture_method",
        "charge_id",
        "checkout_session_id",
        "status",
        "decision",
        "error",
        "refunded",
        "created_at",
        "authorized_at",
        "capture_before",
        "completed_at",
        "disputed_at",
    )
    fields = readonly_fields


@admin.register(PaymentMismatch)
class PaymentMismatchAdmin(RecordAdmin):
    """What the daily reconciliation (and the processor's disputes and refused refunds)
    found: a company admin sees their company's, the superuser all."""

    list_display = ("found_at", "kind", "reference", "detail", "payment", "resolved_at")
    list_filter = ("kind", ("resolved_at", admin.EmptyFieldListFilter))
    list_select_related = ("payment",)
    search_fields = ("reference", "detail")
    readonly_fields = ("found_at", "kind", "reference", "detail", "payment", "resolved_at")
    fields = readonly_fields
    actions = ["mark_resolved"]
    company_admin_actions = ("mark_resolved",)

    @admin.action(description=gettext_lazy("Mark the selected differences as resolved"))
    def mark_resolved(self, request, queryset):
        done = services.payment_mismatches_resolve(
            actor=request.user, mismatch_ids=list(queryset.values_list("pk", flat=True))
        )
        messages.success(
            request,
            ngettext("%(count)s marked as resolved.", "%(count)s marked as resolved.", done)
            % {"count": done},
        )


@admin.register(ProcessorEvent)
class ProcessorEventAdmin(RecordAdmin):
    """The processor's webhook events as received (superusers only: an event may name
    any company's payment)."""

    list_display = ("received_at", "type", "event_id", "outcome", "processed_at", "note")
    list_filter = ("outcome", "type")
    search_fields = ("event_id",)
    readonly_fields = (
        "event_id",
        "type",
        "created",
        "received_at",
        "payment",
        "processed_at",
        "outcome",
        "note",
        "attempts",
    )
    fields = readonly_fields


@admin.register(Refund)
class RefundAdmin(RecordAdmin):
    list_display = (
        "created_at",
        "payment",
        "amount",
        "status",
        "attempts",
        "last_error",
        "completed_at",
    )
    list_filter = ("status",)
    list_select_related = ("payment",)
    readonly_fields = (
        "payment",
        "amount",
        "reason",
        "status",
        "refund_id",
        "attempts",
        "last_error",
        "next_attempt_at",
        "created_at",
        "completed_at",
    )
    fields = readonly_fields
    actions = ["retry_now"]
    company_admin_actions = ("retry_now",)  # money and people's data: theirs alone

    @admin.action(description=gettext_lazy("Retry the selected refunds now"))
    def retry_now(self, request, queryset):
        results = [services.refund_execute(pk) for pk in queryset.values_list("pk", flat=True)]
        messages.info(
            request,
            _(
                # Translators: after retrying refunds: how many were refunded, failed again, and
                # were already done or in progress.
                "%(refunded)s refunded, %(failed)s failed again, "
                "%(skipped)s already done or in progress."
            )
            % {
                "refunded": results.count("refunded"),
                "failed": results.count("error"),
                "skipped": results.count("skipped"),
            },
        )


@admin.register(BudgetPolicy)
class BudgetPolicyAdmin(TenantAdmin):
    """What joiners get: applied when a person is created by any path (the admin, SCIM,
    CSV) and when they join a group or cost centre; a budget someone has is never changed."""

    list_display = ("__str__", "allowance_shown", "period_months")
    list_filter = ("category",)

    def get_fields(self, request, obj=None):
        fields = ["category", "allowance", "currency", "period_months", "group", "cost_centre"]
        return ["company", *fields] if request.user.is_superuser else fields

    @admin.display(description=gettext_lazy("allowance"))
    def allowance_shown(self, obj):
        return money(obj.allowance, obj.currency or obj.company.currency)

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("company", "group")

    def save_model(self, request, obj, form, change):
        if not request.user.is_superuser:
            obj.company_id = request.user.company_id
        if obj.group_id and obj.group.company_id != obj.company_id:
            raise ValidationError(_("The group belongs to another company."))
        super().save_model(request, obj, form, change)
