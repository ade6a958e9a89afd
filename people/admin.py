"""The company admin's side of the people lifecycle: the people themselves (created through
the provisioning services, so a joiner gets their policy budgets and welcome), groups, SCIM
tokens (shown once), CSV imports (preview, then apply) and offboarding cases."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, Q
from django.http import Http404
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext_lazy

from companies import services as companies
from companies.admin import UserAdmin, UserAdminForm
from companies.models import EmployeeGroup, User
from core.exports import payroll_response
from core.forms import BoundedForm
from core.money import money
from core.tenancy import acts_as_company_admin
from core.tenant_admin import (
    IssuedSecretAdminMixin,
    ObjectAction,
    ObjectActionsAdmin,
    ReadOnlyInline,
    TenantAdmin,
)

from .models import (
    Attestation,
    AttestationAnswer,
    CsvImport,
    OffboardingCase,
    OffboardingItem,
    ScimToken,
)
from .services import csv_import, offboarding, tokens
from .services import provisioning as people

# --- People --------------------------------------------------------------------------------


class PersonAdminForm(UserAdminForm):
    class Meta(UserAdminForm.Meta):
        fields = (
            *UserAdminForm.Meta.fields[:-1],
            "external_id",
            "cost_centre",
            "leaver_date",
            "is_active",
        )


admin.site.unregister(User)


@admin.register(User)
class PersonAdmin(UserAdmin):
    """People, as before, plus what the directory knows of them. A person created here is a
    joiner like any other (policy budgets, welcome e-mail); an exit date opens their
    offboarding case."""

    form = PersonAdminForm
    list_display = ("full_name", "email", "role", "company", "cost_centre", "leaver_date")
    list_filter = ("role", "is_active", "company", "partner", "provisioned_by")

    def get_fields(self, request, obj=None):
        fields = list(PersonAdminForm.Meta.fields)
        if not request.user.is_superuser:
            fields.remove("company")
            fields.remove("partner")
        return fields

    def save_model(self, request, obj, form, change):
        data = dict(form.cleaned_data)
        exit_date = data.pop("leaver_date", None)
        if not request.user.is_superuser:
            data.update(company=request.user.company, partner=None)
        company = data.get("company")
        if change:
            before = User.objects.get(pk=obj.pk).leaver_date
            companies.user_update(user=obj, actor=request.user, **data)
            if exit_date != before and obj.company_id:
                people.person_set_exit_date(user_id=obj.pk, exit_date=exit_date, actor=request.user)
            return
        if company is None or data.get("role") == "partner_staff":
            return super().save_model(request, obj, form, change)
        user = people.person_create(
            company=company,
            email=data["email"],
            full_name=data["full_name"],
            role=data["role"],
            actor=request.user,
            external_id=data.get("external_id", ""),
            job_title=data.get("job_title", ""),
            phone=data.get("phone", ""),
            cost_centre=data.get("cost_centre", ""),
            delivery_address=data.get("delivery_address", ""),
            exit_date=exit_date,
        )
        obj.pk, obj._state.adding = user.pk, False
        messages.info(
            request,
            _("A welcome e-mail with how to sign in was sent to %(email)s.")
            % {"email": user.email},
        )


@admin.register(EmployeeGroup)
class EmployeeGroupAdmin(TenantAdmin):
    list_display = ("name", "external_id", "member_count")
    search_fields = ("name",)
    filter_horizontal = ("members",)

    def get_fields(self, request, obj=None):
        fields = ["name", "members"]
        return ["company", *fields] if request.user.is_superuser else fields

    @admin.display(description=gettext_lazy("members"))
    def member_count(self, obj):
        return obj.members.count()

    def save_model(self, request, obj, form, change):
        if not request.user.is_superuser:
            obj.company_id = request.user.company_id
        super().save_model(request, obj, form, change)

    def save_related(self, request, form, formsets, change):
        before = set(form.instance.members.values_list("pk", flat=True)) if change else set()
        wanted = {u.pk for u in form.cleaned_data.get("members", [])}
        people.group_members_set(
            company=form.instance.company,
            group_id=form.instance.pk,
            actor=request.user,
            add=sorted(wanted - before),
            remove=sorted(before - wanted),
        )


# --- SCIM tokens ---------------------------------------------------------------------------


class TokenForm(BoundedForm):
    name = forms.CharField(
        max_length=100,
        label=gettext_lazy("Name"),
        help_text=gettext_lazy("Where it is used, e.g. Microsoft Entra."),
    )


@admin.register(ScimToken)
class ScimTokenAdmin(IssuedSecretAdminMixin, ObjectActionsAdmin):
    list_display = ("name", "prefix_shown", "created_at", "last_used_at", "state")
    readonly_fields = ("name", "prefix_shown", "created_by", "created_at", "last_used_at")
    fields = readonly_fields

    @admin.display(description=gettext_lazy("token"))
    def prefix_shown(self, obj):
        return f"{obj.prefix}…"

    @admin.display(description=gettext_lazy("state"))
    def state(self, obj):
        if obj.is_live:
            # Translators: a partner API key or SCIM token that still works.
            return _("Live")
        # Translators: when a key or token was revoked, e.g. "Revoked 2026-03-03 14:05".
        return _("Revoked %(when)s") % {"when": f"{obj.revoked_at:%Y-%m-%d %H:%M}"}

    def has_add_permission(self, request):
        return acts_as_company_admin(request.user) and request.user.company_id is not None

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_object_actions(self, request, obj):
        return [
            ObjectAction(
                "revoke",
                _("Revoke"),
                lambda request, obj, data: self._revoke(request, obj),
                allowed=lambda request, obj: obj.is_live and acts_as_company_admin(request.user),
                danger=True,
                help_text=_("The directory using this token is refused from its next request."),
            )
        ]

    def _revoke(self, request, obj):
        tokens.scim_token_revoke(token_id=obj.pk, actor=request.user)
        return _("%(key)s is revoked.") % {"key": obj}

    secret_form = TokenForm
    secret_template = "admin/people/scim_token_new.html"
    secret_what = "token"
    secret_id = "scim-token"
    secret_title = gettext_lazy("New SCIM token")
    secret_made_title = gettext_lazy("Your new SCIM token")

    def issue_secret(self, request, name):
        return tokens.scim_token_create(company=request.user.company, name=name, actor=request.user)

    def secret_context(self, request):
        return {"base_url": request.build_absolute_uri("/scim/v2/")}


# --- CSV import ----------------------------------------------------------------------------


class UploadForm(BoundedForm):
    file = forms.FileField(
        label=gettext_lazy("CSV file"),
        help_text=gettext_lazy(
            # Translators: the column names (email, full_name, …) and "yes/no" are what the file
            # must contain: keep them as they are.
            "A header row, then one person per row. Columns: email (required), "
            "full_name, external_id, cost_centre, job_title, phone, groups (separated by ;), "
            "exit_date (YYYY-MM-DD), active (yes/no)."
        ),
    )
    deactivate_missing = forms.BooleanField(
        label=gettext_lazy("Deactivate people missing from the file"),
        required=False,
        help_text=gettext_lazy(
            "For a full export of your staff: everyone not in it becomes a leaver."
        ),
    )


ACTION_LABELS = {
    # Translators: what a CSV import does to a person (a badge per row and the import's counts).
    "create": pgettext_lazy("CSV import", "Create"),
    "update": pgettext_lazy("CSV import", "Change"),
    "deactivate": pgettext_lazy("CSV import", "Deactivate"),
    "reactivate": pgettext_lazy("CSV import", "Reactivate"),
    "unchanged": pgettext_lazy("CSV import", "No change"),
    "error": pgettext_lazy("CSV import", "Error"),
}


@admin.register(CsvImport)
class CsvImportAdmin(TenantAdmin):
    list_display = ("file_name", "created_at", "status", "summary", "uploaded_by")
    change_form_template = "admin/people/csv_import_preview.html"

    def has_add_permission(self, request):
        return acts_as_company_admin(request.user) and request.user.company_id is not None

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description=gettext_lazy("what it does"))
    def summary(self, obj):
        counts = obj.plan.get("counts", {})
        return ", ".join(f"{ACTION_LABELS[k]}: {v}" for k, v in sorted(counts.items())) or "—"

    def get_urls(self):
        return [
            path(
                "<int:object_id>/apply/",
                self.admin_site.admin_view(self.apply_view),
                name="people_csvimport_apply",
            ),
            *super().get_urls(),
        ]

    def add_view(self, request, form_url="", extra_context=None):
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = UploadForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                done = csv_import.csv_preview(
                    company=request.user.company,
                    file_name=upload.name,
                    raw=upload.read(csv_import.MAX_BYTES + 1),
                    actor=request.user,
                    deactivate_missing=form.cleaned_data["deactivate_missing"],
                )
            except ValidationError as refusal:
                form.add_error("file", refusal)
            else:
                return redirect(reverse("admin:people_csvimport_change", args=[done.pk]))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": _("Import people from CSV"),
            "form": form,
        }
        return TemplateResponse(request, "admin/people/csv_import_upload.html", context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        obj = self.get_object(request, object_id)
        if obj is None:
            raise Http404("Not found")
        if request.method != "GET":
            raise PermissionDenied  # a preview is read; it is applied by its own button
        rows = [{**row, "label": ACTION_LABELS[row["action"]]} for row in obj.plan.get("rows", [])]
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": obj,
            # Translators: the title of a CSV import's preview; %(file)s is the file's name.
            "title": _("Import %(file)s") % {"file": obj.file_name},
            "rows": rows,
            "counts": {str(ACTION_LABELS[k]): v for k, v in obj.plan.get("counts", {}).items()},
            "errors": sum(1 for r in rows if r["action"] == "error"),
            "applicable": sum(1 for r in rows if r["action"] not in ("error", "unchanged")),
            "apply_url": reverse("admin:people_csvimport_apply", args=[obj.pk]),
        }
        return TemplateResponse(request, self.change_form_template, context)

    def apply_view(self, request, object_id):
        obj = self.get_object(request, str(object_id))
        if obj is None:
            raise Http404("Not found")
        if request.method != "POST":
            return redirect(reverse("admin:people_csvimport_change", args=[obj.pk]))
        try:
            done = csv_import.csv_apply(import_id=obj.pk, actor=request.user)
        except ValidationError as refusal:
            messages.error(request, " ".join(refusal.messages))
        else:
            messages.success(
                request,
                # Translators: a CSV import applied; %(file)s is the file's name, %(summary)s
                # what it did ("Create: 3, Change: 1").
                _("%(file)s is applied (%(summary)s).")
                % {"file": done.file_name, "summary": CsvImportAdmin.summary(self, done)},
            )
        return redirect(reverse("admin:people_csvimport_change", args=[obj.pk]))


# --- Offboarding ---------------------------------------------------------------------------


class WriteOffForm(BoundedForm):
    item = forms.ModelChoiceField(
        queryset=OffboardingItem.objects.none(), label=gettext_lazy("Device")
    )
    kind = forms.ChoiceField(
        choices=[
            ("lost", gettext_lazy("Lost")),
            ("stolen", gettext_lazy("Stolen")),
            ("scrapped", gettext_lazy("Broken beyond repair")),
        ],
        # Translators: what happened to a device written off (lost, stolen, broken).
        label=pgettext_lazy("write-off", "Kind"),
    )
    reason = forms.CharField(
        max_length=300,
        label=gettext_lazy("Reason"),
        help_text=gettext_lazy("Shown in the device's history."),
    )
    settlement = forms.DecimalField(
        label=gettext_lazy("Leasing company's settlement"),
        required=False,
        max_digits=12,
        decimal_places=2,
        help_text=gettext_lazy(
            "For a leased device: what the leasing company settled (0 if it waived it)."
        ),
    )


class ItemInline(ReadOnlyInline):
    model = OffboardingItem
    fields = ("device", "choice", "price_shown", "outcome", "settled_at", "note")
    readonly_fields = fields
    verbose_name_plural = gettext_lazy("devices")

    @admin.display(description=gettext_lazy("buyout price"))
    def price_shown(self, obj):
        return money(obj.price, obj.currency) if obj.price is not None else "—"


@admin.register(OffboardingCase)
class OffboardingCaseAdmin(ObjectActionsAdmin):
    """A leaver's case: what they hold, what they chose, what is settled; write off a
    device that will not come back."""

    list_display = ("employee", "exit_date", "status", "settled_shown", "escalated_at")
    list_filter = ("status",)
    search_fields = ("employee__full_name", "employee__email")
    list_select_related = ("employee",)
    inlines = [ItemInline]
    fields = ("employee", "exit_date", "status", "opened_by", "opened_at", "closed_at")
    readonly_fields = fields
    refusals = (offboarding.OffboardingRefused,)
    actions = ["export_payroll"]
    company_admin_actions = ("export_payroll",)  # money and people's data: theirs alone

    @admin.action(
        description=gettext_lazy("Export salary deductions not exported yet, for payroll (CSV)")
    )
    def export_payroll(self, request, queryset):
        try:
            items = offboarding.salary_deductions_for_payroll(
                actor=request.user, case_ids=queryset.values_list("pk", flat=True)
            )
        except offboarding.OffboardingRefused as refusal:
            self.message_user(request, str(refusal), messages.ERROR)
            return None
        if not items:
            self.message_user(
                request,
                _("None of the selected cases has a salary deduction waiting for export."),
                messages.WARNING,
            )
            return None
        return payroll_response(
            "payroll-leavers",
            ((i.case.employee, i.device, i.price, i.currency, i.settled_at) for i in items),
        )

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(settled=Count("items", filter=~Q(items__outcome="")), total=Count("items"))
        )

    @admin.display(description=gettext_lazy("settled"))
    def settled_shown(self, obj):
        # Translators: a leaver's devices settled, e.g. "2 of 3".
        return _("%(settled)s of %(total)s") % {"settled": obj.settled, "total": obj.total}

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_object_actions(self, request, obj):
        case = obj

        class Form(WriteOffForm):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, **kwargs)
                self.fields["item"].queryset = case.items.filter(outcome="").select_related(
                    "device"
                )

        return [
            ObjectAction(
                "write_off",
                _("Write off a device"),
                self._write_off,
                form=Form,
                allowed=lambda request, obj: obj.is_open and acts_as_company_admin(request.user),
                danger=True,
                help_text=_(
                    "For a device that will not come back. A leased device needs the "
                    "leasing company's settlement."
                ),
            )
        ]

    def _write_off(self, request, obj, data):
        item = offboarding.offboarding_write_off(
            item_id=data["item"].pk,
            actor=request.user,
            reason=data["reason"],
            kind=data["kind"],
            settlement=data["settlement"],
        )
        return _("%(device)s is written off.") % {"device": item.device.name}


class AnswerInline(ReadOnlyInline):
    model = AttestationAnswer
    fields = ("device", "answer", "note", "at")
    readonly_fields = fields
    verbose_name_plural = gettext_lazy("answers")


class AnsweredFilter(admin.SimpleListFilter):
    # Translators: a filter of device attestations: where the employee's answer stands.
    title = gettext_lazy("answer")
    parameter_name = "answered"

    def lookups(self, request, model_admin):
        return [
            ("waiting", _("Waiting")),
            ("overdue", _("Overdue")),
            ("problems", _("Reported problems")),
        ]

    def queryset(self, request, queryset):
        from django.utils import timezone

        if self.value() == "waiting":
            return queryset.filter(answered_at__isnull=True)
        if self.value() == "overdue":
            return queryset.filter(answered_at__isnull=True, due_on__lt=timezone.localdate())
        if self.value() == "problems":
            return queryset.filter(problems__gt=0)
        return queryset


@admin.register(Attestation)
class AttestationAdmin(ObjectActionsAdmin):
    """The report of “Do you still have these devices?”: who answered, who is overdue,
    what was reported."""

    list_display = ("employee", "asked_on", "due_on", "answered_at", "problems")
    list_filter = (AnsweredFilter,)
    search_fields = ("employee__full_name", "employee__email")
    list_select_related = ("employee",)
    inlines = [AnswerInline]
    fields = ("employee", "asked_on", "due_on", "answered_at", "problems")
    readonly_fields = fields

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
