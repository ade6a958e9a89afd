"""Stripe, through the official ``stripe`` library: Checkout Sessions (the hosted page,
3-D Secure included), PaymentIntents held with ``capture_method=manual`` and captured or
cancelled later, Refunds, the lists the daily reconciliation reads, and webhook events
verified with ``stripe.Webhook``'s scheme.

``STRIPE_API_BASE`` points the library at another host: the local sandbox processor
(``manage.py run_sandbox_processor``) answers the same API offline, so this one code path
serves the demo, the tests and production. Idempotency keys go in Stripe's Idempotency-Key
header, so a retried call never charges, captures or refunds twice."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import stripe
from django.conf import settings
from django.utils.translation import gettext as _

from . import (
    CardDeclined,
    Checkout,
    GatewayUnavailable,
    PaymentError,
    PaymentState,
    RefundResult,
    WrongState,
)

logger = logging.getLogger(__name__)

# Reconciliation reads at most this many of each list per run (Stripe pages by 100).
LIST_LIMIT = 5000


def _when(ts) -> datetime | None:
    return datetime.fromtimestamp(int(ts), tz=UTC) if ts else None


def _field(obj, name, default=None):
    try:
        value = obj[name]
    except (KeyError, TypeError):
        return default
    return default if value is None else value


def _metadata(obj) -> dict:
    meta = _field(obj, "metadata", {})
    return meta.to_dict() if hasattr(meta, "to_dict") else dict(meta)


class StripeGateway:
    name = "stripe"

    def __init__(self):
        if not settings.STRIPE_SECRET_KEY:
            raise GatewayUnavailable(_("Card payments are not configured."))
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
            raise CardDeclined(exc.user_message or _("Your card was declined.")) from exc
        except (stripe.APIConnectionError, stripe.RateLimitError) as exc:
            raise GatewayUnavailable(
                _("The card processor is not answering. Try again shortly.")
            ) from exc
        except stripe.APIError as exc:
            raise GatewayUnavailable(_("The card processor failed. Try again shortly.")) from exc
        except stripe.AuthenticationError as exc:
            logger.error("the card processor refused Velory's API key: %s", exc)
            raise GatewayUnavailable(_("Card payments are not available right now.")) from exc
        except stripe.InvalidRequestError as exc:
            if exc.code == "payment_intent_unexpected_state":
                raise WrongState(exc.user_message or str(exc)) from exc
            raise PaymentError(exc.user_message or _("The card processor refused.")) from exc
        except stripe.StripeError as exc:
            raise PaymentError(exc.user_message or _("The card processor refused.")) from exc

    # --- reading what the processor says -----------------------------------------------------

    @staticmethod
    def _intent_state(intent, session=None) -> PaymentState:
        charge = _field(intent, "latest_charge") if intent is not None else None
        card = {}
        if charge is not None and not isinstance(charge, str):
            card = _field(_field(charge, "payment_method_details", {}), "card", {}) or {}
        error = _field(intent, "last_payment_error") if intent is not None else None
        return PaymentState(
            session_id=_field(session, "id", "") if session is not None else "",
            session_status=_field(session, "status", "") if session is not None else "",
            intent_id=_field(intent, "id", "") if intent is not None else "",
            status=_field(intent, "status", "") if intent is not None else "",
            amount_minor=int(
                _field(intent, "amount", 0)
                if intent is not None
                else _field(session, "amount_total", 0)
            ),
            amount_capturable=int(_field(intent, "amount_capturable", 0) or 0)
            if intent is not None
            else 0,
            amount_received=int(_field(intent, "amount_received", 0) or 0)
            if intent is not None
            else 0,
            currency=str(_field(intent if intent is not None else session, "currency", "")).upper(),
            brand=str(_field(card, "brand", "")).title(),
            last4=str(_field(card, "last4", "")),
            capture_before=_when(_field(card, "capture_before")),
            cancellation_reason=_field(intent, "cancellation_reason", "")
            if intent is not None
            else "",
            error=_field(error, "message", "") if error is not None else "",
            metadata=_metadata(intent if intent is not None else session),
            created=_when(_field(intent if intent is not None else session, "created")),
        )

    def checkout_create(
        self,
        *,
        amount_minor,
        currency,
        description,
        capture,
        success_url,
        cancel_url,
        reference,
        metadata,
        idempotency_key,
        email="",
    ) -> Checkout:
        params = {
            "mode": "payment",
            "line_items": [
                {
                    "quantity": 1,
                    "price_data": {
                        "currency": currency.lower(),
                        "unit_amount": amount_minor,
                        "product_data": {"name": description[:250]},
                    },
                }
            ],
            "success_url": success_url,
            "cancel_url": cancel_url,
            "client_reference_id": reference,
            "metadata": metadata,
            "payment_intent_data": {
                "capture_method": "automatic" if capture else "manual",
                "metadata": metadata,
                "description": description[:250],
            },
        }
        if email:
            params["customer_email"] = email
        session = self._call(
            self.client.v1.checkout.sessions.create,
            params=params,
            options={"idempotency_key": idempotency_key},
        )
        return Checkout(session.id, session.url or "")

    def checkout_get(self, session_id: str) -> PaymentState:
        session = self._call(
            self.client.v1.checkout.sessions.retrieve,
            session_id,
            params={"expand": ["payment_intent", "payment_intent.latest_charge"]},
        )
        intent = _field(session, "payment_intent")
        if isinstance(intent, str):
            return self.intent_get(intent)
        return self._intent_state(intent, session)

    def checkout_expire(self, session_id: str) -> PaymentState:
        try:
            self._call(self.client.v1.checkout.sessions.expire, session_id)
        except PaymentError as exc:
            if isinstance(exc, GatewayUnavailable):
                raise
            # not open any more (completed or expired): its state says what happened
        return self.checkout_get(session_id)

    def intent_get(self, intent_id: str) -> PaymentState:
        intent = self._call(
            self.client.v1.payment_intents.retrieve,
            intent_id,
            params={"expand": ["latest_charge"]},
        )
        return self._intent_state(intent)

    def capture(self, intent_id: str, *, idempotency_key: str) -> PaymentState:
        self._call(
            self.client.v1.payment_intents.capture,
            intent_id,
            options={"idempotency_key": idempotency_key},
        )
        return self.intent_get(intent_id)

    def void(self, intent_id: str, *, idempotency_key: str) -> PaymentState:
        self._call(
            self.client.v1.payment_intents.cancel,
            intent_id,
            params={"cancellation_reason": "requested_by_customer"},
            options={"idempotency_key": idempotency_key},
        )
        return self.intent_get(intent_id)

    # --- refunds ----------------------------------------------------------------------------

    @staticmethod
    def _refund_result(refund) -> RefundResult:
        status = refund.status if refund.status in ("succeeded", "failed") else "pending"
        if refund.status == "canceled":
            status = "failed"
        intent = _field(refund, "payment_intent", "")
        return RefundResult(
            refund.id,
            status,
            amount_minor=int(_field(refund, "amount", 0)),
            intent_id=intent if isinstance(intent, str) else _field(intent, "id", ""),
            created=_when(_field(refund, "created")),
            metadata=_metadata(refund),
        )

    def refund(self, *, charge_id, amount_minor, currency, idempotency_key) -> RefundResult:
        refund = self._call(
            self.client.v1.refunds.create,
            params={"payment_intent": charge_id, "amount": amount_minor},
            options={"idempotency_key": idempotency_key},
        )
        return self._refund_result(refund)

    def refund_get(self, refund_id: str) -> RefundResult:
        return self._refund_result(self._call(self.client.v1.refunds.retrieve, refund_id))

    # --- lists, for the daily reconciliation ----------------------------------------------

    def _list(self, service, since: datetime):
        page = self._call(
            service.list,
            params={"created": {"gte": int(since.timestamp())}, "limit": 100},
        )
        out = []
        for item in page.auto_paging_iter():
            out.append(item)
            if len(out) >= LIST_LIMIT:
                logger.warning("reconciliation read only the first %s items", LIST_LIMIT)
                break
        return out

    def payments_since(self, since: datetime) -> list[PaymentState]:
        return [self._intent_state(i) for i in self._list(self.client.v1.payment_intents, since)]

    def refunds_since(self, since: datetime) -> list[RefundResult]:
        return [self._refund_result(r) for r in self._list(self.client.v1.refunds, since)]

    # --- webhooks ---------------------------------------------------------------------------

    def event_verified(self, payload: bytes, signature: str) -> dict:
        """The event, if its signature and timestamp check out; ``PaymentError`` if not."""
        # (the refusals below answer the processor's webhook call: machine-facing, English)
        if not settings.STRIPE_WEBHOOK_SECRET:
            raise PaymentError("No webhook secret is configured.")
        try:
            event = stripe.Webhook.construct_event(
                payload,
                signature,
                settings.STRIPE_WEBHOOK_SECRET,
                tolerance=settings.STRIPE_WEBHOOK_TOLERANCE,
            )
        except stripe.SignatureVerificationError as exc:
            raise PaymentError(f"bad signature: {exc}") from exc
        except ValueError as exc:
            raise PaymentError(f"not an event: {exc}") from exc
        return event.to_dict()
