import json

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.template.response import TemplateResponse
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext, pgettext_lazy

from core.forms import BoundedForm
from core.tenancy import Role
from core.tenant_admin import ObjectAction, ObjectActionsAdmin, RecordAdmin, ViewOnlyMixin

from . import services, webhooks
from .models import Notification, WebhookDelivery, WebhookEndpoint, WebhookEvent

# Each mail kind's title (the templates under templates/notifications/email/ are named by
# kind); a kind not listed is titled from its name.
KIND_TITLES = {
    # Translators: the kinds of e-mail in the console's mail log (a column and a filter).
    # "… admin" is the company admin's mail, "… partner" the partner's.
    "attestation_asked": pgettext_lazy("mail kind", "Attestation asked"),
    "attestation_problem": pgettext_lazy("mail kind", "Attestation problem"),
    "attestation_reminder": pgettext_lazy("mail kind", "Attestation reminder"),
    "device_backordered": pgettext_lazy("mail kind", "Device backordered"),
    "device_delivered": pgettext_lazy("mail kind", "Device delivered"),
    "device_on_hold": pgettext_lazy("mail kind", "Device on hold"),
    "device_received_automatically": pgettext_lazy("mail kind", "Device received automatically"),
    "invite": pgettext_lazy("mail kind", "Invite"),
    "lease_buyout_offer": pgettext_lazy("mail kind", "Lease buyout offer"),
    "lease_buyout_paid": pgettext_lazy("mail kind", "Lease buyout paid"),
    "lease_end_admin": pgettext_lazy("mail kind", "Lease end admin"),
    "lease_end_notice": pgettext_lazy("mail kind", "Lease end notice"),
    "lease_escalated": pgettext_lazy("mail kind", "Lease escalated"),
    "lease_return_due": pgettext_lazy("mail kind", "Lease return due"),
    "lease_return_instructions": pgettext_lazy("mail kind", "Lease return instructions"),
    "lease_return_overdue": pgettext_lazy("mail kind", "Lease return overdue"),
    "lease_return_overdue_admin": pgettext_lazy("mail kind", "Lease return overdue admin"),
    "lease_return_reminder": pgettext_lazy("mail kind", "Lease return reminder"),
    "lease_returned": pgettext_lazy("mail kind", "Lease returned"),
    "offboarding_chaser": pgettext_lazy("mail kind", "Offboarding chaser"),
    "offboarding_closed": pgettext_lazy("mail kind", "Offboarding closed"),
    "offboarding_escalated": pgettext_lazy("mail kind", "Offboarding escalated"),
    "offboarding_opened": pgettext_lazy("mail kind", "Offboarding opened"),
    "offboarding_return_instructions": pgettext_lazy(
        "mail kind", "Offboarding return instructions"
    ),
    "order_cancelled": pgettext_lazy("mail kind", "Order cancelled"),
    "order_dispatch_failed": pgettext_lazy("mail kind", "Order dispatch failed"),
    "order_new_partner": pgettext_lazy("mail kind", "Order new partner"),
    "order_shipped": pgettext_lazy("mail kind", "Order shipped"),
    "order_stuck": pgettext_lazy("mail kind", "Order stuck"),
    "order_updated_partner": pgettext_lazy("mail kind", "Order updated partner"),
    "password_reset": pgettext_lazy("mail kind", "Password reset"),
    "payment_authorize_again": pgettext_lazy("mail kind", "Payment authorize again"),
    "payment_disputed": pgettext_lazy("mail kind", "Payment disputed"),
    "payment_receipt": pgettext_lazy("mail kind", "Payment receipt"),
    "payments_mismatched": pgettext_lazy("mail kind", "Payments mismatched"),
    "receipt_reminder": pgettext_lazy("mail kind", "Receipt reminder"),
    "refund_receipt": pgettext_lazy("mail kind", "Refund receipt"),
    "request_approved": pgettext_lazy("mail kind", "Request approved"),
    "request_rejected": pgettext_lazy("mail kind", "Request rejected"),
    "request_submitted": pgettext_lazy("mail kind", "Request submitted"),
    "welcome": pgettext_lazy("mail kind", "Welcome"),
}


def kind_title(kind: str) -> str:
    """A mail kind as a title: "password_reset" is "Password reset"."""
    return KIND_TITLES.get(kind) or kind.replace("_", " ").capitalize()


class KindFilter(admin.SimpleListFilter):
    # Translators: the kind of an e-mail (welcome, password reset, order shipped, ...).
    title = gettext_lazy("kind")
    parameter_name = "kind__exact"

    def lookups(self, request, model_admin):
        kinds = model_admin.get_queryset(request).order_by("kind").values_list("kind", flat=True)
        return [(k, kind_title(k)) for k in kinds.distinct()]

    def queryset(self, request, queryset):
        return queryset.filter(kind=self.value()) if self.value() else queryset


@admin.register(Notification)
class NotificationAdmin(RecordAdmin):
    """Read-only: what was (or will be) mailed to the people the user may see."""

    list_display = (
        "created_at",
        "to_email",
        "subject",
        "kind_title",
        "status",
        "attempts",
        "sent_at",
    )
    list_filter = ("status", KindFilter)
    search_fields = ("to_email", "subject")
    date_hierarchy = "created_at"
    readonly_fields = (
        "recipient",
        "to_email",
        "from_email",
        "reply_to",
        "kind_title",
        "subject",
        "body_text",
        "status",
        "attempts",
        "last_error",
        "created_at",
        "next_attempt_at",
        "sent_at",
    )
    fields = readonly_fields
    actions = ["send_again"]

    @admin.display(description=gettext_lazy("kind"), ordering="kind")
    def kind_title(self, obj):
        return kind_title(obj.kind)

    @admin.action(description=gettext_lazy("Send the selected failed mail again"))
    def send_again(self, request, queryset):
        count = services.notifications_resend(
            actor=request.user, notification_ids=queryset.values_list("pk", flat=True)
        )
        if count:
            self.message_user(
                request,
                ngettext(
                    "%(count)s e-mail(s) queued to be sent again.",
                    "%(count)s e-mail(s) queued to be sent again.",
                    count,
                )
                % {"count": count},
            )
        else:
            self.message_user(
                request, _("Only mail that failed for good can be sent again."), messages.WARNING
            )


# --- Webhooks ------------------------------------------------------------------------------------


def owns_endpoints(user) -> bool:
    """Who registers endpoints: a company's admins (for the company) and a partner's staff
    (for the partner)."""
    role = getattr(user, "role", None)
    return (role == Role.COMPANY_ADMIN and bool(user.company_id)) or (
        role == Role.PARTNER_STAFF and bool(user.partner_id)
    )


def events_field() -> forms.MultipleChoiceField:
    return forms.MultipleChoiceField(
        choices=WebhookEvent.choices,
        widget=forms.CheckboxSelectMultiple,
        label=gettext_lazy("Events"),
        help_text=gettext_lazy(
            "Each event is sent to this URL, signed (see the webhooks documentation)."
        ),
    )


class NewEndpointForm(BoundedForm):
    url = forms.URLField(
        label=gettext_lazy("URL"),
        max_length=500,
        assume_scheme="https",
        help_text=gettext_lazy("HTTPS (plain HTTP only for 127.0.0.1 or localhost, for testing)."),
    )
    description = forms.CharField(
        max_length=200,
        required=False,
        label=gettext_lazy("Description"),
        help_text=gettext_lazy("What receives it."),
    )
    events = events_field()

    def clean_url(self):
        url = self.cleaned_data["url"]
        WebhookEndpoint._meta.get_field("url").run_validators(url)
        return url


class EndpointForm(forms.ModelForm):
    events = events_field()

    class Meta:
        model = WebhookEndpoint
        fields = ["url", "description", "events", "is_active"]


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(ObjectActionsAdmin):
    """A company's or a partner's endpoints: made with their secret shown once, changed or
    deactivated (never deleted: the deliveries stay), the secret rotated (shown once)."""

    form = EndpointForm
    list_display = ("url", "owner", "events_shown", "is_active", "created_at")
    list_filter = ("is_active",)
    list_select_related = ("company", "partner")
    fields = (
        "url",
        "description",
        "events",
        "is_active",
        "owner",
        "secret_shown",
        "created_by",
        "created_at",
        "secret_rotated_at",
    )
    readonly_fields = ("owner", "secret_shown", "created_by", "created_at", "secret_rotated_at")

    @admin.display(description=gettext_lazy("owner"))
    def owner(self, obj):
        return obj.company or obj.partner

    @admin.display(description=gettext_lazy("events"))
    def events_shown(self, obj):
        return ", ".join(str(label) for label in obj.event_labels)

    @admin.display(description=gettext_lazy("secret"))
    def secret_shown(self, obj):
        return _("whsec_… (shown once when made; rotate it for a new one)")

    def has_add_permission(self, request):
        return super().has_add_permission(request) and owns_endpoints(request.user)

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        webhooks.webhook_endpoint_update(
            endpoint_id=obj.pk,
            actor=request.user,
            url=data["url"],
            events=data["events"],
            description=data.get("description", ""),
            is_active=data.get("is_active", False),
        )

    def add_view(self, request, form_url="", extra_context=None):
        """Register an endpoint and show its secret once: only the encrypted secret is kept."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = NewEndpointForm(request.POST or None)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": _("New webhook endpoint"),
            "form": form,
        }
        if request.method == "POST" and form.is_valid():
            try:
                endpoint, raw = webhooks.webhook_endpoint_create(
                    actor=request.user,
                    url=form.cleaned_data["url"],
                    events=form.cleaned_data["events"],
                    description=form.cleaned_data["description"],
                )
            except ValidationError as error:
                form.add_error(None, error)
            else:
                context.update(endpoint=endpoint, raw=raw, title=_("Your webhook secret"))
        return TemplateResponse(request, "admin/notifications/webhook_secret.html", context)

    def get_object_actions(self, request, obj):
        return [
            ObjectAction(
                "rotate",
                _("Rotate secret"),
                lambda request, obj, data: "",  # answered by object_action_view below
                allowed=lambda request, obj: self.has_change_permission(request, obj),
                danger=True,
                help_text=_(
                    "A new secret signs every delivery from now on, and is shown once. "
                    "The old one stops at once: deliveries your receiver refuses meanwhile are "
                    "retried, and can be replayed."
                ),
            )
        ]

    def object_action_view(self, request, object_id, action):
        """Rotating answers with the new secret, shown once (not a message in the session)."""
        if action != "rotate" or request.method != "POST":
            return super().object_action_view(request, object_id, action)
        obj = self.get_object(request, object_id)
        if obj is None:
            raise Http404("Not found")
        if not self.has_change_permission(request, obj):
            raise PermissionDenied
        endpoint, raw = webhooks.webhook_secret_rotate(endpoint_id=obj.pk, actor=request.user)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": _("Your new webhook secret"),
            "endpoint": endpoint,
            "raw": raw,
            "rotated": True,
        }
        return TemplateResponse(request, "admin/notifications/webhook_secret.html", context)


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ViewOnlyMixin, ObjectActionsAdmin):
    """What was (or will be) sent to the user's endpoints, with each answer; a delivery can
    be replayed (the same event id and body, signed anew)."""

    list_display = (
        "created_at",
        "event_type",
        "endpoint",
        "status",
        "attempts",
        "response_code",
        "duration_ms",
        "delivered_at",
    )
    list_filter = ("status", "event_type", "endpoint")
    list_select_related = ("endpoint",)
    fields = (
        "endpoint",
        "event_id",
        "event_type",
        "created_at",
        "status",
        "attempts",
        "next_attempt_at",
        "response_code",
        "duration_ms",
        "error",
        "delivered_at",
        "payload_shown",
    )
    readonly_fields = fields
    actions = ["replay"]

    # Translators: a webhook delivery's JSON body.
    @admin.display(description=gettext_lazy("body"))
    def payload_shown(self, obj):
        return format_html(
            "<pre>{}</pre>", json.dumps(json.loads(webhooks.delivery_body(obj)), indent=2)
        )

    def has_replay_permission(self, request):
        return request.user.has_perm("notifications.change_webhookendpoint")

    @admin.action(
        description=gettext_lazy("Replay the selected deliveries"), permissions=["replay"]
    )
    def replay(self, request, queryset):
        count = webhooks.webhook_deliveries_replay(
            actor=request.user, delivery_ids=queryset.values_list("pk", flat=True)
        )
        if count:
            self.message_user(
                request,
                ngettext(
                    "%(count)s deliveries queued to be sent again.",
                    "%(count)s deliveries queued to be sent again.",
                    count,
                )
                % {"count": count},
            )
        else:
            self.message_user(
                request,
                _("Nothing to replay: a delivery being sent, or of an inactive endpoint, is not."),
                messages.WARNING,
            )

    def get_object_actions(self, request, obj):
        return [
            ObjectAction(
                "replay",
                _("Replay"),
                lambda request, obj, data: self._replay_one(request, obj),
                allowed=lambda request, obj: self.has_replay_permission(request),
                help_text=_("Send this event again: the same event id and body, signed anew."),
            )
        ]

    def _replay_one(self, request, obj):
        if not webhooks.webhook_deliveries_replay(actor=request.user, delivery_ids=[obj.pk]):
            raise ValidationError(
                _("It cannot be replayed now (being sent, or endpoint inactive).")
            )
        return _("Queued to be sent again.")
