"""Cache access that never fails a page: a cache that is down or slow is a miss."""

import logging

from django.core.cache import cache

logger = logging.getLogger(__name__)


def cache_get(key: str):
    try:
        return cache.get(key)
    except Exception:  # Redis down or timing out: render without the cache
        logger.warning("cache get failed for %s", key, exc_info=True)
        return None


def cache_set(key: str, value, timeout: int) -> None:
    try:
        cache.set(key, value, timeout)
    except Exception:
        logger.warning("cache set failed for %s", key, exc_info=True)
