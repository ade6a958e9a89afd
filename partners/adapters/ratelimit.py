"""One request rate per partner, shared by every worker (through the cache: Redis in
production, where INCR is atomic; per process in the embedded mode), and the partner's
own "wait" (Retry-After) honoured by all of them."""

from __future__ import annotations

import contextlib
import time

from django.core.cache import cache


class RateLimited(Exception):
    """No slot within the wait allowed: try again in ``seconds``."""

    def __init__(self, seconds: float):
        super().__init__(f"rate limited for {seconds:.1f} s")
        self.seconds = seconds


class RateLimiter:
    def __init__(self, key: str, per_second: int):
        self.key = f"ratelimit:{key}"
        self.per_second = max(per_second, 1)

    def acquire(self, max_wait: float | None = None) -> None:
        """Wait for a slot in the current second (and past any Retry-After); with
        ``max_wait``, raise ``RateLimited`` rather than wait longer than that."""
        started = time.time()
        while True:
            now = time.time()
            blocked_until = self._get(f"{self.key}:blocked") or 0
            if blocked_until > now:
                if max_wait is not None and blocked_until - started > max_wait:
                    raise RateLimited(blocked_until - now)
                time.sleep(min(blocked_until - now, 1.0))
                continue
            second = int(now)
            slot = f"{self.key}:{second}"
            count = self._incr(slot)
            if count <= self.per_second:
                return
            if max_wait is not None and second + 1 - started > max_wait:
                raise RateLimited(second + 1 - now)
            time.sleep(second + 1 - now + 0.001)

    def block_for(self, seconds: float) -> None:
        until = time.time() + max(seconds, 0)
        self._set(f"{self.key}:blocked", until, int(seconds) + 2)

    # The cache may be down: a limiter that cannot count lets the call through (the
    # partner's own 429 still protects it).
    @staticmethod
    def _get(key):
        try:
            return cache.get(key)
        except Exception:
            return None

    @staticmethod
    def _set(key, value, timeout):
        with contextlib.suppress(Exception):  # see above
            cache.set(key, value, timeout)

    @staticmethod
    def _incr(key) -> int:
        try:
            cache.add(key, 0, 3)
            return cache.incr(key)
        except Exception:
            return 1
