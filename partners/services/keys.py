"""The partner push API's keys: made and revoked by the partner's own staff, stored as a
hash only (as SCIM tokens are: ``people.services.tokens``)."""

from __future__ import annotations

import secrets
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext as _

from core.issued import secret_hash
from core.tenancy import Role

from ..actors import PartnerApiActor
from ..models import PartnerApiKey

PREFIX = "vpk_"
# A key's "last used" is written at most this often: not one UPDATE per pushed request.
LAST_USED_EVERY = timedelta(minutes=5)


def _is_partner_staff(actor, partner_id: int | None = None) -> bool:
    return (
        getattr(actor, "role", None) == Role.PARTNER_STAFF
        and getattr(actor, "pk", None) is not None  # a person, not another key
        and actor.partner_id is not None
        and (partner_id is None or actor.partner_id == partner_id)
    )


def api_key_create(*, name: str, actor) -> tuple[PartnerApiKey, str]:
    """A new key for the actor's partner: the raw key is returned once, to be shown once;
    only its hash is kept. Only the partner's own staff make its keys."""
    if not _is_partner_staff(actor):
        raise ValidationError(_("Only a partner's own staff make its API keys."))
    raw = PREFIX + secrets.token_urlsafe(32)
    key = PartnerApiKey.objects.create(
        partner_id=actor.partner_id,
        name=(name or "").strip()[:100] or "API",
        prefix=raw[: len(PREFIX) + 4],
        key_hash=secret_hash(raw),
        created_by=actor,
    )
    return key, raw


def api_key_revoke(*, key_id: int, actor) -> PartnerApiKey:
    """Revoke a key: the system using it is refused from its next request. The partner's
    staff revoke their own keys; Velory's support (a superuser) may revoke a leaked one."""
    key = PartnerApiKey.objects.visible_to(actor).get(pk=key_id)
    if not (getattr(actor, "is_superuser", False) or _is_partner_staff(actor, key.partner_id)):
        raise ValidationError(_("Only the partner's staff revoke its API keys."))
    if key.revoked_at is None:
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at"])
    return key


def api_key_authenticate(raw: str) -> PartnerApiActor | None:
    """The partner acting through this live key; None for anything else (a revoked key, a
    wrong one, another kind of token). One query, and an UPDATE of "last used" at most
    every few minutes."""
    if not raw or not raw.startswith(PREFIX) or len(raw) > 200:
        return None
    key = (
        PartnerApiKey.objects.live()
        .select_related("partner")
        .filter(key_hash=secret_hash(raw))
        .first()
    )
    if key is None:
        return None
    now = timezone.now()
    if key.last_used_at is None or now - key.last_used_at > LAST_USED_EVERY:
        PartnerApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
    return PartnerApiActor(partner=key.partner, key_id=key.pk, key_prefix=key.prefix)
