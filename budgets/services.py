"""Budget and payment use cases.

Every change to a budget is one BudgetEntry, written under a lock of the budget row, with
a unique key naming the event it records ("reserve:request:12"): a retried task, a double
click or two admins at once write it once. The Budget row's totals move with the entry in
the same transaction, so the ledger always adds up to the balance shown.

Card money goes through the payments boundary (``budgets.payments``): a CardPayment or
Refund row is written first, in the transaction that decides it; the processor is called
after commit with the row's key as its idempotency key. The card itself is entered on the
processor's hosted page, never in Velory."""

from __future__ import annotations

import logging
import uuid
from datetime import date, timedelta
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, Q, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from companies.models import Currency
from companies.services import profiles_touch
from core.dates import add_months, add_months_checked
from core.forms import MONEY_LIMIT
from core.jobs import Retry, claim, due, enqueue_named
from core.locks import budget_lock, payment_lock
from core.money import money
from core.tenancy import SYSTEM, acts_as_company_admin
from core.timers import scaled, scaled_delta
from core.transactions import use_case
from devices.engine import actor_name
from notifications.services import notify
from notifications.site import site_url

from .models import ZERO, Budget, BudgetEntry, BudgetPolicy, CardPayment, PaymentMismatch, Refund
from .payments import (
    PaymentError,
    PaymentState,
    WrongState,
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
        raise ValidationError(_("Enter an amount as a number, like 120.00.")) from None
    if not amount.is_finite():
        raise ValidationError(_("Enter an amount as a number, like 120.00."))
    if amount != amount.quantize(CENT):
        raise ValidationError(_("Amounts have at most two decimals."))
    if amount == 0 and not allow_zero:
        raise ValidationError(_("The amount cannot be zero."))
    if amount < 0 and not allow_negative:
        raise ValidationError(_("The amount must be more than zero."))
    if abs(amount) > MONEY_LIMIT:
        raise ValidationError(
            _("Amounts are at most %(limit)s (a field of 12 digits).")
            % {"limit": f"{MONEY_LIMIT:,}"}
        )
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
    currency: str = "",
    actor=SYSTEM,
) -> Budget:
    """Give an employee a budget (per category, or overall with an empty category), in
    ``currency`` (the company's when empty: an office may budget in its own)."""
    allowance = clean_amount(allowance)
    if employee.company_id is None:
        raise ValidationError(_("Only an employee of a company has a budget."))
    currency = currency or employee.company.currency
    if currency not in Currency.values:
        raise ValidationError(
            _("%(currency)s is not a currency Velory budgets in.") % {"currency": currency}
        )
    if period_months <= 0:
        raise ValidationError(_("A period is at least a month."))
    start = period_start or timezone.localdate()
    end = add_months_checked(start, period_months)
    budget = Budget.objects.create(
        company_id=employee.company_id,
        employee=employee,
        category=category,
        allowance=allowance,
        currency=currency,
        period_months=period_months,
        period_start=start,
        period_end=end,
    )
    profiles_touch([employee.pk])
    return budget


def budget_policies_for(employee) -> dict[str, BudgetPolicy]:
    """The policies that name this person, one per category: a group's over a cost
    centre's over the company-wide one; of two equally specific, the larger allowance."""
    group_ids = set(employee.employee_groups.values_list("pk", flat=True))
    best: dict[str, BudgetPolicy] = {}
    for policy in BudgetPolicy.objects.filter(company_id=employee.company_id):
        if policy.group_id and policy.group_id not in group_ids:
            continue
        if policy.cost_centre and policy.cost_centre != employee.cost_centre:
            continue
        current = best.get(policy.category)
        rank = (policy.specificity, policy.allowance)
        if current is None or rank > (current.specificity, current.allowance):
            best[policy.category] = policy
    return best


@use_case
def budget_policies_apply(*, employee, actor=SYSTEM) -> list[Budget]:
    """Give a joiner the budgets their company's policies name (by group, cost centre or for
    everyone), in every category they have no budget in yet: run when a person is created
    by any path, and when they join a group or cost centre later. A budget they already
    have is never changed: an admin's adjustments stand."""
    if employee.company_id is None or not employee.is_active:
        return []
    have = set(Budget.objects.filter(employee=employee).values_list("category", flat=True))
    return [
        budget_create(
            employee=employee,
            allowance=policy.allowance,
            category=category,
            period_months=policy.period_months,
            currency=policy.currency,
            actor=actor,
        )
        for category, policy in sorted(budget_policies_for(employee).items())
        if category not in have
    ]


@use_case
def budget_reserve(
    *, budget: Budget, amount: Decimal, request_id: int, actor, at=None
) -> BudgetEntry:
    """Reserve ``amount`` for a request on a budget the caller has locked; refused when it
    is more than what is available."""
    if amount <= 0:
        raise BudgetRefused(_("Nothing to reserve."))
    if amount > budget.available:
        # Translators: %(category)s is the budget's kind in lower case ("laptop", "hardware").
        raise BudgetRefused(
            _("This needs %(amount)s of your %(category)s budget, and %(available)s is available.")
            % {
                "amount": money(amount, budget.currency),
                "category": budget.category_label.lower(),
                "available": money(budget.available, budget.currency),
            }
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
        raise ValidationError(_("Say why the budget changes."))
    budget = budget_lock(budget_id, actor=actor)
    if not acts_as_company_admin(actor):
        raise BudgetRefused(_("Only a company admin can adjust a budget."))
    if budget.total_allowance + amount < 0:
        raise BudgetRefused(_("A budget cannot go below zero."))
    if budget.total_allowance + amount > MONEY_LIMIT or abs(budget.adjustments + amount) > (
        MONEY_LIMIT
    ):
        raise BudgetRefused(_("A budget holds at most %(limit)s.") % {"limit": f"{MONEY_LIMIT:,}"})
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
                reason=f"New period from {start:%d %b %Y}.",  # stored as written
            )
            budget.period_start = start
            budget.period_end = add_months(start, budget.period_months)
            budget.save(update_fields=["period_start", "period_end"])
            renewed += 1
    return renewed


# --- Card payments -----------------------------------------------------------------------------
#
# A CardPayment's life: opened in the transaction that decides it (a request over budget, a
# buyout); the hosted checkout is created after commit; the processor then reports what the
# employee did, through the return from its page, its webhook or the sweeper asking it,
# and ``payment_state_apply`` moves the row forward (never back). What Velory decides about
# a hold (capture on approval, void on rejection or withdrawal) is written as the row's
# ``decision`` in the deciding transaction and carried out after commit by
# ``payment_decision_execute``, claimed like any job and retried until the processor has it.

# Checkout sessions that have not been finished after this are asked about by the sweeper
# (the employee may have closed the tab; the webhook may have been lost).
CHECKOUT_SYNC_AFTER_SECONDS = 120
# A decision's gateway call holds its row this long; a worker that died is replaced after it.
DECISION_CLAIM_SECONDS = 60
# 30 s, 1 min, 2 … capped at 1 hour: the processor is asked again until it answers.
DECISION_RETRY = Retry(base=30, cap=3600)
# What a payment's change is called: what the callers (requests, buyouts) act on.
AUTHORIZED, CAPTURED, VOIDED, EXPIRED, FAILED = (
    "authorized",
    "captured",
    "voided",
    "expired",
    "failed",
)

S = CardPayment.Status


def payment_open(
    *,
    employee,
    amount: Decimal,
    currency: str,
    purpose: str,
    key: str,
    capture: bool,
    request_id: int | None = None,
    at=None,
) -> CardPayment:
    """Record a card payment to ask the employee for (in the caller's transaction); its
    hosted checkout is made by ``payment_checkout_start`` after commit."""
    return CardPayment.objects.create(
        company_id=employee.company_id,
        employee=employee,
        request_id=request_id,
        purpose=purpose[:200],
        amount=amount,
        currency=currency,
        gateway=get_gateway().name,
        capture_method=CardPayment.Capture.AUTOMATIC if capture else CardPayment.Capture.MANUAL,
        key=key,
        created_at=at or timezone.now(),
    )


def _attempt_key(payment: CardPayment) -> str:
    return f"{payment.key}:attempt:{payment.attempt}"


def payment_return_urls(payment: CardPayment) -> tuple[str, str]:
    """Where the processor's page sends the employee back: Velory's own address, with the
    processor's session id filled in by the processor. The address is the one mail links
    use (``notifications.site``): the served origin in the demo, else SITE_URL."""
    base = f"{site_url()}/payments/{payment.pk}"
    return f"{base}/return/?session_id={{CHECKOUT_SESSION_ID}}", f"{base}/cancel/"


def payment_checkout_start(payment_id: int) -> CardPayment:
    """Make the hosted checkout of a payment waiting for one (after commit; the same key
    answers with the same session on a retry). ``GatewayUnavailable`` when the processor
    does not answer: the payment keeps waiting, and "Continue to payment" tries again."""
    payment = CardPayment.objects.select_related("employee").get(pk=payment_id)
    if payment.status != S.PENDING or payment.decision:
        return payment
    if payment.checkout_session_id:
        return payment
    success_url, cancel_url = payment_return_urls(payment)
    checkout = get_gateway().checkout_create(
        amount_minor=to_minor(payment.amount),
        currency=payment.currency,
        description=payment.purpose,
        capture=payment.capture_method == CardPayment.Capture.AUTOMATIC,
        success_url=success_url,
        cancel_url=cancel_url,
        reference=f"velory-payment-{payment.pk}",
        metadata={
            "velory_payment": str(payment.pk),
            "velory_company": str(payment.company_id),
            "velory_attempt": str(payment.attempt),
        },
        idempotency_key=_attempt_key(payment),
        email=payment.employee.email,
    )
    CardPayment.objects.filter(pk=payment.pk, status=S.PENDING, checkout_session_id="").update(
        checkout_session_id=checkout.session_id, checkout_url=checkout.url, error=""
    )
    payment.refresh_from_db()
    return payment


def payment_new_attempt(payment_id: int, *, capture: bool | None = None) -> CardPayment:
    """Start the payment over on a fresh checkout (its session expired, the hold ran out,
    or the processor never made one): the same row, the next attempt's key. Events about
    the earlier attempt no longer match it and change nothing."""
    with transaction.atomic():
        payment = payment_lock(payment_id)
        if payment.status not in (S.PENDING, S.EXPIRED, S.FAILED) or payment.decision:
            return payment
        payment.attempt += 1
        payment.status = S.PENDING
        payment.checkout_session_id = payment.checkout_url = payment.charge_id = ""
        payment.error = ""
        payment.capture_before = payment.authorized_at = payment.completed_at = None
        payment.dismissed_at = None
        if capture is not None:
            payment.capture_method = (
                CardPayment.Capture.AUTOMATIC if capture else CardPayment.Capture.MANUAL
            )
        payment.save()
        profiles_touch([payment.employee_id])
    return payment


def _matches(payment: CardPayment, state: PaymentState) -> str:
    """Why ``state`` is not about this payment's current attempt ("" when it is)."""
    meta = state.metadata or {}
    if meta.get("velory_payment") not in (None, str(payment.pk)):
        return "the processor's payment names another Velory payment"
    if meta.get("velory_company") not in (None, str(payment.company_id)):
        return "the processor's payment names another company"
    if meta.get("velory_attempt") not in (None, str(payment.attempt)):
        return "the processor's payment is of an earlier attempt"
    if state.session_id and payment.checkout_session_id != state.session_id:
        return "another checkout session"
    if state.intent_id and payment.charge_id and payment.charge_id != state.intent_id:
        return "another payment intent"
    if state.intent_id and state.amount_minor != to_minor(payment.amount):
        return (
            f"the processor's amount {state.amount_minor} differs from "
            f"{to_minor(payment.amount)} asked"
        )
    if state.currency and state.currency != payment.currency:
        return f"the processor's currency {state.currency} differs from {payment.currency}"
    return ""


def _change_for(payment: CardPayment, state: PaymentState) -> str:
    """The forward move ``state`` means for ``payment`` ("" for none)."""
    current = payment.status
    if state.status == "succeeded" and current in (S.PENDING, S.AUTHORIZED):
        return CAPTURED
    if state.status == "requires_capture" and current == S.PENDING:
        return AUTHORIZED
    if state.status == "canceled" and current in (S.PENDING, S.AUTHORIZED):
        if current == S.AUTHORIZED:
            lapsed = state.cancellation_reason in ("automatic", "expired")
            return EXPIRED if lapsed else VOIDED
        return FAILED if payment.decision != CardPayment.Decision.VOID else VOIDED
    if current == S.PENDING and state.session_status == "expired" and not state.status:
        return FAILED if payment.decision != CardPayment.Decision.VOID else VOIDED
    if (
        current == S.PENDING
        and state.session_status == "expired"
        and state.status
        in (
            "requires_payment_method",
            "requires_action",
        )
    ):
        return FAILED if payment.decision != CardPayment.Decision.VOID else VOIDED
    return ""


def payment_state_apply(payment_id: int, state: PaymentState, *, source: str) -> str:
    """Move the payment forward to what the processor says, under the payment's lock; the
    first report wins and a later or repeated one changes nothing. Returns the change
    (``AUTHORIZED`` … ``FAILED``) or "" (nothing, or a report that is not about this
    payment: logged and ignored). Call inside the caller's transaction, after its locks."""
    payment = payment_lock(payment_id)
    mismatch = _matches(payment, state)
    if mismatch:
        logger.warning("payment %s: %s report ignored (%s)", payment.pk, source, mismatch)
        return ""
    change = _change_for(payment, state)
    now = timezone.now()
    fields = {}
    if state.intent_id and not payment.charge_id:
        fields["charge_id"] = state.intent_id
    if state.brand and not payment.card_brand:
        fields["card_brand"], fields["card_last4"] = state.brand[:20], state.last4[:4]
    if state.error and payment.status == S.PENDING and not change:
        fields["error"] = state.error[:300]  # a declined card on the hosted page: shown
    if change == AUTHORIZED:
        fields.update(status=S.AUTHORIZED, authorized_at=now, error="")
        fields["capture_before"] = state.capture_before or now + timedelta(days=7)
    elif change == CAPTURED:
        fields.update(status=S.SUCCEEDED, completed_at=now, error="")
        fields.setdefault("authorized_at", payment.authorized_at or now)
    elif change in (VOIDED, EXPIRED, FAILED):
        status = {VOIDED: S.VOIDED, EXPIRED: S.EXPIRED, FAILED: S.FAILED}[change]
        fields.update(status=status, completed_at=now)
        # (the error is stored as written: the processor's words, or these)
        if change == FAILED:
            fields["error"] = (state.error or "The card payment was not completed.")[:300]
        if change == EXPIRED:
            fields["error"] = "The hold on the card ran out before a decision."
    if change and payment.decision:
        # What was decided is done (or overtaken: a capture on a hold that expired).
        fields.update(decision="", claimed_until=None, next_attempt_at=None)
    if fields:
        CardPayment.objects.filter(pk=payment.pk).update(**fields)
        profiles_touch([payment.employee_id])
    if change == CAPTURED:
        payment.refresh_from_db()
        notify(
            kind="payment_receipt",
            recipient=payment.employee,
            context={"payment": payment},
            dedup_key=f"payment_receipt:{payment.pk}",
        )
    if change:
        logger.info("payment %s %s (%s)", payment.pk, change, source)
    return change


def payment_decide(payment: CardPayment, decision: str) -> bool:
    """Decide what happens to a hold (in the caller's transaction, the payment locked by
    it): ``capture`` or ``void``. Carried out after commit; returns whether anything is to
    be done (a payment already released or failed needs nothing)."""
    if payment.status not in (S.PENDING, S.AUTHORIZED):
        return False
    if decision == CardPayment.Decision.CAPTURE and payment.status != S.AUTHORIZED:
        return False
    CardPayment.objects.filter(pk=payment.pk).update(
        decision=decision, next_attempt_at=timezone.now(), claimed_until=None, attempts=0
    )
    payment.decision = decision
    return True


def payment_decision_execute(payment_id: int) -> PaymentState | None:
    """Carry out the payment's decision at the processor (capture or void; a checkout the
    employee never finished is expired). Returns the processor's state afterwards for the
    caller to apply, or None when there is nothing to do, another worker holds it, or the
    processor did not answer (retried with backoff)."""
    rows = CardPayment.objects.filter(pk=payment_id).exclude(decision="")
    if (
        claim(rows, hold_seconds=scaled(DECISION_CLAIM_SECONDS), due_field="next_attempt_at")
        is None
    ):
        return None
    payment = CardPayment.objects.get(pk=payment_id)
    gateway = get_gateway(payment.gateway)
    key = f"{_attempt_key(payment)}:{payment.decision}"
    try:
        if payment.status == S.PENDING and payment.checkout_session_id:
            # not authorized yet: closing the checkout cancels whatever the employee started
            state = gateway.checkout_expire(payment.checkout_session_id)
        elif payment.charge_id:
            call = gateway.capture if payment.decision == "capture" else gateway.void
            try:
                state = call(payment.charge_id, idempotency_key=key)
            except WrongState:  # captured, voided or lapsed already: its state says which
                state = gateway.intent_get(payment.charge_id)
        else:  # no checkout was ever made: nothing at the processor to release
            state = PaymentState(session_status="expired")
    except PaymentError as exc:
        CardPayment.objects.filter(pk=payment.pk).update(
            claimed_until=None,
            next_attempt_at=DECISION_RETRY.next_at(payment.attempts),
            error=str(exc)[:300],
        )
        logger.warning("payment %s: %s failed: %s", payment.pk, payment.decision, exc)
        return None
    CardPayment.objects.filter(pk=payment.pk).update(claimed_until=None)
    return state


def payment_state_fetch(payment_id: int) -> PaymentState | None:
    """What the processor says about the payment's current attempt now (None when it has
    no checkout yet). ``PaymentError`` when the processor does not answer."""
    payment = CardPayment.objects.get(pk=payment_id)
    gateway = get_gateway(payment.gateway)
    if payment.checkout_session_id:
        return gateway.checkout_get(payment.checkout_session_id)
    if payment.charge_id and payment.gateway != "sandbox":
        return gateway.intent_get(payment.charge_id)
    return None


def payments_due() -> tuple[list[int], list[int]]:
    """Payments the sweeper should look at: decisions whose time has come, and checkouts
    neither finished nor reported for a while (a closed tab, a lost webhook) or holds past
    their end, as two lists of ids (two queries)."""
    now = timezone.now()
    decided = due(
        CardPayment.objects.exclude(decision="").filter(next_attempt_at__isnull=False),
        due_field="next_attempt_at",
        limit=100,
    )
    stale = list(
        CardPayment.objects.filter(
            status__in=[S.PENDING, S.AUTHORIZED],
            decision="",
            created_at__lte=now - scaled_delta(CHECKOUT_SYNC_AFTER_SECONDS),
        )
        .exclude(gateway="sandbox")
        .filter(Q(status=S.PENDING) | Q(capture_before__lte=now))
        .order_by("created_at")
        .values_list("pk", flat=True)[:100]
    )
    return decided, [pk for pk in stale if pk not in set(decided)]


def payment_mismatches_resolve(*, actor, mismatch_ids) -> int:
    """A company admin (or the superuser) has dealt with these differences."""
    return (
        PaymentMismatch.objects.visible_to(actor)
        .filter(pk__in=list(mismatch_ids), resolved_at__isnull=True)
        .update(resolved_at=timezone.now())
    )


def payment_dismiss(*, payment_id: int, actor) -> CardPayment:
    """The employee clears a failed or released attempt from their list."""
    payment = CardPayment.objects.visible_to(actor).filter(employee=actor).get(pk=payment_id)
    if payment.status not in (S.FAILED, S.VOIDED, S.EXPIRED):
        raise BudgetRefused(_("Only a failed or released payment can be dismissed."))
    if payment.request_id and payment.status == S.EXPIRED:
        raise BudgetRefused(_("Authorize this payment again, or withdraw its request."))
    CardPayment.objects.filter(pk=payment.pk).update(dismissed_at=timezone.now())
    profiles_touch([actor.pk])
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
    gateway = get_gateway(refund.payment.gateway)
    try:
        if refund.refund_id:  # made already: ask how it went (a replay would say "pending")
            result = gateway.refund_get(refund.refund_id)
        else:
            result = gateway.refund(
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
    if result.status == "failed":
        # (stored as written, with the difference it records)
        refund_refused(refund.pk, "The card processor could not refund to this card.")
        return "refused"
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
    refund.refresh_from_db()
    notify(
        kind="refund_receipt",
        recipient=refund.payment.employee,
        context={"refund": refund, "payment": refund.payment},
        dedup_key=f"refund_receipt:{refund.pk}",
    )
    return "refunded"


@use_case
@transaction.atomic
def refund_refused(refund_id: int, reason: str) -> bool:
    """The processor could not refund (the card was closed, say): the money is not back.
    The refund is marked refused and the payment's refunded amount goes back down, and the
    company admin sees it in the payment mismatches, to pay the employee another way."""
    refund = Refund.objects.select_related("payment").get(pk=refund_id)
    payment = payment_lock(refund.payment_id)
    refund = Refund.objects.select_for_update().get(pk=refund_id)
    if refund.status in (Refund.Status.SUCCEEDED, Refund.Status.REFUSED):
        return False
    Refund.objects.filter(pk=refund.pk).update(
        status=Refund.Status.REFUSED,
        last_error=reason[:300],
        claimed_until=None,
        completed_at=timezone.now(),
    )
    CardPayment.objects.filter(pk=payment.pk).update(refunded=F("refunded") - refund.amount)
    PaymentMismatch.objects.get_or_create(
        key=f"refund-refused:{refund.pk}",
        defaults={
            "company_id": payment.company_id,
            "payment": payment,
            "kind": PaymentMismatch.Kind.STATUS,
            "reference": refund.refund_id or refund.key,
            "detail": f"Refund of {refund.amount} {payment.currency} refused: {reason}"[:300],
        },
    )
    profiles_touch([payment.employee_id])
    return True


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
    counts = {"refunded": 0, "skipped": 0, "error": 0, "waiting": 0, "refused": 0}
    for pk in ids:
        counts[refund_execute(pk, due_only=True)] += 1
    return counts
