"""The partner API's rate limit: per API key, in a moving window (the times of the key's
last requests, kept in the shared cache), so every web worker counts the same requests."""

from __future__ import annotations

import logging

from django.conf import settings
from rest_framework.throttling import SimpleRateThrottle

logger = logging.getLogger("velory.partner_api")


class ApiKeyRateThrottle(SimpleRateThrottle):
    """``settings.PARTNER_API_RATE`` requests per key ("600/m"); over it, 429 with
    Retry-After (seconds until the oldest request in the window leaves it)."""

    scope = "partner_api"

    def get_rate(self):
        return settings.PARTNER_API_RATE  # read per request: a test or an operator changes it

    def get_cache_key(self, request, view):
        key_id = getattr(request.user, "key_id", None)
        return None if key_id is None else f"throttle:partner-api:{key_id}"

    def allow_request(self, request, view):
        try:
            return super().allow_request(request, view)
        except Exception:  # the cache is down: let the request through rather than fail it
            logger.warning("partner API rate limit not counted: the cache is unavailable")
            return True
