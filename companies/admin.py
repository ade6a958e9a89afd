from django import forms
from django.contrib import admin, messages
from django.urls import reverse
from django.utils import dateformat, timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from core.crypto import encrypted_at
from core.tenancy import Role
from core.tenant_admin import TenantAdmin

from . import services, sso
from .models import Company, LeasingCompany, Partner, User

POLICY_FIELDS = (
    "auto_receive_on_delivery",
    "auto_receive_after_days",
    "buyout_allowed",
    "buyout_payment",
    "card_payments_allowed",
    "attestation_months",
)
SUPPORT_FIELDS = ("support_name", "support_email", "support_phone")
# How leased and owned devices come back or are bought out (returns, leavers).
RETURN_FIELDS = ("return_grace_days", "useful_life_months", "depreciation_floor_percent")


# Single sign-on (OpenID Connect): the company admin of the company and superusers.
SSO_FIELDS = (
    "sso_issuer",
    "sso_client_id",
    "sso_client_secret",
    "sso_secret_status",
    "sso_domains",
    "sso_password_allowed",
)


class CompanyForm(forms.ModelForm):
    """The company page. The client secret is write-only: typed once, stored encrypted
    (``Company.set_sso_client_secret``) and never shown back; empty keeps the current one.
    The issuer and the domains are checked as the service checks them (``companies.sso``)."""

    actor = None  # the signed-in admin (set by CompanyAdmin.get_form)

    sso_client_secret = forms.CharField(
        label=gettext_lazy("client secret"),
        required=False,
        max_length=500,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text=gettext_lazy(
            "Stored encrypted and never shown again. Leave empty to keep the current secret."
        ),
    )

    class Meta:
        model = Company
        # The page's fields follow its fieldsets (CompanyAdmin.get_fieldsets).
        fields = ("sso_issuer", "sso_client_id", "sso_domains", "sso_password_allowed")

    def clean_sso_issuer(self):
        return sso.issuer_check(self.cleaned_data.get("sso_issuer", ""))

    def clean_sso_domains(self):
        value = self.cleaned_data.get("sso_domains", "")
        return sso.domains_check(value, company=self.instance, actor=self.actor)

    def clean(self):
        data = super().clean()
        if "sso_password_allowed" in self.fields and data.get("sso_password_allowed") is False:
            issuer = data.get("sso_issuer", self.instance.sso_issuer)
            client_id = data.get("sso_client_id", self.instance.sso_client_id)
            secret = data.get("sso_client_secret") or self.instance.sso_client_secret_encrypted
            if not (issuer and client_id and secret):
                self.add_error(
                    "sso_password_allowed",
                    _(
                        "Password sign-in can be switched off only once single sign-on is set "
                        "up: issuer, client ID and client secret."
                    ),
                )
        return data


@admin.register(Company)
class CompanyAdmin(TenantAdmin):
    form = CompanyForm
    list_display = ("name", "currency", "auto_receive_on_delivery", "buyout_allowed")
    list_filter = ("auto_receive_on_delivery", "buyout_allowed", "currency")
    search_fields = ("name",)
    prepopulated_fields = {"slug": ("name",)}

    def get_fieldsets(self, request, obj=None):
        name = ("name", "slug", "currency") if request.user.is_superuser else ("name", "currency")
        sso_section = []
        if self._may_configure_sso(request, obj):
            callback = request.build_absolute_uri(reverse("oidc_callback"))
            signed_out = request.build_absolute_uri(reverse("signed_out"))
            sso_section = [
                (
                    _("Single sign-on"),
                    {
                        "fields": SSO_FIELDS,
                        "description": _(
                            # Translators: "openid", "email" and "profile" are the OpenID Connect
                            # scopes' names: keep them as they are.
                            "Sign-in through your identity provider (OpenID "
                            "Connect). Register Velory there as a web application with the "
                            "redirect URI %(callback)s and the scopes openid, email and "
                            "profile (and, to sign out there too, the post-logout redirect URI "
                            "%(signed_out)s); enter the issuer, client ID and secret it gives "
                            "you, and the e-mail domains of your people."
                        )
                        % {"callback": callback, "signed_out": signed_out},
                    },
                )
            ]
        return [
            (None, {"fields": name}),
            (_("Policy"), {"fields": POLICY_FIELDS}),
            (_("Language and time zone"), {"fields": ("default_language", "time_zone")}),
            (_("Support contact"), {"fields": SUPPORT_FIELDS}),
            (_("Leasing"), {"fields": ("leasing_company",)}),
            (
                _("Returns and buyouts"),
                {
                    "fields": RETURN_FIELDS,
                    "description": _(
                        "A leaver's or an owned device's buyout price is its value "
                        "on the exit date: its price, less a straight line over its useful "
                        "life, never below the lowest value. Leased devices use the leasing "
                        "company's residual value."
                    ),
                },
            ),
            *sso_section,
        ]

    def _may_configure_sso(self, request, obj=None) -> bool:
        user = request.user
        return user.is_superuser or (
            user.role == Role.COMPANY_ADMIN and obj is not None and obj.pk == user.company_id
        )

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        return type(form.__name__, (form,), {"actor": request.user})

    @admin.display(description=gettext_lazy("client secret"))
    def sso_secret_status(self, obj):
        if not obj or not obj.sso_client_secret_encrypted:
            return _("Not set")
        at = encrypted_at(obj.sso_client_secret_encrypted)
        if not at:
            return _("Set")
        # Translators: when a secret was set, e.g. "Set on 03 Mar 2026, 14:05".
        return _("Set on %(when)s") % {
            "when": dateformat.format(timezone.localtime(at), "d M Y, H:i")
        }

    def get_readonly_fields(self, request, obj=None):
        if request.user.is_superuser:
            return ("sso_secret_status",)
        return ("name", "currency", "leasing_company", "sso_secret_status")

    def get_prepopulated_fields(self, request, obj=None):
        return self.prepopulated_fields if request.user.is_superuser else {}

    def save_model(self, request, obj, form, change):
        secret = form.cleaned_data.get("sso_client_secret") or None
        if not self._may_configure_sso(request, obj):
            secret = None  # the field is not on this person's page
        if not change:
            if secret:
                obj.set_sso_client_secret(secret)
            obj.save()
            return
        changed = [name for name in form.changed_data if name != "sso_client_secret"]
        services.company_update_policy(
            company=obj,
            actor=request.user,
            sso_client_secret=secret,
            **{name: form.cleaned_data[name] for name in changed},
        )


@admin.register(Partner)
class PartnerAdmin(TenantAdmin):
    list_display = ("name", "support_email", "support_phone", "offers_tracking")
    list_filter = ("offers_tracking",)
    search_fields = ("name",)
    filter_horizontal = ("companies",)
    prepopulated_fields = {"slug": ("name",)}

    def get_exclude(self, request, obj=None):
        # Which other companies a partner serves is the partner's business, not a customer's.
        return () if request.user.is_superuser else ("companies",)

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        services.partner_saved(obj)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        services.partner_saved(form.instance)  # the companies it serves may have changed


@admin.register(LeasingCompany)
class LeasingCompanyAdmin(TenantAdmin):
    list_display = ("name", "contact_email", "contact_phone")
    search_fields = ("name",)

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        services.leasing_company_saved(obj)


class UserAdminForm(forms.ModelForm):
    class Meta:
        model = User
        fields = (
            "email",
            "full_name",
            "role",
            "company",
            "partner",
            "job_title",
            "phone",
            "delivery_address",
            "is_active",
        )


@admin.register(User)
class UserAdmin(TenantAdmin):
    form = UserAdminForm
    list_display = ("full_name", "email", "role", "company", "partner", "is_active")
    list_filter = ("role", "is_active", "company", "partner")
    list_select_related = ("company", "partner")
    search_fields = ("full_name", "email")
    ordering = ("full_name",)
    actions = ["send_invitation"]

    def get_fields(self, request, obj=None):
        fields = list(UserAdminForm.Meta.fields)
        if not request.user.is_superuser:
            fields.remove("company")
            fields.remove("partner")
        return fields

    def formfield_for_choice_field(self, db_field, request, **kwargs):
        if db_field.name == "role" and not request.user.is_superuser:
            # A company admin manages their own company's people only.
            kwargs["choices"] = [
                (Role.EMPLOYEE.value, Role.EMPLOYEE.label),
                (Role.COMPANY_ADMIN.value, Role.COMPANY_ADMIN.label),
            ]
        return super().formfield_for_choice_field(db_field, request, **kwargs)

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        if not request.user.is_superuser:
            user = request.user

            class ScopedForm(form):
                def _post_clean(self):
                    # The new user belongs to the admin's own company, whatever was posted.
                    self.instance.company_id = user.company_id
                    self.instance.partner_id = None
                    super()._post_clean()

            return ScopedForm
        return form

    def has_add_permission(self, request):
        user = request.user
        return super().has_add_permission(request) and (
            user.is_superuser or user.role == Role.COMPANY_ADMIN
        )

    def has_change_permission(self, request, obj=None):
        user = request.user
        if not super().has_change_permission(request, obj):
            return False
        return user.is_superuser or user.role == Role.COMPANY_ADMIN

    def save_model(self, request, obj, form, change):
        data = dict(form.cleaned_data)
        if not request.user.is_superuser:
            data.update(company=request.user.company, partner=None)
        if change:
            services.user_update(user=obj, actor=request.user, **data)
            return
        user = services.user_create(**data)
        obj.pk, obj._state.adding = user.pk, False
        services.user_invite(user=user, actor=request.user)
        messages.info(
            request,
            _("An invitation to choose a password was sent to %(email)s.") % {"email": user.email},
        )

    @admin.action(description=gettext_lazy("Send an invitation to choose a password"))
    def send_invitation(self, request, queryset):
        count = 0
        for user in queryset:
            services.user_invite(user=user, actor=request.user)
            count += 1
        messages.success(
            request,
            ngettext(
                "Invitations queued for %(count)s people.",
                "Invitations queued for %(count)s people.",
                count,
            )
            % {"count": count},
        )
