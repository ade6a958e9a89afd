"""The sandbox processor's configuration (ProcessorConfig) and the constants that shape its
answers: the API version its events carry, how long an authorization holds, when a refund
of the refund-failure card fails, how webhooks are retried."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

try:  # the version the official library speaks, so its events parse as it expects
    import stripe

    API_VERSION: str = getattr(stripe, "api_version", None) or "2026-10-28.endive"
except ImportError:  # pragma: no cover (stripe is pinned in pyproject.toml)
    API_VERSION = "2026-10-28.endive"

AUTHORIZATION_SECONDS = 7 * 24 * 3600  # a card-not-present authorization holds 7 days
REFUND_FAILURE_SECONDS = 5  # the refund-failure card's refunds fail this long after creation
SESSION_MIN_SECONDS = 30 * 60  # expires_at: 30 minutes ...
SESSION_MAX_SECONDS = 24 * 3600  # ... to 24 hours ahead, 24 hours by default
IDEMPOTENCY_SECONDS = 24 * 3600  # Stripe keeps an idempotent answer 24 hours
WEBHOOK_TRIES = 12
WEBHOOK_MAX_BACKOFF = 60.0  # seconds between tries: 1, 2, 4 … 60
WEBHOOK_TIMEOUT = 10.0
TICK_SECONDS = 1.0  # how often expiries run between requests


@dataclass
class ProcessorConfig:
    """How the sandbox processor is reached and what it signs with.

    ``clock`` returns unix time; None: the processor's own clock, real time plus the offset
    ``advance()`` adds. ``public_url`` replaces the processor's own address in the links of
    hosted pages (a session's ``url``), for a processor behind a proxy. ``webhook_url``
    None keeps events for ``take_undelivered()`` instead of sending them."""

    host: str = "127.0.0.1"
    port: int = 0  # 0: the system picks a free port
    api_key: str = "sk_test_velory_sandbox"
    webhook_url: str | None = None
    webhook_secret: str = "whsec_velory_sandbox"
    state_file: str | None = None
    clock: Callable[[], float] | None = None
    public_url: str | None = None
    merchant_name: str = "Velory"
