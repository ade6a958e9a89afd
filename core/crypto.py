"""Secrets stored in the database (partners' API keys) are encrypted with keys derived from
FIELD_ENCRYPTION_KEY (a comma-separated list; in development the SECRET_KEY): a database
dump alone does not give them away.

Rotation: put the new key first and keep the old ones after it. The first key encrypts;
every key decrypts, so stored secrets stay readable, and ``rotate`` re-encrypts a value with
the first key (re-saving the secrets), after which the old key can be dropped."""

import base64
import hashlib
from datetime import UTC, datetime

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings


def _key(secret: str) -> Fernet:
    digest = hashlib.sha256(b"velory-field-encryption:" + secret.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def _fernet() -> MultiFernet:
    secrets = list(getattr(settings, "FIELD_ENCRYPTION_KEYS", None) or []) or [settings.SECRET_KEY]
    return MultiFernet([_key(s) for s in secrets])


def encrypt(value: str) -> str:
    return _fernet().encrypt(value.encode()).decode()


def decrypt(token: str) -> str:
    """The plain value, or "" when no key can read it."""
    if not token:
        return ""
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        return ""


def rotate(token: str) -> str:
    """The same secret, encrypted with the first key (for re-saving after a rotation)."""
    return _fernet().rotate(token.encode()).decode() if token else ""


def encrypted_at(token: str):
    """When a value was encrypted (a Fernet token carries its time, readable without the
    key), as an aware datetime; None for no token. Shows "set on" for a stored secret that
    has no date field of its own."""
    if not token:
        return None
    try:
        raw = base64.urlsafe_b64decode(token.encode())
        seconds = int.from_bytes(raw[1:9], "big")
        return datetime.fromtimestamp(seconds, tz=UTC)
    except (ValueError, OverflowError, OSError):
        return None
