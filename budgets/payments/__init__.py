"""The payments boundary: one interface (charge, refund, each with an idempotency key) and
its implementations. ``get_gateway()`` returns the one the settings choose.

Amounts cross the boundary as integers in minor units (cents); Decimal inside Velory."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from django.conf import settings
from django.utils.module_loading import import_string


class PaymentError(Exception):
    """Base of the gateway's errors; the message is fit for the user."""


class CardDeclined(PaymentError):
    """The card was refused: permanent for this attempt, nothing was charged."""


class GatewayUnavailable(PaymentError):
    """The gateway did not answer or failed on its side: try again later (same key)."""


@dataclass(frozen=True)
class Card:
    """What the employee typed; exists only while we tokenize it, never stored."""

    number: str
    exp_month: int
    exp_year: int
    cvc: str


@dataclass(frozen=True)
class CardToken:
    token: str
    brand: str
    last4: str


@dataclass(frozen=True)
class ChargeResult:
    charge_id: str
    status: str  # "succeeded"


@dataclass(frozen=True)
class RefundResult:
    refund_id: str
    status: str  # "succeeded" | "pending"


class PaymentGateway(Protocol):
    name: str

    def tokenize(self, card: Card) -> CardToken: ...

    def charge(
        self,
        *,
        amount_minor: int,
        currency: str,
        token: str,
        idempotency_key: str,
        description: str,
    ) -> ChargeResult: ...

    def refund(
        self, *, charge_id: str, amount_minor: int, currency: str, idempotency_key: str
    ) -> RefundResult: ...


def to_minor(amount: Decimal) -> int:
    """12.34 → 1234, exactly (no float on the way)."""
    minor = amount * 100
    if minor != minor.to_integral_value():
        raise ValueError(f"{amount} has more than two decimals")
    return int(minor)


def get_gateway() -> PaymentGateway:
    return import_string(settings.PAYMENTS_GATEWAY)()
