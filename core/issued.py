"""A secret Velory issues to another system (a partner's API key, a directory's SCIM token):
shown once, when it is made, and stored only as its SHA-256, with its first characters to
recognise it by, who made it, when it was last used, and when it was revoked."""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


def secret_hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


class IssuedSecret(models.Model):
    """The fields and behaviour every issued secret shares; the concrete model adds its
    owner (a partner, a company), its ``name`` and its hash column."""

    prefix = models.CharField(max_length=16, editable=False, help_text=_("Its first characters."))
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        editable=False,
        related_name="+",
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        abstract = True
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_live(self) -> bool:
        return self.revoked_at is None
