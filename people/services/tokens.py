"""SCIM bearer tokens: made and revoked by the company admin, stored as a hash only."""

from __future__ import annotations

import secrets
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext as _

from core.issued import secret_hash
from core.tenancy import acts_as_company_admin

from ..models import ScimToken

PREFIX = "vscim_"
# A token's "last used" is written at most this often: not one UPDATE per SCIM request.
LAST_USED_EVERY = timedelta(minutes=5)


def scim_token_create(*, company, name: str, actor) -> tuple[ScimToken, str]:
    """A new token for the company's directory: the raw token is returned once, to be
    shown once; only its hash is kept."""
    if not acts_as_company_admin(actor, company.pk):
        raise ValidationError(_("Only the company's admins make SCIM tokens."))
    raw = PREFIX + secrets.token_urlsafe(32)
    token = ScimToken.objects.create(
        company=company,
        name=(name or "").strip() or "Directory",
        prefix=raw[: len(PREFIX) + 4],
        token_hash=secret_hash(raw),
        created_by=actor if getattr(actor, "pk", None) else None,
    )
    return token, raw


def scim_token_revoke(*, token_id: int, actor) -> ScimToken:
    """Revoke a token: the directory using it is refused from its next request."""
    token = ScimToken.objects.visible_to(actor).get(pk=token_id)
    if not acts_as_company_admin(actor, token.company_id):
        raise ValidationError(_("Only the company's admins revoke SCIM tokens."))
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
    return token


def scim_token_authenticate(raw: str) -> ScimToken | None:
    """The live token this bearer token is, with its company; None for anything else."""
    if not raw or not raw.startswith(PREFIX):
        return None
    token = (
        ScimToken.objects.live()
        .select_related("company")
        .filter(token_hash=secret_hash(raw))
        .first()
    )
    if token is None:
        return None
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at > LAST_USED_EVERY:
        ScimToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token
