"""Cache access that never fails or stalls a page: a cache that is down or slow is a miss.

A circuit breaker: after a failed call the cache is skipped for ``BREAKER_SECONDS``, so a
dead Redis costs one short connect attempt every few seconds, not one per call (each of
which would wait on a connect timeout). The connection itself is set up in settings to
give up in tens of milliseconds and not to retry."""

import logging
import time

from django.core.cache import cache

logger = logging.getLogger(__name__)

BREAKER_SECONDS = 5.0


class Breaker:
    """Open (skip the service) for a while after a failure; closed again after that."""

    def __init__(self, name: str, seconds: float = BREAKER_SECONDS):
        self.name, self.seconds, self.open_until = name, seconds, 0.0

    @property
    def is_open(self) -> bool:
        return time.monotonic() < self.open_until

    def trip(self) -> None:
        if not self.is_open:
            logger.warning("%s unavailable: skipped for %.0f s", self.name, self.seconds)
        self.open_until = time.monotonic() + self.seconds

    def reset(self) -> None:
        self.open_until = 0.0


CACHE_BREAKER = Breaker("cache")


def cache_get(key: str):
    if CACHE_BREAKER.is_open:
        return None
    try:
        return cache.get(key)
    except Exception:  # Redis down or timing out: render without the cache
        CACHE_BREAKER.trip()
        return None


def cache_set(key: str, value, timeout: int) -> None:
    if CACHE_BREAKER.is_open:
        return
    try:
        cache.set(key, value, timeout)
    except Exception:
        CACHE_BREAKER.trip()
