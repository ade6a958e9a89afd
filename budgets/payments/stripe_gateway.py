"""Stripe, through the official ``stripe`` library: a PaymentIntent confirmed at once for a
charge, a Refund against it. Idempotency keys go in Stripe's Idempotency-Key header, so a
retried call never charges or refunds twice. ``STRIPE_API_BASE`` points the library at
another host (the tests' local server that answers like Stripe)."""

from __future__ import annotations

import stripe
from django.conf import settings

from . import Card, CardDeclined, CardToken, ChargeResult, GatewayUnavailable, RefundResult


class StripeGateway:
    name = "stripe"

    def __init__(self):
        if not settings.STRIPE_SECRET_KEY:
            raise GatewayUnavailable("Card payments are not configured.")
        self.client = stripe.StripeClient(
            settings.STRIPE_SECRET_KEY,
            base_addresses={"api": settings.STRIPE_API_BASE},
            max_network_retries=0,  # our own retries use the same idempotency key
            http_client=stripe.RequestsClient(timeout=settings.STRIPE_TIMEOUT),
        )

    def _call(self, fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except stripe.CardError as exc:
            raise CardDeclined(exc.user_message or "Your card was declined.") from exc
        except (stripe.APIConnectionError, stripe.RateLimitError) as exc:
            raise GatewayUnavailable(
                "The card processor is not answering. Try again shortly."
            ) from exc
        except stripe.APIError as exc:
            raise GatewayUnavailable("The card processor failed. Try again shortly.") from exc
        except stripe.StripeError as exc:
            raise CardDeclined(
                exc.user_message or "The card processor refused the payment."
            ) from exc

    def tokenize(self, card: Card) -> CardToken:
        pm = self._call(
            self.client.v1.payment_methods.create,
            params={
                "type": "card",
                "card": {
                    "number": card.number,
                    "exp_month": card.exp_month,
                    "exp_year": card.exp_year,
                    "cvc": card.cvc,
                },
            },
        )
        return CardToken(pm.id, (pm.card.brand or "card").title(), pm.card.last4)

    def charge(
        self, *, amount_minor, currency, token, idempotency_key, description
    ) -> ChargeResult:
        intent = self._call(
            self.client.v1.payment_intents.create,
            params={
                "amount": amount_minor,
                "currency": currency.lower(),
                "payment_method": token,
                "confirm": True,
                "description": description,
                "automatic_payment_methods": {"enabled": True, "allow_redirects": "never"},
            },
            options={"idempotency_key": idempotency_key},
        )
        if intent.status != "succeeded":
            raise CardDeclined("The payment needs an extra check that Velory cannot do here.")
        return ChargeResult(intent.id, "succeeded")

    def refund(self, *, charge_id, amount_minor, currency, idempotency_key) -> RefundResult:
        refund = self._call(
            self.client.v1.refunds.create,
            params={"payment_intent": charge_id, "amount": amount_minor},
            options={"idempotency_key": idempotency_key},
        )
        status = "succeeded" if refund.status == "succeeded" else "pending"
        return RefundResult(refund.id, status)
