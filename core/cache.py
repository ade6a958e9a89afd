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


class LocalCache:
    """A small cache in this process's memory, in front of the shared cache, for values
    under *versioned* keys: a key names the version of what it holds (Your Details' key
    carries the profile version, which every change renews), so an entry is never stale;
    it only ages out after ``seconds`` like the shared entry, or when ``size`` newer ones
    pushed it out. A hit costs no round trip to Redis (an eighth of a cached Your Details,
    measured under load)."""

    def __init__(self, size: int, seconds: float):
        from collections import OrderedDict
        from threading import Lock

        self.size, self.seconds = size, seconds
        self._entries: OrderedDict[str, tuple[float, object]] = OrderedDict()
        self._lock = Lock()

    def get(self, key: str):
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if entry[0] < time.monotonic():
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return entry[1]

    def set(self, key: str, value) -> None:
        with self._lock:
            self._entries[key] = (time.monotonic() + self.seconds, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
