"""The one transaction a use case runs in, and what it does last.

``@use_case`` wraps a service's database work:
- **one transaction**: nested use cases join the outermost one;
- **writes kept for last**: ``at_end(name, ids, flush)`` collects row ids (the Your Details
  profile versions) and the outermost use case writes them as its last statement, one
  set-based UPDATE. So every transaction takes its locks in the documented order and the
  cache bump never holds a user row while waiting for a budget;
- **a lost deadlock or serialization failure is retried**, a bounded number of times, when
  the use case owns the transaction (not inside a caller's), and never reaches a person as
  a 500. Side effects are scheduled with ``transaction.on_commit``, so a retried attempt
  sends nothing: its callbacks are discarded with its rollback.

Only database work goes inside: a service that calls the outside (a card gateway) does so
outside its use case, so a retry never repeats the call."""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable, Iterable

from django.db import OperationalError, connection, transaction

logger = logging.getLogger(__name__)

# A lost deadlock is tried again this often (each attempt waits a little longer).
RETRIES = 4
RETRYABLE = frozenset({"40P01", "40001"})  # deadlock_detected, serialization_failure

_state = threading.local()


def _retryable(error: Exception) -> bool:
    cause = error.__cause__ or error
    return getattr(cause, "sqlstate", None) in RETRYABLE


def at_end(name: str, ids: Iterable, flush: Callable[[set], None]) -> None:
    """Write ``ids`` with ``flush`` as the last statement of the running use case (merged
    with every other call of the same ``name``), or at once outside a use case."""
    ids = {i for i in ids if i is not None}
    if not ids:
        return
    pending = getattr(_state, "pending", None)
    if pending is None:
        flush(ids)
        return
    pending.setdefault(name, (flush, set()))[1].update(ids)


def _flush(pending: dict) -> None:
    for flush, ids in pending.values():
        flush(ids)


def use_case(fn):
    @functools.wraps(fn)
    def run(*args, **kwargs):
        if getattr(_state, "pending", None) is not None:
            return fn(*args, **kwargs)  # inside another use case: it finishes and retries
        attempts = 1 if connection.in_atomic_block else RETRIES
        for attempt in range(1, attempts + 1):
            _state.pending = {}
            try:
                with transaction.atomic():
                    result = fn(*args, **kwargs)
                    pending, _state.pending = _state.pending, None
                    _flush(pending)
                return result
            except OperationalError as error:
                if not _retryable(error) or attempt == attempts:
                    raise
                logger.warning("%s lost a deadlock; attempt %d again", fn.__qualname__, attempt)
                time.sleep(0.01 * attempt)
            finally:
                _state.pending = None
        raise AssertionError("unreachable")  # pragma: no cover

    return run
