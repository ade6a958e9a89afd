"""The tracking poller: ``partner_poll`` claims a chunk of one partner's due orders (SKIP
LOCKED, so several pollers of a partner, on any worker, take different chunks and share its
one request rate), fetches them in batches with bounded concurrency within a time budget,
and hands the answers, a few batches at a time, to ``applying.tracking_apply``. A partner
whose calls all fail backs off alone."""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from datetime import timedelta

from django.db import close_old_connections, transaction
from django.db.models import Count, F, Q
from django.utils import timezone

from core.jobs import Retry
from core.locks import orders_lock
from core.timers import scaled_delta
from orders.models import Order, order_number

from ..adapters import AdapterError, adapter_for
from ..models import DistributorConnection
from .applying import MIN_POLL_SECONDS, tracking_apply

logger = logging.getLogger("velory.distributors")

# A partner whose every call fails waits 30 s, 1 min, 2 … up to 30 min before the next poll.
PARTNER_BACKOFF = Retry(base=30, cap=1800)

# Orders one polling task takes on: ten calls of a hundred, applied in two transactions. A
# partner with more due orders gets several tasks, which share its request rate and run
# side by side on the workers (100,000 orders of 20 partners: 100 tasks for 4 processes, so
# the last ones end close together).
POLL_CHUNK = 1000
# Tasks one periodic run starts per partner: 30,000 orders, about what a partner answering
# 10 calls a second can be asked in a 30 s beat (the rest wait for the next run).
MAX_TASKS_PER_PARTNER = 30
# Answers applied in one transaction: five calls' worth. An apply takes the same statements
# for 500 orders as for 100, so fewer, larger applies cost less per order (measured: 1.6
# times the orders a second); the calls of the next group are fetched meanwhile.
APPLY_ORDERS = 500
# Calls in flight to one partner at once (within its rate limit): hides the latency.
FETCH_CONCURRENCY = 4
# A failed call is tried again this many times in the same run before its orders wait: a
# partner failing one call in twenty (5xx, hangs, bad answers, 429s) then fails a batch for
# good once in three million, not once in eight thousand (100,000 orders are 1,000 batches).
FETCH_RETRIES = 4
# A poll stops starting calls after this, well inside the task's soft time limit (120 s):
# the batches left are polled again soon.
POLL_BUDGET_SECONDS = 60
POLL_CLAIM_SECONDS = 300


@dataclass
class PollReport:
    partner: str
    polled: int = 0
    changed: int = 0
    failed: int = 0
    rejected: int = 0
    unknown: int = 0
    calls: int = 0
    seconds: float = 0.0
    skipped: str = ""

    def log(self) -> None:
        logger.info(
            "poll partner=%s orders=%d changed=%d failed=%d rejected=%d unknown=%d calls=%d "
            "seconds=%.2f%s",
            self.partner,
            self.polled,
            self.changed,
            self.failed,
            self.rejected,
            self.unknown,
            self.calls,
            self.seconds,
            f" skipped={self.skipped}" if self.skipped else "",
            extra={"poll": self.__dict__},
        )


def partners_due(now=None) -> dict[int, int]:
    """Partners with a tracking API, not backing off, and how many of their orders are due
    for a poll (one query)."""
    now = now or timezone.now()
    live = DistributorConnection.objects.filter(
        adapter="http",
        enabled=True,
        pushes_updates=False,  # a partner that pushes is not polled
    ).filter(Q(backoff_until__isnull=True) | Q(backoff_until__lte=now))
    return dict(
        Order.objects.filter(
            tracking_open=True, next_poll_at__lte=now, partner_id__in=live.values("partner_id")
        )
        .values_list("partner_id")
        .annotate(n=Count("pk"))
        .values_list("partner_id", "n")
    )


def _claim_orders(partner_id: int, limit: int, now) -> list[int]:
    """Take up to ``limit`` due orders of the partner for this poller: their next poll time
    moves a lease ahead, so another poller (of the same partner, at the same time) takes
    other orders, and orders of a poller that died come due again after the lease."""
    with transaction.atomic():
        ids = [
            o.pk
            for o in orders_lock(
                filters=Q(partner_id=partner_id, tracking_open=True, next_poll_at__lte=now),
                skip_locked=True,
                order_by=("next_poll_at", "pk"),
                limit=limit,
                only=("pk",),
            )
        ]
        if ids:
            Order.objects.filter(pk__in=ids).update(
                next_poll_at=now + scaled_delta(POLL_CLAIM_SECONDS)
            )
    return ids


def partner_poll(partner_id: int, *, max_orders: int = POLL_CHUNK) -> PollReport:
    """Poll a chunk of one partner's due orders and apply what changed. Several pollers of
    one partner take different chunks (and share its request rate); a partner whose calls
    all fail backs off alone."""
    started = time.monotonic()
    now = timezone.now()
    connection = DistributorConnection.objects.select_related("partner").get(partner_id=partner_id)
    report = PollReport(partner=connection.partner.name)
    if connection.backoff_until and connection.backoff_until > now:
        report.skipped = "backing off"
        report.log()
        return report
    due = _claim_orders(partner_id, max_orders, now)
    if not due:
        report.skipped = "nothing due (another poller took it)"
        report.log()
        return report
    DistributorConnection.objects.filter(pk=connection.pk).update(last_poll_at=now)
    adapter = adapter_for(connection.partner)
    size = max(1, min(connection.batch_size, 100))
    batches = [due[i : i + size] for i in range(0, len(due), size)]
    errors: list[str] = []
    failed: list[int] = []
    budget_ends = started + POLL_BUDGET_SECONDS
    try:
        with ThreadPoolExecutor(max_workers=FETCH_CONCURRENCY) as pool:
            futures = {pool.submit(_fetch, adapter, batch, budget_ends): batch for batch in batches}
            group: list[tuple[list[int], object]] = []  # answers waiting to be applied
            for future in as_completed(futures):
                batch = futures[future]
                result, calls, error = future.result()
                report.calls += calls
                report.polled += len(batch)
                if error is not None:
                    report.failed += len(batch)
                    failed += batch
                    errors.append(str(error))
                    continue
                report.rejected += len(result.rejected)
                report.unknown += len(result.unknown)
                group.append((batch, result))
                if sum(len(b) for b, _ in group) >= APPLY_ORDERS:
                    _apply(connection, group, report, errors, failed)
                    group = []
            if group:
                _apply(connection, group, report, errors, failed)
    finally:
        _finish_poll(connection, report, errors, failed)
        report.seconds = time.monotonic() - started
        report.log()
    return report


def _apply(connection, group: list, report: PollReport, errors: list, failed: list) -> None:
    """Apply a group of answers in one transaction; if that fails, each call's answer on its
    own, so that one batch's failure never takes the others down."""
    try:
        applied = tracking_apply(
            connection.partner_id,
            [u for _, result in group for u in result.updates],
            [pk for batch, _ in group for pk in batch],
            now=timezone.now(),
        )
    except Exception as exc:
        if len(group) > 1:
            for one in group:
                _apply(connection, [one], report, errors, failed)
            return
        [(batch, _)] = group
        logger.exception(
            "poll batch could not be applied partner=%s orders=%s",
            connection.partner.name,
            ",".join(order_number(pk) for pk in batch[:20]),
        )
        report.failed += len(batch)
        failed += batch
        errors.append(f"Velory could not apply an answer: {type(exc).__name__}.")
        return
    report.changed += applied.changed_orders


def _fetch(adapter, batch, budget_ends: float | None = None):
    """One batch, with a few quick retries (a 5xx, a timeout, an unreadable answer), within
    the poll's time budget. Never raises: an error is returned as the batch's failure."""
    calls, error = 0, None
    try:
        for attempt in range(FETCH_RETRIES + 1):
            if budget_ends is not None and time.monotonic() > budget_ends:
                error = error or AdapterError("The poll ran out of time; the batch waits.")
                break
            calls += 1
            try:
                return adapter.fetch_updates(batch), calls, None
            except AdapterError as exc:
                error = exc
                if not exc.retryable:
                    break
                time.sleep(min(exc.retry_after or 0.05 * 2**attempt, 2.0))
            except Exception as exc:  # a bug or a surprise in the answer: this batch only
                logger.exception("poll batch failed partner=%s", getattr(adapter, "name", "?"))
                error = AdapterError(f"The answer could not be handled: {type(exc).__name__}.")
                break
        return None, calls, error
    finally:
        close_old_connections()


def _finish_poll(connection, report: PollReport, errors: list[str], failed: list[int]) -> None:
    now = timezone.now()
    all_failed = report.polled > 0 and report.failed == report.polled
    fields = {}
    if errors:
        fields.update(last_error=errors[-1][:300], last_error_at=now)
    if all_failed:
        failures = connection.consecutive_failures + 1
        fields.update(
            # counted in the database: two pollers of the partner failing at once count two
            consecutive_failures=F("consecutive_failures") + 1,
            backoff_until=PARTNER_BACKOFF.next_at(failures, now),
        )
    elif report.polled:
        fields.update(consecutive_failures=0, backoff_until=None, last_success_at=now)
    if fields:
        DistributorConnection.objects.filter(pk=connection.pk).update(**fields)
    if failed:  # their turn comes again soon (not the partner's whole backoff)
        Order.objects.filter(pk__in=failed).update(
            next_poll_at=now + timedelta(seconds=MIN_POLL_SECONDS)
        )
