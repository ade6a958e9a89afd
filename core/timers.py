"""The timers that bound how soon background work recovers after a crash or an outage
(the table in docs/operations.md): the sweepers' intervals and the claims' lengths.

Each is written at its nominal length where it is used, through ``scaled``. One setting,
``RECOVERY_TIME_SCALE`` (environment ``VELORY_RECOVERY_TIME_SCALE``, 1 by default),
shortens them all at once and in proportion: the recovery-bound test runs a real worker and
beat with them at a twentieth and asserts the documented bounds, scaled the same way.
Backoff after a failure, time limits and the broker's visibility timeout are not scaled."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings


def scale() -> float:
    return float(getattr(settings, "RECOVERY_TIME_SCALE", 1.0))


def scaled(seconds: float) -> float:
    """``seconds`` at the configured scale."""
    return seconds * scale()


def scaled_delta(seconds: float) -> timedelta:
    return timedelta(seconds=scaled(seconds))
