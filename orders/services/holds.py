"""What Velory decides about a card hold, in the deciding transaction: capture it (an
approval) or void it (a rejection, a withdrawal, a cancellation before capture). The
processor is asked after commit, by a task (``orders.tasks.payment_decision``), and the
sweeper retries it until the processor has it."""

from __future__ import annotations

from django.db import transaction

from budgets import services as budgets
from budgets.models import CardPayment
from core.jobs import enqueue_named


def _run_after_commit(payment_id: int) -> None:
    transaction.on_commit(lambda: enqueue_named("orders.tasks.payment_decision", payment_id))


def payment_void(payment: CardPayment) -> None:
    """Release a hold (or close a checkout the employee has not finished), after commit.
    In the caller's transaction, the payment locked."""
    if budgets.payment_decide(payment, CardPayment.Decision.VOID):
        _run_after_commit(payment.pk)


def payment_capture(payment: CardPayment) -> None:
    """Capture a hold, after commit. In the caller's transaction, the payment locked."""
    if budgets.payment_decide(payment, CardPayment.Decision.CAPTURE):
        _run_after_commit(payment.pk)
