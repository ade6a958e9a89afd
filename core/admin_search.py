"""The console's changelist search at scale: two ways to find the rows a word matches, and
the choice between them made by trying the cheap one first.

- **Walking**: one OR over the fields (``name LIKE … OR serial LIKE … OR owner's e-mail
  LIKE …``) read in the list's own order. PostgreSQL walks the tenant's ordered index and
  stops at the page's end, so a word that matches often ("MacBook" in a quarter of a
  partner's leases) costs a few rows: 1 ms for the page, 20 ms to count to a thousand. A word
  that matches almost nothing makes the same walk read every row in scope (0.8 s over a
  partner's 28,000 leases).
- **Uniting**: each field matched on its own, its trigram index used, and the matches' keys
  united: ``pk IN (… UNION …)``. Cheap for a rare word (a serial number); for a common one
  it builds the whole match set (a quarter of a million devices' names) before sorting it.

So the capped count is tried walking, with a statement time-out; a word common enough to
count quickly is then paged walking, and one that was not is counted and paged uniting. The
pages of a rare word pay the budget once (``WALK_BUDGET_MS``)."""

from __future__ import annotations

import json
import operator
from functools import reduce

from django.contrib.admin.utils import lookup_spawns_duplicates
from django.core.exceptions import ValidationError
from django.db import DatabaseError, connections, transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils.text import smart_split, unescape_string_literal

WALK_BUDGET_MS = 60  # a count's walk that runs longer is stopped and counted uniting
UNITE_BUDGET_MS = 10_000  # a guard only: the same statements either way
WALK_ROWS = 10_000  # at about 4 µs a row, a walk of 40 ms


def search_words(search_term: str) -> list[str]:
    """The words of a search, as Django's admin splits them ("quoted phrases" kept)."""
    words = []
    for bit in smart_split(search_term):
        if bit.startswith(('"', "'")) and bit[0] == bit[-1]:
            bit = unescape_string_literal(bit)
        words.append(bit)
    return words


def _matches(model, lookup: str, word: str) -> Q | Exists | None:
    """``lookup`` matching ``word`` as one condition on ``model``'s rows (a relation that
    holds many rows, such as an order's devices, as EXISTS so no row is doubled); None when
    the field cannot hold the word ("=id" and a name)."""
    try:
        if lookup_spawns_duplicates(model._meta, lookup):
            inner = model._default_manager.filter(pk=OuterRef("pk"), **{lookup: word})
            return Exists(inner)
        condition = Q(**{lookup: word})
        model._default_manager.filter(condition).query  # noqa: B018 - refuse a bad value now
        return condition
    except (ValueError, ValidationError):
        return None


def walking(queryset: QuerySet, lookups: list[str], words: list[str]) -> QuerySet:
    """Each word in some field, as one OR per word over the rows in scope."""
    for word in words:
        conditions = [c for c in (_matches(queryset.model, lk, word) for lk in lookups) if c]
        if not conditions:
            return queryset.none()
        queryset = queryset.filter(reduce(operator.or_, conditions))
    return queryset


def uniting(queryset: QuerySet, lookups: list[str], words: list[str]) -> QuerySet:
    """Each word in some field, as the union of each field's matching keys."""
    base = queryset.order_by()
    for word in words:
        parts = []
        for lookup in lookups:
            try:
                parts.append(base.filter(**{lookup: word}).values("pk"))
            except (ValueError, ValidationError):
                continue
        if not parts:
            return queryset.none()
        queryset = queryset.filter(pk__in=parts[0].union(*parts[1:]))
    return queryset


def estimated_rows(queryset: QuerySet) -> float:
    """The planner's estimate of the rows ``queryset`` returns (PostgreSQL's EXPLAIN)."""
    sql, params = queryset.values("pk").query.sql_with_params()
    with connections[queryset.db].cursor() as cursor:
        cursor.execute("EXPLAIN (FORMAT JSON) " + sql, params)
        plan = cursor.fetchone()[0]
    if isinstance(plan, str):
        plan = json.loads(plan)
    return float(plan[0]["Plan"]["Plan Rows"])


def count_within(queryset: QuerySet, cap: int, budget_ms: int = WALK_BUDGET_MS) -> int | None:
    """The rows of ``queryset``, counted to one past ``cap``, or None when PostgreSQL could
    not count them within ``budget_ms`` (the statement is cancelled, nothing else is)."""
    connection = connections[queryset.db]
    if connection.vendor != "postgresql":
        return queryset[: cap + 1].count()
    try:
        with transaction.atomic(using=queryset.db):
            with connection.cursor() as cursor:
                cursor.execute(f"SET LOCAL statement_timeout = {int(budget_ms)}")
            counted = queryset[: cap + 1].count()
            if len(connection.atomic_blocks) > 1:
                with connection.cursor() as cursor:  # an outer transaction goes on
                    cursor.execute("SET LOCAL statement_timeout TO DEFAULT")
            return counted
    except DatabaseError as exc:
        if getattr(exc.__cause__, "sqlstate", None) == "57014":  # query_canceled
            return None
        raise


def search(
    queryset: QuerySet,
    lookups: list[str],
    words: list[str],
    *,
    cap: int,
    offset: int,
    per_page: int,
) -> tuple[QuerySet, int | None]:
    """The matches of ``words`` as the page at ``offset`` is cheapest read, and their count
    to one past ``cap`` (None: the paginator counts).

    The planner's estimates of the matches and of the rows in scope give the share of rows
    that match, so the rows a walk would read: to count to ``cap`` and to fill the page. A
    walk that would read more than WALK_ROWS is not tried; a count's walk that overruns its
    time budget anyway (an estimate far too high) is counted again uniting. A count not
    capped is exact, and gives the share exactly."""
    walked = walking(queryset, lookups, words)
    if connections[queryset.db].vendor != "postgresql":
        return walked, None
    scope = max(estimated_rows(queryset), 1.0)
    share = max(estimated_rows(walked), 1.0) / scope
    united = uniting(queryset, lookups, words)
    counted = None
    if min(scope, (cap + 1) / share) <= WALK_ROWS:
        counted = count_within(walked, cap)
    if counted is None:
        counted = count_within(united, cap, UNITE_BUDGET_MS)
    if counted is not None:
        share = counted / scope if counted <= cap else max(share, counted / scope)
    walk_page = min(scope, (offset + per_page) / max(share, 1 / scope)) <= WALK_ROWS
    return (walked if walk_page else united), counted
