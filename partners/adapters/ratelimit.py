"""One request rate per partner, shared by every worker, and the partner's own "wait"
(Retry-After) honoured by all of them.

The rate is a moving window (the ``limits`` library's ``MovingWindowRateLimiter``): a call is
let through only when fewer than N calls were let through in the second before it, so no
second, wherever it starts, holds more than N calls. A fixed per-second window counts each
wall-clock second apart and so admits 2N across a second boundary (N at .9 s, N more at
1.0 s), which a partner counting in its own moving window answers with 429s. The window
lives in the cache's Redis (the times of the partner's last N calls, taken and checked in one
Lua script, so two workers never take the same slot), or, in the embedded mode without
Redis, in this process's memory. A limiter that cannot reach Redis lets the call through:
the partner's own 429 still protects it."""

from __future__ import annotations

import os
import random
import threading
import time

from django.conf import settings
from limits import RateLimitItemPerSecond
from limits.storage import MemoryStorage, RedisStorage
from limits.strategies import MovingWindowRateLimiter

from core.cache import CACHE_BREAKER, cache_get, cache_set

# Redis options the rate limit takes over from the cache's (fail fast, no retries).
_REDIS_OPTIONS = ("socket_connect_timeout", "socket_timeout", "retry")
# Waiters for the same freed slot wake a little apart, so they do not all ask at once.
WAKE_JITTER_SECONDS = 0.005


class RateLimited(Exception):
    """No slot within the wait allowed: try again in ``seconds``."""

    def __init__(self, seconds: float):
        super().__init__(f"rate limited for {seconds:.1f} s")
        self.seconds = seconds


_windows: dict[tuple, MovingWindowRateLimiter] = {}
_windows_lock = threading.Lock()


def _redis_location() -> str:
    """The cache's Redis (settings.REDIS_URL, or a test worker's own database), or ""."""
    cache = settings.CACHES["default"]
    if not cache["BACKEND"].endswith("RedisCache"):
        return ""
    location = cache["LOCATION"]
    if isinstance(location, list | tuple):
        location = location[0]
    return str(location).split(",")[0]  # a primary, then replicas: writes go to the first


def _moving_window() -> tuple[MovingWindowRateLimiter, bool]:
    """This process's limiter (a forked worker makes its own) for the configured storage,
    and whether that storage is Redis."""
    location = _redis_location()
    key = (os.getpid(), location)
    window = _windows.get(key)
    if window is None:
        with _windows_lock:
            window = _windows.get(key)
            if window is None:
                if location:
                    options = settings.CACHES["default"].get("OPTIONS", {})
                    storage = RedisStorage(
                        location,
                        key_prefix="velory:ratelimit",
                        **{k: v for k, v in options.items() if k in _REDIS_OPTIONS},
                    )
                else:
                    storage = MemoryStorage()
                window = _windows[key] = MovingWindowRateLimiter(storage)
    return window, bool(location)


class RateLimiter:
    """At most ``per_second`` calls in any second for everyone using ``key``."""

    def __init__(self, key: str, per_second: int):
        self.key = f"ratelimit:{key}"
        self.per_second = max(per_second, 1)
        self.item = RateLimitItemPerSecond(self.per_second, 1)

    def acquire(self, max_wait: float | None = None) -> None:
        """Wait for a slot in the moving window (and past any Retry-After); with
        ``max_wait``, raise ``RateLimited`` rather than wait longer than that."""
        started = time.time()
        while True:
            now = time.time()
            blocked_until = cache_get(f"{self.key}:blocked") or 0
            if blocked_until > now:
                if max_wait is not None and blocked_until - started > max_wait:
                    raise RateLimited(blocked_until - now)
                time.sleep(min(blocked_until - now, 1.0))
                continue
            free_at = self._take()
            if free_at is None:
                return
            if max_wait is not None and free_at - started > max_wait:
                raise RateLimited(free_at - now)
            jitter = random.uniform(0, WAKE_JITTER_SECONDS)  # noqa: S311 (not a secret)
            time.sleep(max(free_at - time.time(), 0.0) + jitter)

    def block_for(self, seconds: float) -> None:
        """Every limiter of this key waits ``seconds`` (the partner's Retry-After)."""
        until = time.time() + max(seconds, 0)
        cache_set(f"{self.key}:blocked", until, int(seconds) + 2)

    def _take(self) -> float | None:
        """Take a slot: None when taken (or when the window cannot be reached), else the time
        the oldest call in the window leaves it."""
        try:
            window, shared = _moving_window()
            if shared and CACHE_BREAKER.is_open:  # Redis is down: see the module's docstring
                return None
            if window.hit(self.item, self.key):
                return None
            stats = window.get_window_stats(self.item, self.key)
            # a slot freed since the hit: ask again at once
            return time.time() if stats.remaining > 0 else stats.reset_time
        except Exception:  # Redis down or timing out: skipped for a few seconds
            CACHE_BREAKER.trip()
            return None
