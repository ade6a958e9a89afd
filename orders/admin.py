"""Requests and the catalogue in the admin: company admins approve or reject requests and
keep their catalogue."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.views.main import IS_FACETS_VAR, IS_POPUP_VAR, ORDER_VAR, PAGE_VAR
from django.core.exceptions import ValidationError
from django.template.response import TemplateResponse
from django.utils import dateformat
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from budgets.services import BudgetRefused
from core.forms import BoundedForm
from core.money import money
from core.tenant_admin import (
    NoteForm,
    ObjectAction,
    ObjectActionsAdmin,
    TenantAdmin,
    is_company_admin,
)
from devices.engine import TransitionRefused
from orders import selectors, services
from orders.models import (
    Product,
    ProductRequest,
    RequestStatus,
)

# What a refused decision raises: shown to the admin as a message, never a 500.
REFUSALS = (TransitionRefused, BudgetRefused, ValidationError, ProductRequest.DoesNotExist)


def refusal_text(refusal: Exception) -> str:
    if isinstance(refusal, ValidationError):
        return " ".join(refusal.messages)
    if isinstance(refusal, ProductRequest.DoesNotExist):
        # Translators: why a request could not be decided ("Request VR-000012: refused — not
        # found.").
        return _("not found.")
    return str(refusal)


class RejectForm(BoundedForm):
    reason = forms.CharField(
        label=gettext_lazy("Reason"),
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=gettext_lazy(
            "Sent to the employee by e-mail with the rejection (at most 1000 characters)."
        ),
    )


class StatusFilter(admin.ChoicesFieldListFilter):
    """The status filter. The list opens on "Waiting for approval" when its query string
    names no filter and no order, so "All" always keeps an order in its link: it never
    falls back to that default."""

    def choices(self, changelist):
        choices = list(super().choices(changelist))
        if choices and ORDER_VAR not in changelist.params:
            choices[0]["query_string"] = changelist.get_query_string(
                {ORDER_VAR: oldest_first(changelist.list_display)},
                [self.lookup_kwarg, self.lookup_kwarg_isnull],
            )
        return choices


def oldest_first(columns) -> str:
    """The changelist's ``o`` value that sorts by the request's date, oldest first."""
    return str(list(columns).index("created_at"))


@admin.register(ProductRequest)
class ProductRequestAdmin(ObjectActionsAdmin):
    change_form_template = "admin/orders/productrequest/change_form.html"
    list_display = ("__str__", "employee", "amount", "card_hold", "status", "created_at")
    list_filter = (("status", StatusFilter), "category", "company")
    # The "all requests of this employee" link beside a request.
    extra_lookups = ("employee__id__exact",)
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
    actions = ["approve_selected", "reject_selected"]
    # money and people's data: theirs alone
    company_admin_actions = ("approve_selected", "reject_selected")

    # The list: what waits for a decision, oldest first, unless the query string says else.

    DEFAULT_IGNORES = frozenset({PAGE_VAR, IS_FACETS_VAR})

    def changelist_view(self, request, extra_context=None):
        """With no filter, search or order in the query string, the list is the requests
        waiting for approval, oldest first: as if ``?status__exact=pending&o=<date>`` had
        been asked for, so the sidebar, the column headers, the links and the actions
        (select all included) all work on that list, and "All" is one click away."""
        params = request.GET.copy()
        if not set(request.GET) - self.DEFAULT_IGNORES:
            params["status__exact"] = RequestStatus.PENDING
        if ORDER_VAR not in params:  # any list (the dashboard's links too): oldest first
            params[ORDER_VAR] = oldest_first(self._changelist_columns(request))
        request.GET = params
        return super().changelist_view(request, extra_context)

    def get_changelist_instance(self, request):
        """The list, with the address of "Show all" (beside a search's result count): every
        request, oldest first, not the default list again."""
        cl = super().get_changelist_instance(request)
        keep = {k: v for k, v in cl.params.items() if k in (IS_FACETS_VAR, IS_POPUP_VAR)}
        cl.show_all_query = "?" + urlencode({**keep, ORDER_VAR: oldest_first(cl.list_display)})
        return cl

    def _changelist_columns(self, request) -> list[str]:
        """The columns as the changelist numbers them (the checkbox first where there are
        actions), as ``get_changelist_instance`` builds them."""
        columns = list(self.get_list_display(request))
        return ["action_checkbox", *columns] if self.get_actions(request) else columns

    # The request's page: the request, and beside it what the admin decides on.

    def get_object(self, request, object_id, from_field=None):
        """The request with what its read-only fields show (no query per field)."""
        queryset = self.get_queryset(request).select_related(
            "employee", "decided_by", "order", "card_payment"
        )
        field = self.opts.pk if from_field is None else self.opts.get_field(from_field)
        try:
            return queryset.get(**{field.name: field.to_python(object_id)})
        except (self.model.DoesNotExist, ValidationError, ValueError):
            return None

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            context["approval"] = selectors.request_context_for(obj, request.user)
        return super().render_change_form(request, context, add, change, form_url, obj)

    @admin.display(description=gettext_lazy("Card part"))
    def card_hold(self, obj):
        """The part over budget and where its hold stands (an expired hold waits for the
        employee to authorize again; approval is refused until then)."""
        payment = getattr(obj, "card_payment", None)
        if not obj.card_amount or payment is None:
            return "—"
        amount, state = money(obj.card_amount, obj.currency), payment.get_status_display()
        if payment.status == payment.Status.AUTHORIZED and payment.capture_before:
            # Translators: a request's card part, e.g. "120.00 EUR: Authorized, until 3 Mar
            # 2026"; the state is a card payment's status.
            return _("%(amount)s: %(state)s, until %(date)s") % {
                "amount": amount,
                "state": state,
                "date": dateformat.format(payment.capture_before, "j M Y"),
            }
        return f"{amount}: {state}"

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
                _("Approve"),
                self._approve,
                form=NoteForm,
                allowed=is_company_admin,
                help_text=_("The order goes to the partner and the reserved budget is committed."),
            ),
            ObjectAction(
                "reject",
                _("Reject"),
                self._reject,
                form=RejectForm,
                allowed=is_company_admin,
                danger=True,
                help_text=_(
                    "The reserved budget is released, a card payment refunded, and the "
                    "employee gets your reason by e-mail."
                ),
            ),
        ]

    def _approve(self, request, obj, data):
        approved = services.request_approve(
            request_id=obj.pk, actor=request.user, note=data["note"]
        )
        return _("Approved. Order %(order)s has gone to %(partner)s.") % {
            "order": approved.order.number,
            "partner": approved.partner.name,
        }

    def _reject(self, request, obj, data):
        services.request_reject(request_id=obj.pk, actor=request.user, reason=data["reason"])
        return _("Rejected; the employee has been told why.")

    @admin.action(description=gettext_lazy("Approve the selected requests"))
    def approve_selected(self, request, queryset):
        for pk in queryset.values_list("pk", flat=True):
            try:
                done = services.request_approve(request_id=pk, actor=request.user)
            except REFUSALS as refusal:
                messages.warning(
                    request,
                    _("Request %(request)s: refused — %(reason)s")
                    % {"request": f"VR-{pk:06d}", "reason": refusal_text(refusal)},
                )
            else:
                messages.success(
                    request,
                    _("%(request)s approved: order %(order)s.")
                    % {"request": done.number, "order": done.order.number},
                )

    @admin.action(description=gettext_lazy("Reject the selected requests (one reason for all)"))
    def reject_selected(self, request, queryset):
        """Asks for one reason on a page of its own, then rejects each request through the
        service: each is reported, rejected or refused with the service's message."""
        rows = list(queryset.select_related("employee").order_by("created_at", "pk"))
        found = {row.pk for row in rows}
        missing = sorted(
            {int(pk) for pk in request.POST.getlist(ACTION_CHECKBOX_NAME) if pk.isdigit()} - found
        )
        if not rows:
            messages.warning(
                request, _("None of the selected requests was found: nothing rejected.")
            )
            return None
        applying = "apply" in request.POST
        form = RejectForm(request.POST if applying else None)
        if not applying or not form.is_valid():
            context = {
                **self.admin_site.each_context(request),
                "opts": self.opts,
                "title": ngettext(
                    "Reject %(count)s request", "Reject %(count)s requests", len(rows)
                )
                % {"count": len(rows)},
                "requests": rows,
                "undecidable": sum(1 for row in rows if row.status != RequestStatus.PENDING),
                "missing": [f"VR-{pk:06d}" for pk in missing],
                "form": form,
                "action": "reject_selected",
            }
            return TemplateResponse(
                request, "admin/orders/productrequest/reject_selected.html", context
            )
        reason = form.cleaned_data["reason"]
        for row in rows:
            try:
                services.request_reject(request_id=row.pk, actor=request.user, reason=reason)
            except REFUSALS as refusal:
                messages.warning(
                    request,
                    _("%(item)s: refused — %(reason)s")
                    % {"item": row.number, "reason": refusal_text(refusal)},
                )
            else:
                if row.status == RequestStatus.REJECTED:
                    messages.info(
                        request, _("%(request)s was already rejected.") % {"request": row.number}
                    )
                else:
                    messages.success(
                        request,
                        _("%(request)s rejected; %(employee)s has been told why.")
                        % {"request": row.number, "employee": row.employee},
                    )
        for pk in missing:
            messages.warning(
                request,
                _("%(item)s: refused — %(reason)s")
                % {"item": f"VR-{pk:06d}", "reason": _("not found.")},
            )
        return None


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
