"""The payments boundary: what Velory asks of a card processor, and the one implementation
that asks it (``stripe_gateway.StripeGateway``, Stripe's API through the official library;
the local sandbox processor of ``budgets/payments/processor`` answers the same API offline).

The card is never typed into Velory: the employee enters it on the processor's hosted page
(``checkout_create`` returns its address), passes 3-D Secure there, and comes back. Velory
holds the processor's ids and the card's brand and last four digits only.

Amounts cross the boundary as integers in minor units (cents); Decimal inside Velory. Every
call that moves money carries an idempotency key, so a retried task or a double click
never charges, captures or refunds twice."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Protocol

from django.conf import settings
from django.utils.module_loading import import_string


class PaymentError(Exception):
    """Base of the gateway's errors; the message is fit for the user."""


class CardDeclined(PaymentError):
    """The processor refused: permanent for this call, nothing was charged."""


class GatewayUnavailable(PaymentError):
    """The processor did not answer or failed on its side: try again later (same key)."""


class WrongState(PaymentError):
    """The processor's payment is not in a state that allows this call (a hold that was
    already captured, voided or has expired): ask it for the payment's state."""


@dataclass(frozen=True)
class Checkout:
    session_id: str
    url: str


@dataclass(frozen=True)
class PaymentState:
    """What the processor says about one payment (a checkout session and its intent)."""

    session_id: str = ""
    session_status: str = ""  # open | complete | expired
    intent_id: str = ""
    # the PaymentIntent's: requires_payment_method | requires_action | requires_capture |
    # succeeded | canceled ("" while the employee has not submitted a card)
    status: str = ""
    amount_minor: int = 0
    amount_capturable: int = 0
    amount_received: int = 0
    currency: str = ""
    brand: str = ""
    last4: str = ""
    capture_before: datetime | None = None
    cancellation_reason: str = ""
    error: str = ""
    metadata: dict | None = None
    created: datetime | None = None


@dataclass(frozen=True)
class RefundResult:
    refund_id: str
    status: str  # "succeeded" | "pending" | "failed"
    amount_minor: int = 0
    intent_id: str = ""
    created: datetime | None = None
    metadata: dict | None = None


class PaymentGateway(Protocol):
    name: str

    def checkout_create(
        self,
        *,
        amount_minor: int,
        currency: str,
        description: str,
        capture: bool,
        success_url: str,
        cancel_url: str,
        reference: str,
        metadata: dict,
        idempotency_key: str,
        email: str = "",
    ) -> Checkout: ...

    def checkout_get(self, session_id: str) -> PaymentState: ...

    def checkout_expire(self, session_id: str) -> PaymentState: ...

    def intent_get(self, intent_id: str) -> PaymentState: ...

    def capture(self, intent_id: str, *, idempotency_key: str) -> PaymentState: ...

    def void(self, intent_id: str, *, idempotency_key: str) -> PaymentState: ...

    def refund(
        self, *, charge_id: str, amount_minor: int, currency: str, idempotency_key: str
    ) -> RefundResult: ...

    def refund_get(self, refund_id: str) -> RefundResult: ...

    def payments_since(self, since: datetime) -> list[PaymentState]: ...

    def refunds_since(self, since: datetime) -> list[RefundResult]: ...

    def event_verified(self, payload: bytes, signature: str) -> dict: ...


def to_minor(amount: Decimal) -> int:
    """12.34 → 1234, exactly (no float on the way)."""
    minor = amount * 100
    if minor != minor.to_integral_value():
        raise ValueError(f"{amount} has more than two decimals")
    return int(minor)


def from_minor(minor: int) -> Decimal:
    return (Decimal(minor) / 100).quantize(Decimal("0.01"))


def get_gateway(name: str | None = None) -> PaymentGateway:
    """The configured gateway; ``name`` "sandbox" is the one payments made before hosted
    checkout were charged through (their refunds still go there)."""
    if name == "sandbox":
        from .sandbox import SandboxGateway  # the pre-checkout payments' own records

        return SandboxGateway()
    return import_string(settings.PAYMENTS_GATEWAY)()
