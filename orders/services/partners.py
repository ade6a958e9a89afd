"""Working with partners: placing approved orders through their adapter, and following
their tracking (the poller), applying every change through the lifecycle services in bulk.

Placing: ``order_dispatch`` claims the order (a conditional UPDATE, so a retry or a second
worker never places it twice), calls the adapter (idempotent on Velory's order id at the
partner) and records the result; failures are retried with backoff by ``orders_dispatch_due``
and, after the last attempt, flagged to the company admins.

Tracking: ``partner_poll`` claims a chunk of one partner's due orders (SKIP LOCKED, so
several pollers of a partner take different chunks and share its request rate), fetches
them in batches with bounded concurrency within a time budget, and hands each batch
to ``tracking_apply``, which locks the batch's orders, keeps only versions it has not
applied, and moves devices along their lifecycle one transition at a time for the whole
batch: the statements grow with batches and transitions, not with orders."""

from __future__ import annotations

import logging
import time
from collections import defaultdict, deque
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import timedelta

from django.db import close_old_connections, transaction
from django.db.models import Count, F, Q
from django.utils import timezone

from companies.models import User
from companies.services import profiles_touch
from devices.models import PROGRESS, WITH_PARTNER_STATUSES, Device, DeviceStatus, Source
from devices.services import devices_walk, mail_owners
from notifications.services import Message, notify_many
from velory.bulk import update_rows
from velory.tenancy import SYSTEM

from ..distributors import AdapterError, OrderUpdate, adapter_for
from ..distributors.base import order_number
from ..models import (
    DispatchStatus,
    DistributorConnection,
    Order,
    OrderEvent,
    Shipment,
    ShipmentEvent,
)
from .lifecycle import (
    STEPS_MAILED,
    _after_received,
    _mail_shipped,
    order_event,
    schedule_dispatch,
)

logger = logging.getLogger("velory.distributors")
S = DeviceStatus

# -- placing orders -----------------------------------------------------------------------------

# Attempts before an order that cannot be placed is flagged (about an hour of backoff).
MAX_DISPATCH_ATTEMPTS = 7
DISPATCH_CLAIM_SECONDS = 120
# The first poll of a placed order: soon, the partner usually acknowledges quickly.
FIRST_POLL_SECONDS = 30


def dispatch_backoff(attempts: int) -> int:
    """30 s, 1 min, 2, 4, 8, 16 … capped at 30 min."""
    return min(30 * 2 ** max(attempts - 1, 0), 1800)


def order_dispatch(order_id: int) -> str:
    """Place one approved order with its partner. Returns "placed", "skipped" (placed
    already, not due, or another worker holds it), "retry" or "failed"."""
    now = timezone.now()
    # The claim's end time is also its token: only the worker holding it writes the outcome
    # (a worker whose claim ran out and was taken over writes nothing).
    token = now + timedelta(seconds=DISPATCH_CLAIM_SECONDS)
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
        placement = adapter.place_order(order)
    except AdapterError as error:
        return _dispatch_failed(order, error, token)
    except Exception as exc:  # a bug or a surprise: retried with backoff, flagged at the end
        logger.exception("order placing crashed order=%s", order.number)
        return _dispatch_failed(
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


def _dispatch_failed(order: Order, error: AdapterError, token) -> str:
    attempts = order.dispatch_attempts
    give_up = not error.retryable or attempts >= MAX_DISPATCH_ATTEMPTS
    delay = max(dispatch_backoff(attempts), error.retry_after or 0)
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


def order_dispatch_retry(*, order_id: int, actor) -> Order:
    """A company admin (or partner staff) asks to try placing a failed order again."""
    with transaction.atomic():
        order = Order.objects.visible_to(actor).select_for_update().get(pk=order_id)
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
        transaction.on_commit(lambda: schedule_dispatch(order.pk))
    return order


# Orders one periodic run tries to place: each is one partner call.
DISPATCH_BATCH_SIZE = 50


def orders_dispatch_due() -> dict[str, int]:
    """Periodic: place orders whose (re)try time has come, and orders whose placing task
    was lost (the broker was down at approval)."""
    now = timezone.now()
    due = Order.objects.filter(dispatch_status=DispatchStatus.PENDING).filter(
        Q(dispatch_next_at__lte=now)
        | Q(dispatch_next_at__isnull=True, created_at__lte=now - timedelta(minutes=2))
    )
    counts = defaultdict(int)
    for pk in due.order_by("pk").values_list("pk", flat=True)[:DISPATCH_BATCH_SIZE]:
        try:
            counts[order_dispatch(pk)] += 1
        except Exception:  # one order's surprise never stops the others
            logger.exception("order placing failed order=%s", order_number(pk))
            counts["error"] += 1
    return dict(counts)


# -- applying what partners report ----------------------------------------------------------

PARTNER_TRANSITIONS = (
    "acknowledge",
    "start_preparing",
    "put_on_hold",
    "backorder",
    "ship",
    "deliver",
    "cancel",
)
# The order the steps of a batch are applied in: each device moves one step at a time.
STEP_ORDER = PARTNER_TRANSITIONS


def _graph() -> dict[str, list[tuple[str, str]]]:
    graph: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for name in PARTNER_TRANSITIONS:
        for source, t in getattr(Device, name)._django_fsm.transitions.items():
            graph[source].append((t.target, name))
    return graph


_GRAPH = None


# The main road from order to door: a unit reported further along it takes every step.
MAIN_ROAD = [S.ORDERED, S.NOT_STARTED, S.PREPARING, S.SHIPPED, S.DELIVERED]
MAIN_STEP = {
    S.ORDERED: "acknowledge",
    S.NOT_STARTED: "start_preparing",
    S.PREPARING: "ship",
    S.SHIPPED: "deliver",
}


def path(from_status: str, to_status: str) -> list[str] | None:
    """The chain of partner transitions from one status to another (forward only): along
    the main road every step (Ordered → Not started → Preparing → Shipped → Delivered),
    otherwise the shortest chain; [] when already there, None when unreachable or
    backwards."""
    global _GRAPH
    if _GRAPH is None:
        _GRAPH = _graph()
    if from_status == to_status:
        return []
    if from_status in MAIN_ROAD and to_status in MAIN_ROAD:
        start, end = MAIN_ROAD.index(from_status), MAIN_ROAD.index(to_status)
        return [MAIN_STEP[s] for s in MAIN_ROAD[start:end]] if end > start else None
    # One partner transition straight there (Preparing → On hold or Backordered) is a move
    # the lifecycle allows, not a step back.
    for target, name in _GRAPH.get(from_status, []):
        if target == to_status:
            return [name]
    if to_status != S.CANCELLED and PROGRESS[to_status] < PROGRESS[from_status]:
        return None
    seen, queue = {from_status}, deque([(from_status, [])])
    while queue:
        status, steps = queue.popleft()
        for target, name in _GRAPH.get(status, []):
            if target in seen:
                continue
            if target == to_status:
                return [*steps, name]
            seen.add(target)
            queue.append((target, [*steps, name]))
    return None


# Polling intervals: soon after a change, slower and slower while nothing happens.
MIN_POLL_SECONDS = 60
MAX_POLL_SECONDS = 3600


@dataclass
class ApplyReport:
    changed_orders: int = 0
    transitions: int = 0
    stale: int = 0
    skipped: list = field(default_factory=list)  # (order id, why)


def tracking_apply(
    partner_id: int, updates: list[OrderUpdate], polled: list[int], now=None
) -> ApplyReport:
    """Apply one batch of a partner's answers; ``polled`` are all the orders asked about
    (those without news are rescheduled, with a longer interval)."""
    now = now or timezone.now()
    report = ApplyReport()
    with transaction.atomic():
        orders = {
            o.pk: o
            for o in Order.objects.select_for_update()
            .filter(pk__in=polled, partner_id=partner_id)
            .only(
                "pk",
                "partner_version",
                "poll_interval",
                "employee_id",
                "expected_delivery",
                "partner_id",
            )
        }
        fresh = [
            u
            for u in updates
            if u.order_pk in orders and u.version > orders[u.order_pk].partner_version
        ]
        report.stale = len(updates) - len(fresh)
        devices = list(
            Device.objects.filter(order_id__in=[u.order_pk for u in fresh])
            .values("pk", "order_id", "status", "company__auto_receive_on_delivery")
            .order_by("pk")
        )
        by_order = defaultdict(list)
        for d in devices:
            by_order[d["order_id"]].append(d)
        plans: dict[int, list] = {}  # device → the steps to its reported status
        cancels: dict[int, list[int]] = defaultdict(list)  # order → devices to cancel
        for update in fresh:
            for d in by_order.get(update.order_pk, []):
                target = update.item_statuses.get(d["pk"], update.status)
                steps = path(d["status"], target)
                if steps is None:
                    report.skipped.append(
                        (update.order_pk, f"{d['status']} → {target} is backwards")
                    )
                    continue
                if steps and steps[-1] == "cancel":  # money comes back: the cancellation service
                    cancels[update.order_pk].append(d["pk"])
                    steps = steps[:-1]
                if steps and steps[-1] == "deliver" and d["company__auto_receive_on_delivery"]:
                    steps = [*steps, ("mark_received", AUTO_RECEIVE_NOTE)]
                if steps:
                    plans[d["pk"]] = steps
        shipments = _record_shipments(fresh, now)
        if plans:
            outcomes = devices_walk(
                plans=plans,
                actor=SYSTEM,
                source=Source.POLL,
                note="Reported by the partner.",
                params_for=lambda d, name: _step_params(d, name, shipments, now),
                at=now,
            )
            report.transitions += sum(len(o.steps) for o in outcomes)
            _after_walk(outcomes, shipments, now)
        for order_id, ids in cancels.items():
            from .cancellation import order_cancel

            order_cancel(
                order_id=order_id,
                actor=SYSTEM,
                reason="Cancelled by the partner.",
                source=Source.POLL,
                device_ids=ids,
            )
            report.transitions += len(ids)
        _reschedule(orders, fresh, now, report)
    return report


AUTO_RECEIVE_NOTE = "Received automatically on delivery (company policy)."


def _step_params(device, name: str, shipments: dict[int, Shipment], now) -> dict:
    if name == "ship":
        shipment = shipments.get(device.order_id)
        return {"shipment_id": shipment.pk if shipment else None, "at": now}
    if name == "deliver":
        return {"at": now}
    if name == "mark_received":
        return {"received_on": timezone.localdate(now)}
    return {}


def _after_walk(outcomes, shipments: dict[int, Shipment], now) -> None:
    """What the steps taken mean for people, as the use cases do it: the employee hears of
    a shipment and of a delivery waiting for them, a received order spends its budget, a
    delivered shipment is marked so."""
    moved = [o for o in outcomes if o.steps]
    _mail_shipped(
        [o for o in moved if "ship" in o.steps and o.device.order_id in shipments], shipments
    )
    hold_or_backorder = [o for o in moved if o.steps[-1] in STEPS_MAILED]
    for kind in {STEPS_MAILED[o.steps[-1]] for o in hold_or_backorder}:
        mail_owners([o for o in hold_or_backorder if STEPS_MAILED[o.steps[-1]] == kind], kind)
    mail_owners([o for o in moved if o.steps[-1] == "deliver"], "device_delivered")
    _after_received([o.device for o in moved if o.steps[-1] == "mark_received"], SYSTEM, now)
    delivered = {
        o.device.shipment_id for o in moved if "deliver" in o.steps and o.device.shipment_id
    }
    if delivered:
        Shipment.objects.filter(pk__in=delivered, delivered_at__isnull=True).update(
            delivered_at=now, status_text="Delivered"
        )


def _record_shipments(updates: list[OrderUpdate], now) -> dict[int, Shipment]:
    """Every order's first reported shipment, created or updated set-based, with its new
    carrier events. Returns order id → shipment."""
    wanted = {u.order_pk: u.shipments[0] for u in updates if u.shipments}
    if not wanted:
        return {}
    shipments = {s.order_id: s for s in Shipment.objects.filter(order_id__in=wanted)}
    # The batch's orders are locked by the caller: nobody else adds their shipment now, so
    # the rows are inserted plainly and come back with their ids (no second read).
    new = Shipment.objects.bulk_create(
        [
            Shipment(
                order_id=order_id,
                carrier=info.carrier,
                tracking_number=info.tracking_number,
                tracking_url=info.tracking_url,
                status_text=info.status_text,
                expected_delivery=info.expected_delivery,
                shipped_at=info.events[0][0] if info.events else now,
            )
            for order_id, info in wanted.items()
            if order_id not in shipments
        ]
    )
    shipments.update({s.order_id: s for s in new})
    changed: dict[int, dict] = {}
    for order_id, info in wanted.items():
        shipment = shipments.get(order_id)
        if shipment is None:
            continue
        fresh = {"status_text": info.status_text, "expected_delivery": info.expected_delivery}
        # A carrier or tracking number reported later fills in (never blanks) what we have.
        for name in ("carrier", "tracking_number", "tracking_url"):
            if getattr(info, name):
                fresh[name] = getattr(info, name)
        diff = {k: v for k, v in fresh.items() if getattr(shipment, k) != v}
        if diff:
            for name, value in diff.items():
                setattr(shipment, name, value)
            changed[shipment.pk] = {k: getattr(shipment, k) for k in fresh}
    if changed:
        update_rows(Shipment, changed)
    ShipmentEvent.objects.bulk_create(
        [
            ShipmentEvent(shipment=shipments[order_id], at=at, description=text, location=where)
            for order_id, info in wanted.items()
            if order_id in shipments
            for at, text, where in info.events
        ],
        ignore_conflicts=True,
    )
    return shipments


def _reschedule(orders: dict, fresh: list[OrderUpdate], now, report: ApplyReport) -> None:
    """One UPDATE for the batch: versions applied, the next poll time (soon for orders that
    changed, later and later for quiet ones), tracking closed for orders that arrived."""
    if not orders:
        return
    changed = {u.order_pk: u for u in fresh}
    report.changed_orders = len(changed)
    done = set(
        Order.objects.filter(pk__in=orders)
        .exclude(
            devices__status__in=[
                S.ORDERED,
                S.NOT_STARTED,
                S.ON_HOLD,
                S.PREPARING,
                S.BACKORDERED,
                S.SHIPPED,
            ]
        )
        .values_list("pk", flat=True)
    )
    rows = {}
    for pk, order in orders.items():
        update = changed.get(pk)
        interval = (
            MIN_POLL_SECONDS
            if update
            else min(max(order.poll_interval * 2, MIN_POLL_SECONDS), MAX_POLL_SECONDS)
        )
        row = {
            "poll_interval": interval,
            "next_poll_at": now + timedelta(seconds=interval),
            "tracking_open": pk not in done,
        }
        if update:
            row.update(partner_version=update.version, partner_status=update.raw_status[:40])
            if update.expected_delivery is not None:
                row["expected_delivery"] = update.expected_delivery
        rows[pk] = row
    update_rows(Order, rows, {"last_polled_at": now})
    touched = {o.employee_id for pk, o in orders.items() if pk in changed}
    if touched:
        profiles_touch(touched)


# -- the poller ---------------------------------------------------------------------------------

# Orders one polling task takes on: five calls of a hundred; a partner with more due orders
# gets several tasks, which share its request rate and run side by side on the workers.
POLL_CHUNK = 500
# Tasks one periodic run starts per partner (the rest wait for the next run, 30 s later).
MAX_TASKS_PER_PARTNER = 20
# Calls in flight to one partner at once (within its rate limit): hides the latency.
FETCH_CONCURRENCY = 4
# A failed call is tried again this many times in the same run before its orders wait.
FETCH_RETRIES = 2
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
    live = DistributorConnection.objects.filter(adapter="http", enabled=True).filter(
        Q(backoff_until__isnull=True) | Q(backoff_until__lte=now)
    )
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
        ids = list(
            Order.objects.select_for_update(skip_locked=True)
            .filter(partner_id=partner_id, tracking_open=True, next_poll_at__lte=now)
            .order_by("next_poll_at", "pk")
            .values_list("pk", flat=True)[:limit]
        )
        if ids:
            Order.objects.filter(pk__in=ids).update(
                next_poll_at=now + timedelta(seconds=POLL_CLAIM_SECONDS)
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
                try:
                    applied = tracking_apply(partner_id, result.updates, batch, now=timezone.now())
                except Exception as exc:  # one batch's failure never takes the others down
                    logger.exception(
                        "poll batch could not be applied partner=%s orders=%s",
                        connection.partner.name,
                        ",".join(order_number(pk) for pk in batch[:20]),
                    )
                    report.failed += len(batch)
                    failed += batch
                    errors.append(f"Velory could not apply an answer: {type(exc).__name__}.")
                    continue
                report.changed += applied.changed_orders
    finally:
        _finish_poll(connection, report, errors, failed)
        report.seconds = time.monotonic() - started
        report.log()
    return report


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
            backoff_until=now + timedelta(seconds=min(30 * 2 ** (failures - 1), 1800)),
        )
    elif report.polled:
        fields.update(consecutive_failures=0, backoff_until=None, last_success_at=now)
    if fields:
        DistributorConnection.objects.filter(pk=connection.pk).update(**fields)
    if failed:  # their turn comes again soon (not the partner's whole backoff)
        Order.objects.filter(pk__in=failed).update(
            next_poll_at=now + timedelta(seconds=MIN_POLL_SECONDS)
        )
