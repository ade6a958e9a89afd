"""Placing approved orders with their partner, through the partner's adapter.

``order_place`` claims the order (a conditional UPDATE, so a retry or a second worker never
places it twice), calls the adapter (idempotent on Velory's order id at the partner) and
records the result; failures are retried with backoff by ``orders_place_due`` and, after
the last attempt, flagged to the company admins, who can ask for it to be placed again."""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from datetime import timedelta

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from budgets.models import CardPayment
from companies.models import User
from core.jobs import Retry
from core.locks import order_lock
from core.tenancy import SYSTEM
from core.timers import scaled_delta
from core.transactions import use_case
from devices.models import WITH_PARTNER_STATUSES
from notifications.services import Message, notify_many
from orders.models import DispatchStatus, Order, OrderEvent, order_number
from orders.services import order_event, order_place_later

from ..adapters import AdapterError, adapter_for

logger = logging.getLogger("velory.distributors")

# Attempts before an order that cannot be placed is flagged (about an hour of backoff).
MAX_PLACE_ATTEMPTS = 7
# Calls one attempt makes before it backs off: a passing fault rarely survives three.
PLACE_TRIES_IN_RUN = 3
# 30 s, 1 min, 2, 4, 8, 16 … capped at 30 min.
PLACE_BACKOFF = Retry(base=30, cap=1800)
PLACE_CLAIM_SECONDS = 120
# An approved order whose placing task never reached the broker is placed by the sweeper
# after this (a task that did reach it has placed the order by then).
PLACE_UNSENT_AFTER_SECONDS = 120
# An order is not placed while its card part is in one of these (not captured).
UNPAID = (CardPayment.Status.PENDING, CardPayment.Status.AUTHORIZED, CardPayment.Status.EXPIRED)
# The first poll of a placed order: soon, the partner usually acknowledges quickly.
FIRST_POLL_SECONDS = 30


def order_place(order_id: int) -> str:
    """Place one approved order with its partner. Returns "placed", "skipped" (placed
    already, not due, or another worker holds it), "waiting" (its card part is not
    captured yet), "retry" or "failed"."""
    now = timezone.now()
    if CardPayment.objects.filter(request__order_id=order_id, status__in=UNPAID).exists():
        # The card part is not captured yet: the capture places the order when it is done
        # (this hourly look is only a net under a lost task).
        Order.objects.filter(pk=order_id, dispatch_status=DispatchStatus.PENDING).update(
            dispatch_next_at=now + timedelta(hours=1)
        )
        return "waiting"
    # The claim's end time is also its token: only the worker holding it writes the outcome
    # (a worker whose claim ran out and was taken over writes nothing).
    token = now + scaled_delta(PLACE_CLAIM_SECONDS)
    claimed = (
        Order.objects.filter(pk=order_id, dispatch_status=DispatchStatus.PENDING)
        .filter(Q(dispatch_claimed_until__isnull=True) | Q(dispatch_claimed_until__lt=now))
        .update(dispatch_claimed_until=token, dispatch_attempts=F("dispatch_attempts") + 1)
    )
    if not claimed:
        return "skipped"
    order = Order.objects.select_related("partner", "employee", "company").get(pk=order_id)
    if not order.devices.filter(status__in=WITH_PARTNER_STATUSES).exists():
        return _not_placed(order, token)
    adapter = adapter_for(order.partner)
    try:
        placement = _place_now(adapter, order)
    except AdapterError as error:
        return _place_failed(order, error, token)
    except Exception as exc:  # a bug or a surprise: retried with backoff, flagged at the end
        logger.exception("order placing crashed order=%s", order.number)
        return _place_failed(
            order, AdapterError(f"Velory could not place it: {type(exc).__name__}."), token
        )
    with transaction.atomic():
        mine = Order.objects.filter(
            pk=order.pk, dispatch_status=DispatchStatus.PENDING, dispatch_claimed_until=token
        ).update(
            dispatch_status=DispatchStatus.PLACED,
            partner_ref=placement.partner_ref,
            placed_at=timezone.now(),
            dispatch_error="",
            dispatch_claimed_until=None,
            tracking_open=adapter.tracks,
            next_poll_at=timezone.now() + timedelta(seconds=FIRST_POLL_SECONDS)
            if adapter.tracks
            else None,
            poll_interval=FIRST_POLL_SECONDS,
        )
        if not mine:  # another worker took over and wrote the outcome (the same placement)
            return "skipped"
        how = (
            f"through its API (reference {placement.partner_ref})"
            if adapter.tracks
            else "by e-mail"
        )
        order_event(
            order,
            SYSTEM,
            OrderEvent.Kind.PARTNER_NOTIFIED,
            f"Placed with {order.partner.name} {how}.",
        )
    logger.info(
        "order placed order=%s partner=%s ref=%s",
        order.number,
        order.partner.name,
        placement.partner_ref,
    )
    return "placed"


def _place_now(adapter, order):
    """Place the order, trying again at once a couple of times on a passing failure (a 5xx,
    a timeout) as polling does: placing is idempotent on Velory's order number at the
    partner, so a retry never orders twice. A failure that outlasts them backs off."""
    for attempt in range(1, PLACE_TRIES_IN_RUN + 1):
        try:
            return adapter.place_order(order)
        except AdapterError as error:
            wait = error.retry_after or 0.1 * 2 ** (attempt - 1)
            if not error.retryable or attempt == PLACE_TRIES_IN_RUN or wait > 2:
                raise
            time.sleep(wait)
    raise AssertionError("unreachable")  # pragma: no cover


def _not_placed(order: Order, token) -> str:
    """Every item was cancelled before the order reached the partner: nothing to place."""
    with transaction.atomic():
        mine = Order.objects.filter(
            pk=order.pk, dispatch_status=DispatchStatus.PENDING, dispatch_claimed_until=token
        ).update(dispatch_status=DispatchStatus.MANUAL, dispatch_claimed_until=None)
        if mine:
            order_event(
                order,
                SYSTEM,
                OrderEvent.Kind.NOTE,
                f"Not placed with {order.partner.name}: every item was cancelled first.",
            )
    return "skipped"


def _place_failed(order: Order, error: AdapterError, token) -> str:
    attempts = order.dispatch_attempts
    give_up = not error.retryable or attempts >= MAX_PLACE_ATTEMPTS
    delay = max(PLACE_BACKOFF.delay(attempts), error.retry_after or 0)
    with transaction.atomic():
        mine = Order.objects.filter(
            pk=order.pk, dispatch_status=DispatchStatus.PENDING, dispatch_claimed_until=token
        ).update(
            dispatch_status=DispatchStatus.FAILED if give_up else DispatchStatus.PENDING,
            dispatch_error=str(error)[:300],
            dispatch_claimed_until=None,
            dispatch_next_at=None if give_up else timezone.now() + timedelta(seconds=delay),
        )
        if not mine:  # the claim ran out and another worker has the order now
            logger.warning("order placing outcome dropped order=%s: claim lost", order.number)
            return "skipped"
        if give_up:
            order_event(
                order,
                SYSTEM,
                OrderEvent.Kind.NOTE,
                f"Could not be placed with {order.partner.name}: {error}",
            )
            admins = User.objects.company_admins(order.company_id)
            notify_many(
                [
                    Message(
                        kind="order_dispatch_failed",
                        recipient=admin,
                        context={"order": order, "error": str(error), "attempts": attempts},
                        dedup_key=f"order_dispatch_failed:{order.pk}:{attempts}:{admin.pk}",
                    )
                    for admin in admins
                ]
            )
    logger.warning(
        "order placing failed order=%s partner=%s attempt=%s retry=%s error=%s",
        order.number,
        order.partner.name,
        attempts,
        not give_up,
        error,
    )
    return "failed" if give_up else "retry"


@use_case
def order_place_retry(*, order_id: int, actor) -> Order:
    """A company admin (or partner staff) asks to try placing a failed order again."""
    with transaction.atomic():
        order = order_lock(order_id, actor=actor)
        if order.dispatch_status != DispatchStatus.FAILED:
            return order
        Order.objects.filter(pk=order.pk).update(
            dispatch_status=DispatchStatus.PENDING,
            dispatch_attempts=0,
            dispatch_next_at=timezone.now(),
        )
        order_event(
            order, actor, OrderEvent.Kind.NOTE, "Asked to place the order with the partner again."
        )
        transaction.on_commit(lambda: order_place_later(order.pk))
    return order


# Orders one periodic run tries to place: each is one partner call.
PLACE_BATCH_SIZE = 50


def orders_place_due() -> dict[str, int]:
    """Periodic: place orders whose (re)try time has come, and orders whose placing task
    was lost (the broker was down at approval)."""
    now = timezone.now()
    unsent = now - scaled_delta(PLACE_UNSENT_AFTER_SECONDS)
    due = Order.objects.filter(dispatch_status=DispatchStatus.PENDING).filter(
        Q(dispatch_next_at__lte=now) | Q(dispatch_next_at__isnull=True, created_at__lte=unsent)
    )
    counts = defaultdict(int)
    for pk in due.order_by("pk").values_list("pk", flat=True)[:PLACE_BATCH_SIZE]:
        try:
            counts[order_place(pk)] += 1
        except Exception:  # one order's surprise never stops the others
            logger.exception("order placing failed order=%s", order_number(pk))
            counts["error"] += 1
    return dict(counts)
