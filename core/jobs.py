"""Background jobs, one way for all of them: publishing a task without ever failing or
hanging the caller, and the row-as-a-job machinery the outbox, refunds and order placing
share: claim a row (so one worker has it), count its attempts, back off, give up, and find
the rows whose time has come again.

A job row has a claim field (when the worker's hold ends), an attempts counter and a
next-attempt time. ``claim`` takes the row with one conditional UPDATE: atomic on PostgreSQL
and SQLite alike, with no transaction held while the worker talks to the outside (SMTP, the
card gateway, a partner). The claim's end time is also its token: a worker whose hold ran
out and was taken over writes nothing (filter the outcome's UPDATE on it)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from celery import current_app  # a proxy: the app itself is wiring (velory/)
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from .cache import Breaker

logger = logging.getLogger(__name__)


# After a failed publish the broker is skipped for a few seconds: a dead broker costs one
# short connect attempt, not one per request (the sweepers deliver what was skipped).
BROKER_BREAKER = Breaker("broker")


def enqueue(task, *args, **kwargs) -> bool:
    """Publish ``task`` with these arguments. If the broker is down or slow the error is
    logged and swallowed: the callers' work is already committed (an outbox row, a due
    time) and a periodic job picks it up. Returns whether the task was published."""
    if BROKER_BREAKER.is_open:
        return False
    try:
        task.apply_async(args=args, kwargs=kwargs)
    except Exception:  # broker unreachable, timeout, ...: never fail the request
        BROKER_BREAKER.trip()
        logger.warning(
            "could not publish %s; a periodic job will catch up", task.name, exc_info=True
        )
        return False
    return True


def enqueue_named(name: str, *args, **kwargs) -> bool:
    """``enqueue`` for a task of an app above the caller, named as Celery registered it (the
    way a foreign key names a model of another app): orders asks for an order to be placed
    without importing partners. A web process has not imported every app's tasks module:
    the first call has Celery import them. Never raises; returns whether it was published."""
    try:
        if name not in current_app.tasks:
            current_app.loader.import_default_modules()  # runs the apps' autodiscovery
        task = current_app.tasks[name]
    except Exception:  # unknown task or a broken import: the periodic sweeper catches up
        logger.exception("could not find task %s; a periodic job will catch up", name)
        return False
    return enqueue(task, *args, **kwargs)


@dataclass(frozen=True)
class Retry:
    """How a job is tried again: ``base`` seconds after the first failure, doubling each
    time up to ``cap``; after ``max_attempts`` (when set) it is given up."""

    base: int
    cap: int
    max_attempts: int | None = None

    def delay(self, attempts: int) -> int:
        """Seconds to wait after the ``attempts``-th failed attempt."""
        return min(self.base * 2 ** max(attempts - 1, 0), self.cap)

    def next_at(self, attempts: int, now: datetime | None = None, *, at_least: float = 0):
        """When to try again; ``at_least`` honours the other side's Retry-After."""
        return (now or timezone.now()) + timedelta(seconds=max(self.delay(attempts), at_least))

    def gives_up(self, attempts: int, max_attempts: int | None = None) -> bool:
        limit = max_attempts if max_attempts is not None else self.max_attempts
        return limit is not None and attempts >= limit


def claim(
    rows: QuerySet,
    *,
    hold_seconds: int,
    due_field: str | None = None,
    claimed_field: str = "claimed_until",
    attempts_field: str = "attempts",
    now: datetime | None = None,
) -> datetime | None:
    """Claim the one row of ``rows`` for this worker, counting an attempt; with
    ``due_field`` only once its time has come (the sweeper never races the task that was
    just scheduled). Returns the claim's token (its end time), or None when the row is
    done, not due, or held by another worker."""
    now = now or timezone.now()
    token = now + timedelta(seconds=hold_seconds)
    rows = rows.filter(Q(**{f"{claimed_field}__isnull": True}) | Q(**{f"{claimed_field}__lt": now}))
    if due_field:
        rows = rows.filter(**{f"{due_field}__lte": now})
    updated = rows.update(**{claimed_field: token, attempts_field: F(attempts_field) + 1})
    return token if updated == 1 else None


def due(
    rows: QuerySet,
    *,
    due_field: str,
    limit: int,
    grace_seconds: int = 0,
    now: datetime | None = None,
) -> list[int]:
    """The ids of rows whose next attempt has come (``grace_seconds`` ago, so the sweeper
    leaves a just-scheduled task its turn), oldest first, at most ``limit``."""
    cutoff = (now or timezone.now()) - timedelta(seconds=grace_seconds)
    return list(
        rows.filter(**{f"{due_field}__lte": cutoff})
        .order_by(due_field, "pk")
        .values_list("pk", flat=True)[:limit]
    )
