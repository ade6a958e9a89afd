"""The outbox: every e-mail Velory sends is first a row here, written in the same transaction
as the change that caused it, then sent by a Celery task after commit. A unique dedup key
per message means the same news is never sent twice, whoever retries."""

import ipaddress
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext_lazy

from core.tenancy import TenantQuerySet, TenantScope, by_company, by_partner, by_user


class NotificationQuerySet(TenantQuerySet):
    scope = TenantScope(
        company_admin=by_company("recipient__company"),
        employee=by_user("recipient"),
        partner_staff=by_partner("recipient__partner"),
    )

    def due(self, now=None):
        """Pending rows whose next attempt time has come and that no sender holds."""
        now = now or timezone.now()
        return self.filter(status=Notification.Status.PENDING, next_attempt_at__lte=now).filter(
            models.Q(claimed_until__isnull=True) | models.Q(claimed_until__lt=now)
        )


class Notification(models.Model):
    class Status(models.TextChoices):
        # Translators: the state of one e-mail in the outbox (an e-mail is pending, sent, failed).
        PENDING = "pending", pgettext_lazy("e-mail status", "Pending")
        SENT = "sent", pgettext_lazy("e-mail status", "Sent")
        FAILED = "failed", pgettext_lazy("e-mail status", "Failed")

    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="notifications",
    )
    to_email = models.EmailField()
    from_email = models.CharField(max_length=200, blank=True)
    reply_to = models.CharField(max_length=200, blank=True)
    kind = models.CharField(max_length=60, db_index=True)
    subject = models.CharField(max_length=200)
    body_text = models.TextField()
    body_html = models.TextField(blank=True)
    dedup_key = models.CharField(max_length=200, unique=True)
    context = models.JSONField(
        default=dict,
        blank=True,
        help_text=gettext_lazy("What the message is rendered from, when not yet."),
    )
    rendered = models.BooleanField(default=True)
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.PENDING, db_index=True
    )
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    claimed_until = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    objects = NotificationQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="outbox_due_idx")]

    def __str__(self) -> str:
        return f"{self.subject} → {self.to_email}"


# --- Outbound webhooks ---------------------------------------------------------------------------
# The events a company or a partner may subscribe an endpoint to. Names are stored: never
# renamed once in use. docs/webhooks.md describes each event's payload.
class WebhookEvent(models.TextChoices):
    DEVICE_STATUS_CHANGED = "device.status_changed", gettext_lazy("Device status changed")
    ORDER_PLACED = "order.placed", gettext_lazy("Order placed")
    ORDER_ACCEPTED = "order.accepted", gettext_lazy("Order accepted by the partner")
    DEVICE_SHIPPED = "device.shipped", gettext_lazy("Device shipped")
    DEVICE_DELIVERED = "device.delivered", gettext_lazy("Device delivered")
    DEVICE_RECEIVED = "device.received", gettext_lazy("Device received")
    DEVICE_CANCELLED = "device.cancelled", gettext_lazy("Device cancelled")
    REQUEST_APPROVED = "request.approved", gettext_lazy("Request approved")
    REQUEST_REJECTED = "request.rejected", gettext_lazy("Request rejected")
    LEASE_ENDING = "lease.ending", gettext_lazy("Lease ending")
    OFFBOARDING_OPENED = "offboarding.opened", gettext_lazy("Offboarding case opened")
    OFFBOARDING_CLOSED = "offboarding.closed", gettext_lazy("Offboarding case closed")


LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def webhook_url_validator(url: str) -> None:
    """An endpoint is HTTPS; plain HTTP only on this machine (127.0.0.1, localhost), for a
    receiver under test, and not in production (``WEBHOOKS_ALLOW_LOCAL_HTTP``). A literal
    private, link-local or reserved address is refused: a webhook is not a way into
    Velory's own network."""
    parts = urlsplit(url or "")
    host = (parts.hostname or "").lower()
    if not host:
        raise ValidationError(_("Enter a full URL, such as https://example.com/velory-hooks."))
    if parts.username or parts.password:
        raise ValidationError(_("Leave credentials out of the URL: the signature proves it is us."))
    if host in LOCAL_HOSTS and parts.scheme in ("http", "https"):
        if getattr(settings, "WEBHOOKS_ALLOW_LOCAL_HTTP", False):
            return
        raise ValidationError(_("Give an address on the internet, not this machine's."))
    if parts.scheme != "https":
        raise ValidationError(_("Use an https:// URL (http:// only for 127.0.0.1 or localhost)."))
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return
    if not address.is_global:
        raise ValidationError(_("That address is not reachable from the internet."))


class WebhookEndpointQuerySet(TenantQuerySet):
    scope = TenantScope(company_admin=by_company("company"), partner_staff=by_partner("partner"))

    def active(self):
        return self.filter(is_active=True)


class WebhookEndpoint(models.Model):
    """Where a company or a partner (exactly one of them) wants to be told of events, signed
    with the endpoint's secret. The secret is stored encrypted (``core.crypto``) and shown
    once, when it is made or rotated. An endpoint is deactivated, never deleted: its
    deliveries stay as the record of what was sent."""

    company = models.ForeignKey(
        "companies.Company",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        editable=False,
        related_name="webhook_endpoints",
    )
    partner = models.ForeignKey(
        "companies.Partner",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        editable=False,
        related_name="webhook_endpoints",
    )
    url = models.URLField(
        gettext_lazy("URL"),
        max_length=500,
        validators=[webhook_url_validator],
        help_text=gettext_lazy("HTTPS (plain HTTP only for 127.0.0.1 or localhost, for testing)."),
    )
    description = models.CharField(
        max_length=200, blank=True, help_text=gettext_lazy("What receives it.")
    )
    events = models.JSONField(default=list, help_text=gettext_lazy("The event types sent to it."))
    secret_encrypted = models.TextField(editable=False)
    is_active = models.BooleanField(
        gettext_lazy("active"),
        default=True,
        help_text=gettext_lazy("An inactive endpoint is sent nothing."),
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        editable=False,
        related_name="+",
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    secret_rotated_at = models.DateTimeField(null=True, blank=True, editable=False)

    objects = WebhookEndpointQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = gettext_lazy("webhook endpoint")
        constraints = [
            models.CheckConstraint(
                condition=(
                    models.Q(company__isnull=False, partner__isnull=True)
                    | models.Q(company__isnull=True, partner__isnull=False)
                ),
                name="webhook_endpoint_one_owner",
            )
        ]

    def __str__(self) -> str:
        return self.url

    @property
    def event_labels(self) -> list[str]:
        labels = dict(WebhookEvent.choices)
        return [str(labels.get(e, e)) for e in self.events]


class WebhookDeliveryQuerySet(TenantQuerySet):
    scope = TenantScope(
        company_admin=by_company("endpoint__company"),
        partner_staff=by_partner("endpoint__partner"),
    )

    def due(self, now=None):
        """Pending deliveries whose next attempt time has come and that no sender holds."""
        now = now or timezone.now()
        return self.filter(status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=now).filter(
            models.Q(claimed_until__isnull=True) | models.Q(claimed_until__lt=now)
        )


class WebhookDelivery(models.Model):
    """One event for one endpoint: written in the transaction of the change it reports,
    sent after commit by a worker (``core.jobs.claim``: one sender at a time), retried with
    backoff, failed after the limit. A replay sends the same event id and body again."""

    class Status(models.TextChoices):
        # Translators: the state of one webhook delivery (a delivery is pending, sent, failed).
        PENDING = "pending", pgettext_lazy("webhook delivery status", "Pending")
        SENT = "sent", pgettext_lazy("webhook delivery status", "Sent")
        FAILED = "failed", pgettext_lazy("webhook delivery status", "Failed")

    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries"
    )
    event_id = models.UUIDField(db_index=True)
    event_type = models.CharField(max_length=40, choices=WebhookEvent.choices)
    dedup_key = models.CharField(max_length=200)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    payload = models.JSONField(default=dict)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    claimed_until = models.DateTimeField(null=True, blank=True)
    response_code = models.PositiveSmallIntegerField(
        # Translators: the HTTP status code a webhook's receiver answered (a column title).
        pgettext_lazy("webhook delivery", "response"),
        null=True,
        blank=True,
    )
    duration_ms = models.PositiveIntegerField(gettext_lazy("duration (ms)"), null=True, blank=True)
    error = models.TextField(blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    objects = WebhookDeliveryQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = gettext_lazy("webhook delivery")
        verbose_name_plural = gettext_lazy("webhook deliveries")
        constraints = [
            models.UniqueConstraint(
                fields=["endpoint", "dedup_key"], name="webhook_delivery_once_per_endpoint"
            )
        ]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="webhook_due_idx"),
            models.Index(fields=["endpoint", "-created_at"], name="webhook_endpoint_recent_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} {self.event_id}"
