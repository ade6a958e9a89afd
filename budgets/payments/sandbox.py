"""The pre-checkout sandbox: payments made before hosted checkout were charged through this
gateway, which kept its charges and refunds in the database (SandboxTransaction). It is kept
for those payments only: a refund of one goes here, under the same idempotency rules (a
repeated key returns the first result). New payments go through the configured gateway."""

from __future__ import annotations

import secrets

from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from budgets.models import SandboxTransaction

from . import CardDeclined, GatewayUnavailable, RefundResult

OUTCOMES = {
    "4000000000000002": "card_declined",
    "4000000000009995": "insufficient_funds",
    "4000000000000119": "processing_error",
}
MESSAGES = {
    "card_declined": gettext_lazy("Your card was declined."),
    "insufficient_funds": gettext_lazy("Your card has insufficient funds."),
}


class SandboxGateway:
    name = "sandbox"

    def _record(self, **fields):
        try:
            with transaction.atomic():
                return SandboxTransaction.objects.create(**fields), True
        except IntegrityError:  # the same idempotency key: the first result stands
            return SandboxTransaction.objects.get(idempotency_key=fields["idempotency_key"]), False

    def charge(
        self, *, amount_minor, currency, token, idempotency_key, description
    ) -> tuple[str, str]:
        existing = SandboxTransaction.objects.filter(idempotency_key=idempotency_key).first()
        if existing is None:
            outcome = token.split("-")[1] if token.startswith("tok_sandbox-") else "invalid"
            if outcome == "processing_error":
                raise GatewayUnavailable(
                    _("The card processor is not answering. Try again shortly.")
                )
            if outcome in MESSAGES:
                raise CardDeclined(str(MESSAGES[outcome]))
            if outcome != "ok":
                raise CardDeclined(_("That card cannot be used."))
            existing, _created = self._record(
                kind="charge",
                idempotency_key=idempotency_key,
                reference=f"ch_sb_{secrets.token_hex(8)}",
                amount_minor=amount_minor,
                currency=currency,
                payment_method=token,
                status="succeeded",
            )
        return existing.reference, existing.status

    def refund(self, *, charge_id, amount_minor, currency, idempotency_key) -> RefundResult:
        existing = SandboxTransaction.objects.filter(idempotency_key=idempotency_key).first()
        if existing is None:
            charge = SandboxTransaction.objects.filter(kind="charge", reference=charge_id).first()
            if charge is None:
                raise CardDeclined(_("No such charge."))
            refunded = (
                SandboxTransaction.objects.filter(
                    kind="refund", charge_reference=charge_id
                ).aggregate(s=Sum("amount_minor"))["s"]
                or 0
            )
            if refunded + amount_minor > charge.amount_minor:
                raise CardDeclined(_("The refund is larger than what is left of the charge."))
            existing, _created = self._record(
                kind="refund",
                idempotency_key=idempotency_key,
                reference=f"re_sb_{secrets.token_hex(8)}",
                charge_reference=charge_id,
                amount_minor=amount_minor,
                currency=currency,
                status="succeeded",
            )
        return RefundResult(existing.reference, existing.status)
