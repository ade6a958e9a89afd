"""Budget and payment use cases.

Every change to a budget is one BudgetEntry, written under a lock of the budget row, with
a unique key naming the event it records ("reserve:request:12"): a retried task, a double
click or two admins at once write it once. The Budget row's totals move with the entry in
the same transaction, so the ledger always adds up to the balance shown.

Card money goes through the payments boundary (``budgets.payments``): a CardPayment or
Refund row is written first, in the transaction that decides it; the gateway is called
after commit with the row's key as its idempotency key."""

from __future__ import annotations

import logging
import uuid
from datetime import date, timedelta
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, Sum
from django.utils import timezone

from companies.services import profiles_touch
from core.dates import add_months, add_months_checked
from core.forms import MONEY_LIMIT
from core.jobs import Retry, claim, due, enqueue_named
from core.locks import budget_lock, payment_lock
from core.tenancy import SYSTEM, acts_as_company_admin
from core.timers import scaled
from core.transactions import use_case
from devices.engine import actor_name

from .models import ZERO, Budget, BudgetEntry, CardPayment, Refund
from .payments import (
    CardDeclined,
    CardToken,
    GatewayUnavailable,
    PaymentError,
    get_gateway,
    to_minor,
)

logger = logging.getLogger(__name__)

CENT = Decimal("0.01")


class BudgetRefused(Exception):
    """A budget change that cannot be made; the message says why, for the user."""


def clean_amount(value, *, allow_negative: bool = False, allow_zero: bool = False) -> Decimal:
    """A money amount from input: a number with at most two decimals, not zero unless
    allowed (and not negative unless allowed)."""
    try:
        amount = Decimal(str(value).strip().replace(",", "."))
    except Exception:
        raise ValidationError("Enter an amount as a number, like 120.00.") from None
    if not amount.is_finite():
        raise ValidationError("Enter an amount as a number, like 120.00.")
    if amount != amount.quantize(CENT):
        raise ValidationError("Amounts have at most two decimals.")
    if amount == 0 and not allow_zero:
        raise ValidationError("The amount cannot be zero.")
    if amount < 0 and not allow_negative:
        raise ValidationError("The amount must be more than zero.")
    if abs(amount) > MONEY_LIMIT:
        raise ValidationError(f"Amounts are at most {MONEY_LIMIT:,} (a field of 12 digits).")
    return amount.quantize(CENT)


# --- Reading ---------------------------------------------------------------------------------


def _balance(budget_id: int, *, request_id=None, order_id=None) -> dict[str, Decimal]:
    """What is still reserved for a request, or committed to an order, on a budget."""
    rows = BudgetEntry.objects.filter(budget_id=budget_id)
    rows = rows.filter(request_id=request_id) if request_id else rows.filter(order_id=order_id)
    sums = rows.aggregate(reserved=Sum("reserved_delta"), committed=Sum("committed_delta"))
    return {k: (v or ZERO).quantize(CENT) for k, v in sums.items()}


# --- The one writer --------------------------------------------------------------------------


def _write(
    budget: Budget,
    kind: str,
    *,
    key: str,
    actor,
    amount: Decimal,
    allowance: Decimal = ZERO,
    reserved: Decimal = ZERO,
    committed: Decimal = ZERO,
    spent: Decimal = ZERO,
    request_id=None,
    order_id=None,
    reason: str = "",
    at=None,
) -> BudgetEntry | None:
    """Record one change on a budget the caller has locked. None when ``key`` was recorded
    already (the change is done; doing it again would count it twice)."""
    if BudgetEntry.objects.filter(key=key).exists():
        return None
    entry = BudgetEntry.objects.create(
        budget=budget,
        kind=kind,
        amount=amount,
        allowance_delta=allowance,
        reserved_delta=reserved,
        committed_delta=committed,
        spent_delta=spent,
        request_id=request_id,
        order_id=order_id,
        period_start=budget.period_start,
        reason=reason[:300],
        actor=actor if getattr(actor, "pk", None) else None,
        actor_name=actor_name(actor),
        key=key,
        created_at=at or timezone.now(),
    )
    budget.adjustments += allowance
    budget.reserved += reserved
    budget.committed += committed
    budget.spent += spent
    budget.save(update_fields=["adjustments", "reserved", "committed", "spent"])
    profiles_touch([budget.employee_id])
    return entry


# --- Use cases ---------------------------------------------------------------------------------


@use_case
@transaction.atomic
def budget_create(
    *,
    employee,
    allowance,
    category: str = "",
    period_months: int = 36,
    period_start=None,
    actor=SYSTEM,
) -> Budget:
    """Give an employee a budget (per category, or overall with an empty category)."""
    allowance = clean_amount(allowance)
    if employee.company_id is None:
        raise ValidationError("Only an employee of a company has a budget.")
    if period_months <= 0:
        raise ValidationError("A period is at least a month.")
    start = period_start or timezone.localdate()
    end = add_months_checked(start, period_months)
    budget = Budget.objects.create(
        company_id=employee.company_id,
        employee=employee,
        category=category,
        allowance=allowance,
        currency=employee.company.currency,
        period_months=period_months,
        period_start=start,
        period_end=end,
    )
    profiles_touch([employee.pk])
    return budget


@use_case
def budget_reserve(
    *, budget: Budget, amount: Decimal, request_id: int, actor, at=None
) -> BudgetEntry:
    """Reserve ``amount`` for a request on a budget the caller has locked; refused when it
    is more than what is available."""
    if amount <= 0:
        raise BudgetRefused("Nothing to reserve.")
    if amount > budget.available:
        raise BudgetRefused(
            f"This needs {amount} {budget.currency} of your {budget.category_label.lower()} "
            f"budget, and {budget.available} {budget.currency} is available."
        )
    return _write(
        budget,
        BudgetEntry.Kind.RESERVE,
        key=f"reserve:request:{request_id}",
        actor=actor,
        amount=amount,
        reserved=amount,
        request_id=request_id,
        at=at,
    )


def _budget_of(*, request_id=None, order_id=None) -> int | None:
    """The budget a request's or order's money sits on (from its ledger entries)."""
    rows = (
        BudgetEntry.objects.filter(request_id=request_id)
        if request_id
        else BudgetEntry.objects.filter(order_id=order_id)
    )
    return rows.values_list("budget_id", flat=True).first()


@use_case
def budget_commit(*, request_id: int, order_id: int, actor, at=None) -> None:
    """On approval: what the request reserved becomes committed to its order."""
    budget_id = _budget_of(request_id=request_id)
    if budget_id is None:
        return
    budget = budget_lock(budget_id)
    left = _balance(budget_id, request_id=request_id)["reserved"]
    if left > 0:
        _write(
            budget,
            BudgetEntry.Kind.COMMIT,
            key=f"commit:request:{request_id}",
            actor=actor,
            amount=left,
            reserved=-left,
            committed=left,
            request_id=request_id,
            order_id=order_id,
            at=at,
        )


@use_case
def budget_release_request(*, request_id: int, actor, reason: str) -> Decimal:
    """On rejection or withdrawal: what the request still reserves is available again."""
    budget_id = _budget_of(request_id=request_id)
    if budget_id is None:
        return ZERO
    budget = budget_lock(budget_id)
    left = _balance(budget_id, request_id=request_id)["reserved"]
    if left > 0:
        _write(
            budget,
            BudgetEntry.Kind.RELEASE,
            key=f"release:request:{request_id}",
            actor=actor,
            amount=left,
            reserved=-left,
            request_id=request_id,
            reason=reason,
        )
    return max(left, ZERO)


@use_case
def budget_release_order(
    *, order_id: int, amount: Decimal, actor, reason: str, key: str
) -> Decimal:
    """On cancellation: up to ``amount`` of what the order committed is available again.
    Returns what was released (nothing when ``key`` was recorded already)."""
    budget_id = _budget_of(order_id=order_id)
    if budget_id is None:
        return ZERO
    budget = budget_lock(budget_id)
    amount = min(amount, _balance(budget_id, order_id=order_id)["committed"])
    if amount <= 0:
        return ZERO
    entry = _write(
        budget,
        BudgetEntry.Kind.RELEASE,
        key=key,
        actor=actor,
        amount=amount,
        committed=-amount,
        order_id=order_id,
        reason=reason,
    )
    return amount if entry else ZERO


@use_case
def budget_spend(*, order_id: int, actor, at=None) -> Decimal:
    """On receipt of the order's last outstanding item: what it committed is spent."""
    budget_id = _budget_of(order_id=order_id)
    if budget_id is None:
        return ZERO
    budget = budget_lock(budget_id)
    left = _balance(budget_id, order_id=order_id)["committed"]
    if left <= 0:
        return ZERO
    _write(
        budget,
        BudgetEntry.Kind.SPEND,
        key=f"spend:order:{order_id}",
        actor=actor,
        amount=left,
        committed=-left,
        spent=left,
        order_id=order_id,
        at=at,
    )
    return left


@use_case
@transaction.atomic
def budget_adjust(*, budget_id: int, amount, reason: str, actor) -> BudgetEntry:
    """A company admin raises or lowers a budget for this period, with a reason."""
    amount = clean_amount(amount, allow_negative=True)
    if not reason.strip():
        raise ValidationError("Say why the budget changes.")
    budget = budget_lock(budget_id, actor=actor)
    if not acts_as_company_admin(actor):
        raise BudgetRefused("Only a company admin can adjust a budget.")
    if budget.total_allowance + amount < 0:
        raise BudgetRefused("A budget cannot go below zero.")
    if budget.total_allowance + amount > MONEY_LIMIT or abs(budget.adjustments + amount) > (
        MONEY_LIMIT
    ):
        raise BudgetRefused(f"A budget holds at most {MONEY_LIMIT:,}.")
    return _write(
        budget,
        BudgetEntry.Kind.ADJUST,
        key=f"adjust:{budget.pk}:{uuid.uuid4().hex}",
        actor=actor,
        amount=amount,
        allowance=amount,
        reason=reason.strip(),
    )


# Budgets one run of the daily job renews: far more than come due on any day, and each is
# its own short transaction.
RENEW_BATCH_SIZE = 500


def budgets_renew(today: date | None = None) -> int:
    """The daily job: budgets whose period has ended start a new one. Spending and
    adjustments of the old period no longer count; what is still reserved or committed
    (requests and orders in flight) carries over. Safe to run twice: the reset entry's key
    names the new period."""
    today = today or timezone.localdate()
    renewed = 0
    due = Budget.objects.filter(period_end__lte=today).order_by("pk").values_list("pk", flat=True)
    for pk in list(due[:RENEW_BATCH_SIZE]):
        with transaction.atomic():
            budget = budget_lock(pk)
            start = budget.period_start
            while add_months(start, budget.period_months) <= today:
                start = add_months(start, budget.period_months)
            if start == budget.period_start:
                continue
            _write(
                budget,
                BudgetEntry.Kind.RESET,
                key=f"reset:{budget.pk}:{start.isoformat()}",
                actor=SYSTEM,
                amount=budget.total_allowance,
                allowance=-budget.adjustments,
                spent=-budget.spent,
                reason=f"New period from {start:%d %b %Y}.",
            )
            budget.period_start = start
            budget.period_end = add_months(start, budget.period_months)
            budget.save(update_fields=["period_start", "period_end"])
            renewed += 1
    return renewed


# --- Card payments -----------------------------------------------------------------------------


def payment_create(
    *,
    employee,
    request_id: int | None,
    amount: Decimal,
    currency: str,
    token: CardToken,
    purpose: str,
    key: str = "",
    at=None,
):
    """Record a card payment to make (in the caller's transaction); ``payment_charge``
    makes it after commit."""
    return CardPayment.objects.create(
        company_id=employee.company_id,
        employee=employee,
        request_id=request_id,
        purpose=purpose[:200],
        amount=amount,
        currency=currency,
        gateway=get_gateway().name,
        payment_method=token.token,
        card_brand=token.brand,
        card_last4=token.last4,
        key=key or f"charge:request:{request_id}",
        created_at=at or timezone.now(),
    )


def payment_charge(payment_id: int) -> CardPayment:
    """Charge the card (after the payment row committed). Declined: the payment fails and
    ``CardDeclined`` is raised; gateway down: it stays pending and ``GatewayUnavailable``
    is raised (the same key makes a later attempt safe)."""
    payment = CardPayment.objects.get(pk=payment_id)
    if payment.status != CardPayment.Status.PENDING:
        return payment
    try:
        result = get_gateway().charge(
            amount_minor=to_minor(payment.amount),
            currency=payment.currency,
            token=payment.payment_method,
            idempotency_key=payment.key,
            description=payment.purpose,
        )
    except CardDeclined as exc:
        CardPayment.objects.filter(pk=payment.pk, status=CardPayment.Status.PENDING).update(
            status=CardPayment.Status.FAILED, error=str(exc)[:300], completed_at=timezone.now()
        )
        raise
    except GatewayUnavailable as exc:
        CardPayment.objects.filter(pk=payment.pk).update(error=str(exc)[:300])
        raise
    CardPayment.objects.filter(pk=payment.pk, status=CardPayment.Status.PENDING).update(
        status=CardPayment.Status.SUCCEEDED,
        charge_id=result.charge_id,
        error="",
        completed_at=timezone.now(),
    )
    payment.refresh_from_db()
    return payment


def refund_create(*, payment_id: int, amount: Decimal, reason: str, key: str) -> Refund | None:
    """Decide a refund (in the caller's transaction): at most what is left of the payment,
    once per ``key``. Sent to the gateway after commit."""
    payment = payment_lock(payment_id)
    if payment.status != CardPayment.Status.SUCCEEDED:
        return None
    amount = min(amount, payment.refundable)
    if amount <= 0 or Refund.objects.filter(key=key).exists():
        return None
    refund = Refund.objects.create(payment=payment, amount=amount, reason=reason[:300], key=key)
    CardPayment.objects.filter(pk=payment.pk).update(refunded=F("refunded") + amount)
    profiles_touch([payment.employee_id])
    transaction.on_commit(lambda: _enqueue_refund(refund.pk))
    return refund


def _enqueue_refund(refund_id: int) -> None:
    # By name: the tasks module imports this one.
    enqueue_named("budgets.tasks.execute_refund", refund_id)


# A refund attempt holds its row this long; a worker that died is replaced after it.
REFUND_CLAIM_SECONDS = 120
# 1 min, 2, 4 ... capped at 1 hour: the gateway is asked again until it answers.
REFUND_RETRY = Retry(base=60, cap=3600)


def refund_execute(refund_id: int, *, due_only: bool = False) -> str:
    """Send one refund to the gateway. "refunded", "skipped" (done, or another worker holds
    it) or "error" (kept for a retry with backoff, visible to the company admin)."""
    rows = Refund.objects.filter(
        pk=refund_id, status__in=[Refund.Status.PENDING, Refund.Status.FAILED]
    )
    due_field = "next_attempt_at" if due_only else None
    if claim(rows, hold_seconds=scaled(REFUND_CLAIM_SECONDS), due_field=due_field) is None:
        return "skipped"
    refund = Refund.objects.select_related("payment").get(pk=refund_id)
    try:
        result = get_gateway().refund(
            charge_id=refund.payment.charge_id,
            amount_minor=to_minor(refund.amount),
            currency=refund.payment.currency,
            idempotency_key=refund.key,
        )
    except PaymentError as exc:
        Refund.objects.filter(pk=refund.pk).update(
            status=Refund.Status.FAILED,
            last_error=str(exc)[:300],
            claimed_until=None,
            next_attempt_at=REFUND_RETRY.next_at(refund.attempts),
        )
        logger.warning("refund %s failed (attempt %s): %s", refund.pk, refund.attempts, exc)
        return "error"
    if result.status != "succeeded":
        # The gateway took it but has not finished (Stripe says "pending"): asked again
        # later under the same key, which answers with the same refund and its new state.
        Refund.objects.filter(pk=refund.pk).update(
            status=Refund.Status.PENDING,
            refund_id=result.refund_id,
            last_error="",
            claimed_until=None,
            next_attempt_at=timezone.now() + timedelta(seconds=REFUND_PENDING_RECHECK_SECONDS),
        )
        return "waiting"
    Refund.objects.filter(pk=refund.pk).update(
        status=Refund.Status.SUCCEEDED,
        refund_id=result.refund_id,
        last_error="",
        claimed_until=None,
        completed_at=timezone.now(),
    )
    profiles_touch([refund.payment.employee_id])
    return "refunded"


# A refund the gateway has accepted but not finished is asked about again after this.
REFUND_PENDING_RECHECK_SECONDS = 600
# The sweeper leaves a new refund this long to the task queued for it at commit.
REFUND_SWEEP_GRACE_SECONDS = 30
# Refunds one periodic run retries: the gateway's rate limit is far above this.
REFUND_RETRY_BATCH = 100


def refunds_retry_due() -> dict[str, int]:
    """Periodic: retry refunds that failed (or were never sent) once their time has come."""
    ids = due(
        Refund.objects.filter(status__in=[Refund.Status.PENDING, Refund.Status.FAILED]),
        due_field="next_attempt_at",
        limit=REFUND_RETRY_BATCH,
        grace_seconds=scaled(REFUND_SWEEP_GRACE_SECONDS),
    )
    counts = {"refunded": 0, "skipped": 0, "error": 0, "waiting": 0}
    for pk in ids:
        counts[refund_execute(pk, due_only=True)] += 1
    return counts
