"""How Velory talks to each partner: the connection (e-mail or the partner's API, its key,
its rate) and how polling it is going."""

from __future__ import annotations

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.crypto import decrypt, encrypt
from core.issued import IssuedSecret
from core.tenancy import TenantQuerySet, TenantScope, by_partner


class Adapter(models.TextChoices):
    EMAIL = "email", _("E-mail (no tracking)")
    HTTP = "http", _("Velory distributor API v1 (tracking)")


class ConnectionQuerySet(TenantQuerySet):
    scope = TenantScope(partner_staff=by_partner("partner"))


class DistributorConnection(models.Model):
    """How Velory talks to a partner: by e-mail, or through its API (base URL and key), at
    what rate; and how that is going (last poll, last error, backoff)."""

    partner = models.OneToOneField(
        "companies.Partner", on_delete=models.CASCADE, related_name="connection"
    )
    adapter = models.CharField(max_length=10, choices=Adapter.choices, default=Adapter.EMAIL)
    base_url = models.URLField(_("API base URL"), blank=True)
    api_key_encrypted = models.TextField(blank=True, editable=False)
    api_key_set_at = models.DateTimeField(null=True, blank=True, editable=False)
    rate_per_second = models.PositiveSmallIntegerField(
        default=10, help_text=_("Requests per second the partner allows, for all workers together.")
    )
    batch_size = models.PositiveSmallIntegerField(
        default=100, help_text=_("Orders per status call.")
    )
    timeout_seconds = models.FloatField(
        default=5.0,
        validators=[MinValueValidator(0.5), MaxValueValidator(15)],
        help_text=_(
            "How long the partner may take to start answering (0.5–15 s); a whole "
            "call is cut off at twice that."
        ),
    )
    enabled = models.BooleanField(default=True)
    pushes_updates = models.BooleanField(
        _("pushes its updates"),
        default=False,
        help_text=_(
            "The partner pushes statuses and tracking through the partner API "
            "(docs/partner-api.md): Velory places orders with it but does not poll it."
        ),
    )
    # State of the polling, for the people who watch it.
    poll_claimed_until = models.DateTimeField(null=True, blank=True, editable=False)
    backoff_until = models.DateTimeField(null=True, blank=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    last_poll_at = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)

    objects = ConnectionQuerySet.as_manager()

    class Meta:
        # The table keeps the name it had when this model lived in orders (no data moved).
        db_table = "orders_distributorconnection"
        verbose_name = _("distributor connection")

    def __str__(self) -> str:
        return f"{self.partner} ({self.get_adapter_display()})"

    @property
    def tracks(self) -> bool:
        return self.adapter == Adapter.HTTP

    def decrypted_api_key(self) -> str:
        """The key, for the adapter only (a method, so no admin page or template can show
        it by naming a field "api_key")."""
        return decrypt(self.api_key_encrypted)

    def set_api_key(self, raw: str) -> None:
        self.api_key_encrypted = encrypt(raw) if raw else ""
        self.api_key_set_at = timezone.now() if raw else None


# --- The partner push API (/api/partner/v1/) ----------------------------------------------------


class ApiKeyQuerySet(TenantQuerySet):
    scope = TenantScope(partner_staff=by_partner("partner"))

    def live(self):
        return self.filter(revoked_at__isnull=True)


class PartnerApiKey(IssuedSecret):
    """A key a partner's systems push through (``Authorization: Bearer <key>``). Only its
    SHA-256 is stored: the key is shown once, when the partner's staff make it, and never
    again. A revoked key is refused from its next request."""

    partner = models.ForeignKey(
        "companies.Partner", on_delete=models.CASCADE, related_name="api_keys"
    )
    name = models.CharField(max_length=100, help_text=_("Where it is used, e.g. our ERP."))
    key_hash = models.CharField(max_length=64, unique=True, editable=False)

    objects = ApiKeyQuerySet.as_manager()

    class Meta(IssuedSecret.Meta):
        verbose_name = _("partner API key")


class PushRequestQuerySet(TenantQuerySet):
    scope = TenantScope(partner_staff=by_partner("partner"))


class PushRequest(models.Model):
    """One write a partner pushed, by its ``Idempotency-Key``: what was asked (a
    fingerprint of method, path and body) and what Velory answered, so a retry with the
    same key gets the same answer and changes nothing, and the same key with another
    request is refused."""

    partner = models.ForeignKey(
        "companies.Partner", on_delete=models.CASCADE, related_name="push_requests"
    )
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField()
    response = models.JSONField()
    api_key = models.ForeignKey(
        PartnerApiKey, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    objects = PushRequestQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["partner", "key"], name="push_request_key_unique")
        ]

    def __str__(self) -> str:
        return f"{self.partner_id}:{self.key}"
