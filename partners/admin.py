"""Each partner's connection in the admin: how Velory talks to it, and how polling goes."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.db.models import Count, OuterRef, Subquery
from django.urls import reverse
from django.utils import dateformat, timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from core.forms import BoundedForm
from core.tenancy import Role
from core.tenant_admin import (
    IssuedSecretAdminMixin,
    ObjectAction,
    ObjectActionsAdmin,
    TenantAdmin,
)
from orders.models import (
    Order,
)

from .models import Adapter, DistributorConnection, PartnerApiKey
from .services import keys


class ConnectionForm(forms.ModelForm):
    api_key = forms.CharField(
        label=gettext_lazy("API key"),
        required=False,
        max_length=500,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text=gettext_lazy(
            "Stored encrypted and never shown again. Leave empty to keep the current key."
        ),
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
            "pushes_updates",
        )

    def clean(self):
        data = super().clean()
        if data.get("adapter") == Adapter.HTTP:
            if not data.get("base_url"):
                self.add_error("base_url", _("The API needs its base URL."))
            if not data.get("api_key") and not (self.instance and self.instance.api_key_encrypted):
                self.add_error("api_key", _("The API needs a key."))
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
            (None, {"fields": ("partner", "adapter", "enabled", "pushes_updates")}),
            (
                _("API"),
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
            (_("Polling"), {"fields": self.readonly_fields[1:]}),
        ]

    @admin.display(description=gettext_lazy("orders being tracked"))
    def orders_waiting(self, obj):
        return getattr(obj, "waiting", None) or 0

    @admin.display(description=gettext_lazy("API key"))
    def key_status(self, obj):
        if not obj or not obj.api_key_encrypted:
            return _("Not set")
        if not obj.api_key_set_at:
            return _("Set")
        # Translators: when a secret was set, e.g. "Set on 03 Mar 2026, 14:05".
        return _("Set on %(when)s") % {
            "when": dateformat.format(timezone.localtime(obj.api_key_set_at), "d M Y, H:i")
        }

    def has_change_permission(self, request, obj=None):
        return request.user.is_superuser

    def has_add_permission(self, request):
        return request.user.is_superuser

    def save_model(self, request, obj, form, change):
        key = form.cleaned_data.get("api_key")
        if key:
            obj.set_api_key(key)
        obj.save()


# --- The push API's keys -------------------------------------------------------------------------


class ApiKeyForm(BoundedForm):
    name = forms.CharField(
        max_length=100,
        label=gettext_lazy("Name"),
        help_text=gettext_lazy("Where it is used, e.g. our ERP."),
    )


def _is_partner_staff(request) -> bool:
    user = request.user
    return user.role == Role.PARTNER_STAFF and user.partner_id is not None


@admin.register(PartnerApiKey)
class PartnerApiKeyAdmin(IssuedSecretAdminMixin, ObjectActionsAdmin):
    """A partner's staff make keys for its systems (shown once, kept as a hash) and revoke
    them; Velory's support sees every partner's keys and may revoke a leaked one."""

    list_display = ("name", "prefix_shown", "partner", "created_at", "last_used_at", "state")
    list_select_related = ("partner",)
    readonly_fields = (
        "name",
        "prefix_shown",
        "partner",
        "created_by",
        "created_at",
        "last_used_at",
        "revoked_at",
    )
    fields = readonly_fields

    @admin.display(description=gettext_lazy("key"))
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
        return _is_partner_staff(request) and super().has_add_permission(request)

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
                allowed=lambda request, obj: (
                    obj.is_live and (request.user.is_superuser or _is_partner_staff(request))
                ),
                danger=True,
                help_text=_("The system using this key is refused from its next request."),
            )
        ]

    def _revoke(self, request, obj):
        keys.api_key_revoke(key_id=obj.pk, actor=request.user)
        return _("%(key)s is revoked.") % {"key": obj}

    secret_form = ApiKeyForm
    secret_template = "admin/partners/api_key_new.html"
    secret_id = "api-key"
    secret_title = gettext_lazy("New partner API key")
    secret_made_title = gettext_lazy("Your new partner API key")

    def issue_secret(self, request, name):
        return keys.api_key_create(name=name, actor=request.user)

    def secret_context(self, request):
        return {
            "base_url": request.build_absolute_uri("/api/partner/v1/"),
            "docs_url": request.build_absolute_uri(reverse("partner-api-docs")),
        }
