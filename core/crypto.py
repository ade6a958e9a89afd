"""Secrets stored in the database (partners' API keys) are encrypted with a key derived
from FIELD_ENCRYPTION_KEY (default: the SECRET_KEY): a database dump alone does not give
them away. Changing that key makes the stored secrets unreadable: enter them again."""

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings


def _fernet() -> Fernet:
    secret = (settings.FIELD_ENCRYPTION_KEY or settings.SECRET_KEY).encode()
    key = base64.urlsafe_b64encode(hashlib.sha256(b"velory-field-encryption:" + secret).digest())
    return Fernet(key)


def encrypt(value: str) -> str:
    return _fernet().encrypt(value.encode()).decode()


def decrypt(token: str) -> str:
    """The plain value, or "" when it cannot be read (another key)."""
    if not token:
        return ""
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        return ""
