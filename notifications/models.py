"""The outbox: every e-mail Velory sends is first a row here, written in the same transaction
as the change that caused it, then sent by a Celery task after commit. A unique dedup key
per message means the same news is never sent twice, whoever retries."""

from django.conf import settings
from django.db import models
from django.utils import timezone

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
        PENDING = "pending", "Pending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"

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
        default=dict, blank=True, help_text="What the message is rendered from, when not yet."
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
