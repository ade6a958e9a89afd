"""What the card processor's reports mean for requests and buyouts.

Every report about a payment, whoever brings it (the employee's return from the hosted
page, the processor's signed webhook, the sweeper asking the processor, the result of a
capture or void Velory asked for), goes through ``payment_report``: one use case that locks
the request (or buyout) and then the payment, moves the payment forward
(``budgets.services.payment_state_apply``: the first report wins, a repeat changes
nothing) and then does what the change means:

- authorized: the request goes to the company admin ("Waiting for approval");
- captured: the approved order goes to the partner; a buyout completes; money captured
  for something no longer wanted (withdrawn while the employee was paying) is refunded;
- expired: the hold ran out before a decision: the employee is asked to authorize again;
- failed: a request that never got its card payment is not sent, its budget released;
- a hold whose request was withdrawn or rejected meanwhile is voided at once.

Webhook events are stored by their id first (``events_receive``): a retry or a replay is a
no-op, and each is processed once, after commit, by asking the processor for the payment's
current state, so events that arrive late, twice or out of order change nothing wrong."""

from __future__ import annotations

import contextlib
import logging
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from budgets import services as budgets
from budgets.models import CardPayment, PaymentMismatch, ProcessorEvent, Refund
from budgets.payments import PaymentError, PaymentState, from_minor, get_gateway
from companies.models import Company, User
from core.jobs import claim, enqueue_named
from core.locks import buyout_lock, payment_lock, request_lock
from core.timers import scaled, scaled_delta
from core.transactions import use_case
from leasing import services as leasing
from notifications.services import Message, notify, notify_many

from ..models import RequestStatus
from .holds import payment_capture, payment_void
from .orders import order_place_later
from .requests import _refund_request_card, _request_saved, _tell_admins, fail_request

logger = logging.getLogger(__name__)
P = CardPayment.Status
R = RequestStatus

DROPPED = (R.WITHDRAWN, R.REJECTED, R.FAILED)


@use_case
@transaction.atomic
def payment_report(*, payment_id: int, state: PaymentState, source: str) -> str:
    """Apply what the processor says about a payment, and what it means. Returns the
    change ("" for none)."""
    owner = CardPayment.objects.values("request_id").get(pk=payment_id)
    if owner["request_id"]:
        request = request_lock(owner["request_id"], related=["employee"])
        change = budgets.payment_state_apply(payment_id, state, source=source)
        _request_follows(request, payment_lock(payment_id), change)
        return change
    buyout = buyout_lock(filters=Q(payment_id=payment_id))
    change = budgets.payment_state_apply(payment_id, state, source=source)
    if buyout is not None:
        leasing.buyout_payment_changed(buyout.pk, payment_lock(payment_id), change)
    return change


def _request_follows(request, payment: CardPayment, change: str) -> None:
    """The request's side of a payment's change (in payment_report's transaction)."""
    if change == budgets.AUTHORIZED:
        if request.status == R.AWAITING_PAYMENT:
            request.card_authorized(by=None, description="Card payment authorized.")
            _request_saved(request)
            transaction.on_commit(lambda: _tell_admins(request))
        elif request.status in DROPPED:  # withdrawn while the employee was paying
            payment_void(payment)
    elif change == budgets.CAPTURED:
        if request.status == R.APPROVED and request.order_id:
            order_id = request.order_id
            if not request.order.devices.exclude(status="cancelled").exists():
                _refund_request_card(request, "The order was cancelled.")
            else:
                transaction.on_commit(lambda: order_place_later(order_id))
        elif request.status in DROPPED:
            # the refund's reason is stored as written: in the source (English) words
            with translation.override(None):
                status = request.get_status_display().lower()
            _refund_request_card(
                request,
                f"Request {request.number} was {status} before the card payment went through.",
            )
    elif change == budgets.EXPIRED:
        if request.status == R.PENDING:
            request.hold_expired(by=None, description="The card hold ran out.")
            _request_saved(request)
        if request.status in (R.AWAITING_PAYMENT, R.APPROVED):
            payment.refresh_from_db()
            notify(
                kind="payment_authorize_again",
                recipient=request.employee,
                context={"payment": payment, "request": request},
                dedup_key=f"payment_authorize_again:{payment.pk}:{payment.attempt}",
            )
    elif change == budgets.FAILED and request.status == R.AWAITING_PAYMENT:
        fail_request(request, payment.error or "The card payment was not completed.")


def payment_decision_run(payment_id: int) -> str:
    """Carry out a capture or void at the processor and apply its answer."""
    state = budgets.payment_decision_execute(payment_id)
    if state is None:
        return ""
    return payment_report(payment_id=payment_id, state=state, source="decision")


def payment_sync(payment_id: int, *, source: str = "sync") -> str:
    """Ask the processor how the payment stands and apply it. ``PaymentError`` when the
    processor does not answer."""
    state = budgets.payment_state_fetch(payment_id)
    if state is None:
        return ""
    return payment_report(payment_id=payment_id, state=state, source=source)


def payment_returned(*, payment_id: int, actor, session_id: str) -> CardPayment:
    """The employee is back from the processor's page. The session in the address must be
    this payment's (a forged or stale return changes nothing); the processor is asked how
    it went, and whichever of this and the webhook comes first applies it."""
    payment = CardPayment.objects.visible_to(actor).filter(employee=actor).get(pk=payment_id)
    if not session_id or session_id != payment.checkout_session_id:
        logger.warning("payment %s: a return with another session was ignored", payment.pk)
        raise PaymentError(_("That payment link is not valid any more. Nothing was changed."))
    # If the processor does not answer, the webhook or the sweeper will tell; the page says
    # the payment is being confirmed.
    with contextlib.suppress(PaymentError):
        payment_sync(payment.pk, source="return")
    payment.refresh_from_db()
    return payment


def payment_resume(*, payment_id: int, actor) -> CardPayment:
    """The employee continues to the processor's page: the open checkout, or a new one
    (the earlier expired, the hold ran out, or the processor was down when it was made).
    ``PaymentError`` when the processor does not answer."""
    payment = CardPayment.objects.visible_to(actor).filter(employee=actor).get(pk=payment_id)
    if payment.decision:
        raise PaymentError(_("This payment is being cancelled."))
    if payment.status == P.PENDING and payment.checkout_session_id:
        state = budgets.payment_state_fetch(payment.pk)
        if state is not None and state.session_status == "open":
            return payment
        if state is not None:
            payment_report(payment_id=payment.pk, state=state, source="resume")
            payment.refresh_from_db()
            if payment.status != P.FAILED:
                return payment
    if payment.request_id:
        request = payment.request
        if request.status not in (R.AWAITING_PAYMENT, R.APPROVED):
            # Translators: %(status)s is the request's status in lower case (docs/glossary.md).
            raise PaymentError(
                _("Request %(number)s is %(status)s: there is nothing to pay.")
                % {"number": request.number, "status": request.get_status_display().lower()}
            )
        capture = request.status == R.APPROVED  # approved already: charged at once
    else:
        capture = True
    if payment.status in (P.EXPIRED, P.FAILED) or (
        payment.status == P.PENDING and payment.checkout_session_id
    ):
        payment = budgets.payment_new_attempt(payment.pk, capture=capture)
    if payment.status != P.PENDING:
        raise PaymentError(_("This payment is done: there is nothing to pay."))
    return budgets.payment_checkout_start(payment.pk)


# --- Webhook events ----------------------------------------------------------------------------

# The event types Velory acts on. Others are stored and marked ignored.
PAYMENT_EVENTS = {
    "checkout.session.completed",
    "checkout.session.expired",
    "checkout.session.async_payment_succeeded",
    "checkout.session.async_payment_failed",
    "payment_intent.amount_capturable_updated",
    "payment_intent.succeeded",
    "payment_intent.payment_failed",
    "payment_intent.canceled",
    "charge.succeeded",
    "charge.captured",
    "charge.expired",
}
REFUND_EVENTS = {
    "refund.created",
    "refund.updated",
    "refund.failed",
    "charge.refunded",
    "charge.refund.updated",
}
DISPUTE_EVENTS = {"charge.dispute.created"}
EVENT_CLAIM_SECONDS = 60
# The sweeper leaves a stored event this long to the task queued for it at commit.
EVENT_SWEEP_AFTER_SECONDS = 30


class EventRefused(Exception):
    """A webhook that is not from the processor (bad signature, old timestamp)."""


def events_receive(payload: bytes, signature: str) -> tuple[ProcessorEvent, bool]:
    """Verify a webhook and store its event by id; processed after commit. Returns the
    event and whether it is new (a retry or replay of a stored event is not)."""
    try:
        event = get_gateway().event_verified(payload, signature)
    except PaymentError as exc:
        logger.warning("webhook refused: %s", exc)
        raise EventRefused(str(exc)) from None
    event_id = str(event.get("id") or "")
    if not event_id.startswith("evt_"):
        raise EventRefused("the event has no id")
    created = datetime.fromtimestamp(int(event.get("created") or 0), tz=UTC)
    try:
        with transaction.atomic():
            row = ProcessorEvent.objects.create(
                event_id=event_id[:100],
                type=str(event.get("type") or "")[:80],
                created=created,
                payload=event,
            )
            transaction.on_commit(lambda: enqueue_named("orders.tasks.process_event", row.pk))
    except IntegrityError:
        return ProcessorEvent.objects.get(event_id=event_id), False
    return row, True


def _event_payment(event: ProcessorEvent) -> tuple[CardPayment | None, str]:
    """The payment an event is about, or None and why not."""
    obj = (event.payload.get("data") or {}).get("object") or {}
    meta = obj.get("metadata") or {}
    kind = obj.get("object")
    ids = Q()
    if kind == "checkout.session":
        ids = Q(checkout_session_id=obj.get("id") or "-")
    elif kind == "payment_intent":
        ids = Q(charge_id=obj.get("id") or "-")
    elif kind in ("charge", "refund", "dispute"):
        intent = obj.get("payment_intent") or "-"
        ids = Q(charge_id=intent if isinstance(intent, str) else intent.get("id"))
    payment = CardPayment.objects.filter(ids).first() if ids else None
    if payment is None and str(meta.get("velory_payment", "")).isdigit():
        payment = CardPayment.objects.filter(pk=int(meta["velory_payment"])).first()
        if payment is not None and kind == "checkout.session":
            # a session Velory does not hold for this payment: an earlier attempt's, or forged
            return None, "a checkout session this payment does not hold"
    if payment is None:
        return None, "no Velory payment has this id"
    company = meta.get("velory_company")
    if company is not None and str(company) != str(payment.company_id):
        return None, f"the event names company {company}, the payment is another company's"
    if kind == "payment_intent" and obj.get("amount") not in (
        None,
        budgets.to_minor(payment.amount),
    ):
        return None, "the event's amount differs from the payment's"
    return payment, ""


def event_process(event_pk: int) -> str:
    """Process one stored event once: "applied", "nothing", "ignored", or "" (another
    worker holds it, or the processor did not answer: the sweeper tries again)."""
    rows = ProcessorEvent.objects.filter(pk=event_pk, processed_at__isnull=True)
    if claim(rows, hold_seconds=scaled(EVENT_CLAIM_SECONDS)) is None:
        return ""
    event = ProcessorEvent.objects.get(pk=event_pk)
    known = PAYMENT_EVENTS | REFUND_EVENTS | DISPUTE_EVENTS
    if event.type not in known:
        return _event_done(event, ProcessorEvent.Outcome.IGNORED, "not an event Velory acts on")
    payment, why = _event_payment(event)
    if payment is None:
        logger.warning("event %s (%s) ignored: %s", event.event_id, event.type, why)
        return _event_done(event, ProcessorEvent.Outcome.IGNORED, why)
    try:
        if event.type in DISPUTE_EVENTS:
            changed = payment_disputed(payment.pk, event.payload["data"]["object"])
        elif event.type in REFUND_EVENTS:
            changed = _refunds_follow(payment, event.payload["data"]["object"])
        else:
            changed = bool(payment_sync(payment.pk, source=f"webhook {event.type}"))
    except PaymentError as exc:
        ProcessorEvent.objects.filter(pk=event.pk).update(claimed_until=None, note=str(exc)[:300])
        return ""
    outcome = ProcessorEvent.Outcome.APPLIED if changed else ProcessorEvent.Outcome.NOTHING
    return _event_done(event, outcome, "", payment)


def _event_done(event, outcome, note, payment=None) -> str:
    ProcessorEvent.objects.filter(pk=event.pk).update(
        processed_at=timezone.now(),
        outcome=outcome,
        note=note[:300],
        payment=payment,
        claimed_until=None,
    )
    return outcome


def _refunds_follow(payment: CardPayment, obj: dict) -> bool:
    """A refund's news: ask the processor about Velory's refunds of this payment that are
    not finished (the refund's own state decides, not the event's order)."""
    changed = False
    refund_ids = [obj["id"]] if obj.get("object") == "refund" else []
    waiting = Refund.objects.filter(payment=payment).exclude(
        status__in=[Refund.Status.SUCCEEDED, Refund.Status.REFUSED]
    )
    if refund_ids:
        waiting = waiting.filter(Q(refund_id__in=refund_ids) | Q(refund_id=""))
    for refund in waiting:
        changed |= budgets.refund_execute(refund.pk) in ("refunded", "refused")
    return changed


@use_case
@transaction.atomic
def payment_disputed(payment_id: int, dispute: dict) -> bool:
    """The employee's bank opened a dispute: flagged to the company admin, once."""
    payment = payment_lock(payment_id)
    _mismatch, created = PaymentMismatch.objects.get_or_create(
        key=f"dispute:{dispute.get('id') or payment.pk}",
        defaults={
            "company_id": payment.company_id,
            "payment": payment,
            "kind": PaymentMismatch.Kind.DISPUTE,
            "reference": str(dispute.get("id") or payment.charge_id)[:120],
            "detail": (
                f"Dispute opened ({dispute.get('reason') or 'no reason given'}) on "
                f"{payment.amount} {payment.currency}: {payment.purpose}"
            )[:300],
        },
    )
    if not created:
        return False
    CardPayment.objects.filter(pk=payment.pk).update(disputed_at=timezone.now())
    notify_many(
        [
            Message(
                kind="payment_disputed",
                recipient=admin,
                context={"payment": payment, "employee_name": payment.employee.get_full_name()},
                dedup_key=f"payment_disputed:{payment.pk}:{admin.pk}",
            )
            for admin in User.objects.company_admins(payment.company_id)
        ]
    )
    return True


def events_process_due() -> dict[str, int]:
    """Periodic: events that were stored but not processed (the task was lost, the
    processor did not answer)."""
    counts: dict[str, int] = {}
    stale = timezone.now() - scaled_delta(EVENT_SWEEP_AFTER_SECONDS)
    for pk in (
        ProcessorEvent.objects.filter(processed_at__isnull=True, received_at__lte=stale)
        .order_by("received_at")
        .values_list("pk", flat=True)[:200]
    ):
        outcome = event_process(pk) or "waiting"
        counts[outcome] = counts.get(outcome, 0) + 1
    return counts


def payments_sweep() -> dict[str, int]:
    """Periodic: carry out captures and voids whose time has come, and ask the processor
    about checkouts neither finished nor reported (a closed tab, a lost webhook) and holds
    past their end."""
    counts = {"changed": 0, "unchanged": 0, "waiting": 0}
    decided, stale = budgets.payments_due()
    for pk, run in [*((pk, True) for pk in decided), *((pk, False) for pk in stale)]:
        try:
            change = payment_decision_run(pk) if run else payment_sync(pk, source="sweeper")
        except PaymentError:
            counts["waiting"] += 1
            continue
        counts["changed" if change else "unchanged"] += 1
    counts.update({f"events {k}": v for k, v in events_process_due().items()})
    return counts


# --- Daily reconciliation ---------------------------------------------------------------------

# A status at the processor and the Velory status it must go with.
EXPECTED = {
    "requires_capture": {P.AUTHORIZED},
    "succeeded": {P.SUCCEEDED},
    "canceled": {P.VOIDED, P.EXPIRED, P.FAILED},
    "requires_payment_method": {P.PENDING, P.FAILED},
    "requires_action": {P.PENDING, P.FAILED},
}


def payments_reconcile(days: int | None = None, now=None) -> list[PaymentMismatch]:
    """Daily: compare Velory's payments and refunds of the last days with the processor's
    list, and flag every difference (missing on either side, amount, status) to the
    superusers and the company admins. Each difference is recorded once."""
    days = days or settings.PAYMENTS_RECONCILE_DAYS
    now = now or timezone.now()
    since = now - timedelta(days=days)
    gateway = get_gateway()
    intents = {s.intent_id: s for s in gateway.payments_since(since)}
    refunds = {r.refund_id: r for r in gateway.refunds_since(since)}
    found: list[PaymentMismatch] = []
    settled_before = now - timedelta(minutes=10)  # leave what is happening now alone

    def flag(kind, reference, detail, payment=None, company_id=None):
        row, created = PaymentMismatch.objects.get_or_create(
            key=f"{kind}:{reference}:{detail}"[:200],
            defaults={
                "kind": kind,
                "reference": reference[:120],
                "detail": detail[:300],
                "payment": payment,
                "company_id": company_id or (payment.company_id if payment else None),
            },
        )
        if created:
            found.append(row)

    ours = CardPayment.objects.filter(created_at__gte=since, created_at__lte=settled_before)
    ours = ours.exclude(gateway="sandbox")
    by_intent = {}
    for payment in ours:
        if not payment.charge_id:
            continue
        by_intent[payment.charge_id] = payment
        theirs = intents.get(payment.charge_id)
        if theirs is None:
            flag(
                PaymentMismatch.Kind.MISSING_AT_PROCESSOR,
                payment.charge_id,
                f"Velory's payment {payment.pk} ({payment.amount} {payment.currency}) is not "
                "in the processor's list",
                payment,
            )
            continue
        if theirs.amount_minor != budgets.to_minor(payment.amount):
            flag(
                PaymentMismatch.Kind.AMOUNT,
                payment.charge_id,
                f"Velory has {payment.amount} {payment.currency}, the processor "
                f"{from_minor(theirs.amount_minor)} {theirs.currency}",
                payment,
            )
        if payment.status not in EXPECTED.get(theirs.status, set()):
            flag(
                PaymentMismatch.Kind.STATUS,
                payment.charge_id,
                f"Velory says {_stored_status(payment)}, the processor {theirs.status}",
                payment,
            )
    for intent_id, theirs in intents.items():
        if intent_id in by_intent or (theirs.created and theirs.created > settled_before):
            continue
        if CardPayment.objects.filter(charge_id=intent_id).exists():
            continue  # older than the window on our side: not a difference
        meta = theirs.metadata or {}
        company = meta.get("velory_company")
        if not Company.objects.filter(pk=int(company) if str(company).isdigit() else 0).exists():
            company = None  # not one of ours (another system on the same account)
        flag(
            PaymentMismatch.Kind.MISSING_IN_VELORY,
            intent_id,
            f"the processor has {from_minor(theirs.amount_minor)} {theirs.currency} "
            f"({theirs.status}) that Velory does not know",
            company_id=int(company) if str(company).isdigit() else None,
        )
    our_refunds = (
        Refund.objects.filter(created_at__gte=since, created_at__lte=settled_before)
        .exclude(payment__gateway="sandbox")
        .select_related("payment")
    )
    known_refunds = set()
    for refund in our_refunds:
        if not refund.refund_id:
            continue
        known_refunds.add(refund.refund_id)
        theirs = refunds.get(refund.refund_id)
        if theirs is None:
            flag(
                PaymentMismatch.Kind.MISSING_AT_PROCESSOR,
                refund.refund_id,
                f"Velory's refund {refund.pk} ({refund.amount}) is not in the processor's list",
                refund.payment,
            )
        elif theirs.amount_minor != budgets.to_minor(refund.amount):
            flag(
                PaymentMismatch.Kind.AMOUNT,
                refund.refund_id,
                f"Velory refunded {refund.amount}, the processor {from_minor(theirs.amount_minor)}",
                refund.payment,
            )
        elif (theirs.status == "succeeded") != (refund.status == Refund.Status.SUCCEEDED):
            flag(
                PaymentMismatch.Kind.STATUS,
                refund.refund_id,
                f"Velory says {_stored_status(refund)}, the processor {theirs.status}",
                refund.payment,
            )
    for refund_id, theirs in refunds.items():
        if refund_id in known_refunds or (theirs.created and theirs.created > settled_before):
            continue
        if Refund.objects.filter(refund_id=refund_id).exists():
            continue
        payment = CardPayment.objects.filter(charge_id=theirs.intent_id).first()
        flag(
            PaymentMismatch.Kind.MISSING_IN_VELORY,
            refund_id,
            f"the processor refunded {from_minor(theirs.amount_minor)} that Velory does not know",
            payment,
        )
    if found:
        _tell_about_mismatches(found, days)
    return found


def _stored_status(row) -> str:
    """A status label in a difference's detail, which is stored as written (and keys it):
    the source (English) words, whatever language is active."""
    with translation.override(None):
        return row.get_status_display()


def _tell_about_mismatches(found: list[PaymentMismatch], days: int) -> None:
    """One mail per superuser (every difference) and per company admin (their company's)."""

    def message(admin, rows):
        lines = [
            # the kind lazy: in the recipient's language when the mail is rendered (the
            # detail is stored as written)
            {
                "kind": PaymentMismatch.Kind(m.kind).label,
                "reference": m.reference,
                "detail": m.detail,
            }
            for m in rows
        ]
        return Message(
            kind="payments_mismatched",
            recipient=admin,
            context={"mismatches": lines, "count": len(lines), "days": days},
            dedup_key=f"payments_mismatched:{timezone.localdate().isoformat()}:{admin.pk}",
        )

    by_company: dict[int, list[PaymentMismatch]] = {}
    for row in found:
        if row.company_id is not None:
            by_company.setdefault(row.company_id, []).append(row)
    messages = [message(a, found) for a in User.objects.filter(is_superuser=True, is_active=True)]
    for company_id, rows in by_company.items():
        messages += [message(a, rows) for a in User.objects.company_admins(company_id)]
    with transaction.atomic():
        notify_many(messages)


__all__ = [
    "EventRefused",
    "event_process",
    "events_process_due",
    "events_receive",
    "payment_capture",
    "payment_decision_run",
    "payment_disputed",
    "payment_report",
    "payment_resume",
    "payment_returned",
    "payment_sync",
    "payment_void",
    "payments_reconcile",
    "payments_sweep",
]
