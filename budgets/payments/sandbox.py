"""The sandbox gateway: behaves like a card processor with test cards, and records its
charges and refunds in the database (SandboxTransaction). The default, for the demo and the
tests. Its idempotency keys are unique in that table: a repeated call returns the first
result, as a real gateway does.

Test cards (any future expiry, any CVC):
  4242 4242 4242 4242  succeeds
  4000 0000 0000 0002  declined
  4000 0000 0000 9995  declined: insufficient funds
  4000 0000 0000 0119  the gateway fails (try again later)"""

from __future__ import annotations

import secrets

from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils import timezone

from budgets.models import SandboxTransaction

from . import Card, CardDeclined, CardToken, ChargeResult, GatewayUnavailable, RefundResult

OUTCOMES = {
    "4000000000000002": "card_declined",
    "4000000000009995": "insufficient_funds",
    "4000000000000119": "processing_error",
}
MESSAGES = {
    "card_declined": "Your card was declined.",
    "insufficient_funds": "Your card has insufficient funds.",
}


def luhn_ok(number: str) -> bool:
    digits = [int(d) for d in number]
    odd, even = digits[-1::-2], digits[-2::-2]
    return (sum(odd) + sum(sum(divmod(2 * d, 10)) for d in even)) % 10 == 0


def brand_of(number: str) -> str:
    if number.startswith("4"):
        return "Visa"
    if number[:2] in {"51", "52", "53", "54", "55"} or number.startswith("2"):
        return "Mastercard"
    if number[:2] in {"34", "37"}:
        return "Amex"
    return "Card"


class SandboxGateway:
    name = "sandbox"

    def tokenize(self, card: Card) -> CardToken:
        number = "".join(ch for ch in card.number if ch.isdigit())
        if not 12 <= len(number) <= 19 or not luhn_ok(number):
            raise CardDeclined("That card number is not valid.")
        today = timezone.localdate()
        if (card.exp_year, card.exp_month) < (today.year, today.month):
            raise CardDeclined("That card has expired.")
        if not card.cvc.isdigit() or len(card.cvc) not in (3, 4):
            raise CardDeclined("Check the card's security code.")
        outcome = OUTCOMES.get(number, "ok")
        return CardToken(f"tok_sandbox-{outcome}-{number[-4:]}", brand_of(number), number[-4:])

    def _record(self, **fields):
        try:
            with transaction.atomic():
                return SandboxTransaction.objects.create(**fields), True
        except IntegrityError:  # the same idempotency key: the first result stands
            return SandboxTransaction.objects.get(idempotency_key=fields["idempotency_key"]), False

    def charge(
        self, *, amount_minor, currency, token, idempotency_key, description
    ) -> ChargeResult:
        existing = SandboxTransaction.objects.filter(idempotency_key=idempotency_key).first()
        if existing is None:
            outcome = token.split("-")[1] if token.startswith("tok_sandbox-") else "invalid"
            if outcome == "processing_error":
                raise GatewayUnavailable("The card processor is not answering. Try again shortly.")
            if outcome in MESSAGES:
                raise CardDeclined(MESSAGES[outcome])
            if outcome != "ok":
                raise CardDeclined("That card cannot be used.")
            existing, _ = self._record(
                kind="charge",
                idempotency_key=idempotency_key,
                reference=f"ch_sb_{secrets.token_hex(8)}",
                amount_minor=amount_minor,
                currency=currency,
                payment_method=token,
                status="succeeded",
            )
        return ChargeResult(existing.reference, existing.status)

    def refund(self, *, charge_id, amount_minor, currency, idempotency_key) -> RefundResult:
        existing = SandboxTransaction.objects.filter(idempotency_key=idempotency_key).first()
        if existing is None:
            charge = SandboxTransaction.objects.filter(kind="charge", reference=charge_id).first()
            if charge is None:
                raise CardDeclined("No such charge.")
            refunded = (
                SandboxTransaction.objects.filter(
                    kind="refund", charge_reference=charge_id
                ).aggregate(s=Sum("amount_minor"))["s"]
                or 0
            )
            if refunded + amount_minor > charge.amount_minor:
                raise CardDeclined("The refund is larger than what is left of the charge.")
            existing, _ = self._record(
                kind="refund",
                idempotency_key=idempotency_key,
                reference=f"re_sb_{secrets.token_hex(8)}",
                charge_reference=charge_id,
                amount_minor=amount_minor,
                currency=currency,
                status="succeeded",
            )
        return RefundResult(existing.reference, existing.status)
