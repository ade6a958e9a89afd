"""The partners' connections: keeping their stored API keys readable across a key rotation."""

from __future__ import annotations

from django.db import transaction
from django.db.models import Q

from core.crypto import decrypt, rotate
from core.locks import connections_lock


@transaction.atomic
def connections_rotate_keys() -> tuple[int, int]:
    """Re-encrypt every stored API key with the first FIELD_ENCRYPTION_KEY. Returns how
    many were re-encrypted and how many no configured key can read (left as they are)."""
    rotated = unreadable = 0
    for connection in connections_lock(filters=~Q(api_key_encrypted="")):
        if not decrypt(connection.api_key_encrypted):
            unreadable += 1
            continue
        connection.api_key_encrypted = rotate(connection.api_key_encrypted)
        connection.save(update_fields=["api_key_encrypted"])
        rotated += 1
    return rotated, unreadable
