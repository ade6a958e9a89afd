"""The sandbox processor's books: Checkout Sessions, PaymentIntents, payment methods,
charges, refunds, disputes and events, the operations the API and the hosted pages perform
on them, the expiries that happen on the clock, the answers kept for Idempotency-Keys, and
the state file. One lock (``Ledger.lock``, re-entrant) guards all of it; the server holds it
for a whole request, so that an Idempotency-Key check, the work and the stored answer are
one step.

A record is the object as Stripe shows it plus private fields whose names start with ``_``
(the line items, the test card's behaviour, the order of creation); ``public()`` strips
them, so no answer or event carries them. The card number is never stored: a payment
method keeps its brand, last four digits and expiry, and, for a known test card, which
behaviour it has."""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import json
import os
import secrets
import string
import tempfile
import threading
import time
from collections.abc import Callable
from typing import Any

from . import params as p
from .cards import (
    AUTHENTICATION_FAILED,
    CardInput,
    Decline,
    card_for,
    format_amount,
    minimum_amount,
)
from .config import (
    API_VERSION,
    AUTHORIZATION_SECONDS,
    IDEMPOTENCY_SECONDS,
    REFUND_FAILURE_SECONDS,
    SESSION_MAX_SECONDS,
    SESSION_MIN_SECONDS,
    ProcessorConfig,
)

STATE_FORMAT = 1
KINDS = (
    "checkout.session",
    "payment_intent",
    "payment_method",
    "charge",
    "refund",
    "dispute",
    "event",
)
PREFIXES = {
    "checkout.session": "cs_test_",
    "payment_intent": "pi_",
    "payment_method": "pm_",
    "charge": "ch_",
    "refund": "re_",
    "dispute": "dp_",
    "event": "evt_",
}
# How a 404 names each kind, as Stripe does.
NOUNS = {
    "checkout.session": "checkout.session",
    "payment_intent": "payment_intent",
    "payment_method": "PaymentMethod",
    "charge": "charge",
    "refund": "refund",
    "dispute": "dispute",
    "event": "event",
}
# The fields ``expand`` can replace by their object, and the kind each points at.
EXPANDABLE = {
    "checkout.session": {"payment_intent": "payment_intent"},
    "payment_intent": {"latest_charge": "charge", "payment_method": "payment_method"},
    "charge": {"payment_intent": "payment_intent", "payment_method": "payment_method"},
    "refund": {"charge": "charge", "payment_intent": "payment_intent"},
    "dispute": {"charge": "charge", "payment_intent": "payment_intent"},
}
MAX_EXPAND_DEPTH = 4
DEFAULT_LIMIT = 10
MAX_LIMIT = 100

CHECKOUT_PARAMS = frozenset(
    {
        "mode",
        "line_items",
        "success_url",
        "cancel_url",
        "client_reference_id",
        "metadata",
        "customer_email",
        "payment_intent_data",
        "expires_at",
        "expand",
        "payment_method_types",
        "ui_mode",
    }
)
# Accepted as Stripe accepts them, with no effect on a sandbox that shows a card form only.
CHECKOUT_IGNORED = frozenset(
    {
        "locale",
        "submit_type",
        "billing_address_collection",
        "payment_method_options",
        "customer_creation",
        "phone_number_collection",
        "custom_text",
        "consent_collection",
        "allow_promotion_codes",
        "automatic_tax",
        "invoice_creation",
        "tax_id_collection",
        "after_expiration",
        "payment_method_collection",
    }
)
PI_DATA_PARAMS = frozenset(
    {
        "capture_method",
        "metadata",
        "description",
        "statement_descriptor",
        "statement_descriptor_suffix",
        "receipt_email",
    }
)
CANCELLATION_REASONS = ("duplicate", "fraudulent", "requested_by_customer", "abandoned")
REFUND_REASONS = ("duplicate", "fraudulent", "requested_by_customer")
CANCELABLE = (
    "requires_payment_method",
    "requires_capture",
    "requires_confirmation",
    "requires_action",
    "processing",
)

_ALPHABET = string.ascii_letters + string.digits


def public(record: dict[str, Any]) -> dict[str, Any]:
    """The object as the API shows it: a deep copy without the private ``_`` fields."""
    return copy.deepcopy({name: value for name, value in record.items() if name[0] != "_"})


def new_id(kind: str) -> str:
    length = 58 if kind == "checkout.session" else 24
    return PREFIXES[kind] + "".join(secrets.choice(_ALPHABET) for _ in range(length))


@dataclasses.dataclass(frozen=True)
class Outcome:
    """What a hosted page does after a customer's step: redirect (a Location), show an
    error on the card form, or say the session is closed."""

    redirect: str | None = None
    error: str | None = None
    closed: bool = False


class Ledger:
    """Every object of one sandbox processor and its clock. ``base_url`` is where hosted
    pages are (the links in sessions and next actions); ``on_event`` hears of each event
    as it is created (called with the lock held; it must not wait)."""

    def __init__(
        self,
        config: ProcessorConfig,
        base_url: str,
        on_event: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.config = config
        self.base_url = base_url.rstrip("/")
        self.on_event = on_event
        self.lock = threading.RLock()
        self._objects: dict[str, dict[str, dict[str, Any]]] = {kind: {} for kind in KINDS}
        self._idempotency: dict[str, dict[str, Any]] = {}
        self._seq = 0
        self.offset = 0.0  # added to time.time() when config.clock is None
        self._load_state()

    # -- the clock ---------------------------------------------------------------------------------

    def clock(self) -> float:
        if self.config.clock is not None:
            return float(self.config.clock())
        return time.time() + self.offset

    def now(self) -> int:
        return int(self.clock())

    def advance(self, seconds: float) -> int:
        """Move the own clock (when config.clock is None), then run what is due; every
        pending refund of the refund-failure card fails now. Returns the new time."""
        with self.lock:
            if self.config.clock is None:
                self.offset += seconds
            self.run_due(fail_refunds=True)
            self.save()
            return self.now()

    # -- lookups and answers -----------------------------------------------------------------------

    def get(self, kind: str, ident: str, param: str = "id", status: int = 404) -> dict[str, Any]:
        record = self._objects[kind].get(ident) if isinstance(ident, str) else None
        if record is None:
            raise p.not_found(NOUNS[kind], str(ident), param, status)
        return record

    def render(self, record: dict[str, Any], expand: list[Any]) -> dict[str, Any]:
        """The public object with the ``expand`` paths (``payment_intent.latest_charge``)
        replaced by their objects."""
        obj = public(record)
        for path in expand:
            if not isinstance(path, str) or not path:
                raise p.invalid("Invalid expand: each entry must be a string.", "expand")
            parts = path.split(".")
            if len(parts) > MAX_EXPAND_DEPTH:
                raise p.invalid(
                    f"You cannot expand more than {MAX_EXPAND_DEPTH} levels of a property.",
                    "expand",
                )
            self._expand(obj, parts, path)
        return obj

    def _expand(self, obj: dict[str, Any], parts: list[str], path: str) -> None:
        field, rest = parts[0], parts[1:]
        kind = EXPANDABLE.get(obj.get("object", ""), {}).get(field)
        if kind is None:
            raise p.invalid(f"This property cannot be expanded ({path}).", "expand")
        value = obj.get(field)
        if isinstance(value, str):
            value = obj[field] = public(self.get(kind, value))
        if rest and isinstance(value, dict):
            self._expand(value, rest, path)

    def objects(self, kind: str) -> list[dict[str, Any]]:
        """Every object of a kind, oldest first (public copies)."""
        with self.lock:
            return [public(record) for record in self._objects[kind].values()]

    def page(
        self,
        kind: str,
        query: dict[str, Any],
        url: str,
        filters: dict[str, Callable[[dict[str, Any], Any], bool]] | None = None,
    ) -> dict[str, Any]:
        """A list answer, newest first: ``created`` bounds, ``limit``, ``starting_after``
        or ``ending_before``, ``expand`` (of ``data.*``) and the list's own ``filters``
        (parameter → whether a record matches its value)."""
        filters = filters or {}
        p.reject_unknown(
            query, {"created", "limit", "starting_after", "ending_before", "expand", *filters}
        )
        limit = p.integer(query, "limit", minimum=1, maximum=MAX_LIMIT) or DEFAULT_LIMIT
        bounds = p.created_filter(query)
        expand = []
        for path in p.listing(query, "expand"):
            if not isinstance(path, str) or not path.startswith("data."):
                raise p.invalid(f"This property cannot be expanded ({path}).", "expand")
            expand.append(path[len("data.") :])
        chosen = [
            record
            for record in self._objects[kind].values()
            if p.created_matches(record["created"], bounds)
            and all(match(record, query[name]) for name, match in filters.items() if name in query)
        ]
        chosen.sort(key=_position, reverse=True)
        after = p.text(query, "starting_after")
        before = p.text(query, "ending_before")
        if after is not None:
            anchor = _position(self.get(kind, after, "starting_after", 400))
            rest = [record for record in chosen if _position(record) < anchor]
            data, has_more = rest[:limit], len(rest) > limit
        elif before is not None:
            anchor = _position(self.get(kind, before, "ending_before", 400))
            rest = [record for record in chosen if _position(record) > anchor]
            data, has_more = rest[-limit:], len(rest) > limit
        else:
            data, has_more = chosen[:limit], len(chosen) > limit
        return {
            "object": "list",
            "data": [self.render(record, expand) for record in data],
            "has_more": has_more,
            "url": url,
        }

    # -- Checkout Sessions -------------------------------------------------------------------------

    def session_create(self, params: dict[str, Any]) -> dict[str, Any]:
        p.reject_unknown(params, CHECKOUT_PARAMS | CHECKOUT_IGNORED)
        mode = p.choice(params, "mode", ("payment", "setup", "subscription"))
        if mode is None:
            raise p.missing("mode")
        if mode != "payment":
            raise p.invalid("The sandbox processor takes mode=payment only.", "mode")
        ui_mode = p.text(params, "ui_mode")
        if ui_mode not in (None, "hosted", "hosted_page"):
            raise p.invalid("The sandbox processor serves hosted pages only.", "ui_mode")
        for index, method in enumerate(p.listing(params, "payment_method_types")):
            if method != "card":
                param = f"payment_method_types[{index}]"
                raise p.invalid(f"The sandbox processor takes cards only, not {method}.", param)
        success_url = p.url(params, "success_url", required=True)
        cancel_url = p.url(params, "cancel_url")
        items, currency = self._line_items(params)
        total = sum(item["unit_amount"] * item["quantity"] for item in items)
        if total < minimum_amount(currency):
            low = format_amount(minimum_amount(currency), currency)
            raise p.invalid(
                f"The Checkout Session's total amount due must add up to at least {low} {currency}",
                "line_items",
                "amount_too_small",
            )
        client_reference_id = p.text(params, "client_reference_id")
        if client_reference_id is not None and len(client_reference_id) > 200:
            raise p.invalid(
                "client_reference_id can have up to 200 characters.", "client_reference_id"
            )
        email = p.text(params, "customer_email")
        if email is not None and ("@" not in email or any(c.isspace() for c in email)):
            raise p.invalid(f"Invalid email address: {email}", "customer_email", "email_invalid")
        pi_data = p.nested(params, "payment_intent_data")
        p.reject_unknown(pi_data, PI_DATA_PARAMS, "payment_intent_data")
        capture = p.choice(
            pi_data,
            "capture_method",
            ("automatic", "automatic_async", "manual"),
            "payment_intent_data[capture_method]",
        )
        now = self.now()
        expires_at = p.integer(params, "expires_at")
        if expires_at is None:
            expires_at = now + SESSION_MAX_SECONDS
        elif expires_at < now + SESSION_MIN_SECONDS:
            raise p.invalid(
                "The `expires_at` timestamp must be at least 30 minutes from Checkout Session "
                "creation.",
                "expires_at",
            )
        elif expires_at > now + SESSION_MAX_SECONDS:
            raise p.invalid(
                "The `expires_at` timestamp must be less than 24 hours from Checkout Session "
                "creation.",
                "expires_at",
            )
        ident = new_id("checkout.session")
        session = {
            "id": ident,
            "object": "checkout.session",
            "amount_subtotal": total,
            "amount_total": total,
            "cancel_url": cancel_url,
            "client_reference_id": client_reference_id,
            "created": now,
            "currency": currency,
            "customer": None,
            "customer_details": None,
            "customer_email": email,
            "expires_at": expires_at,
            "livemode": False,
            "metadata": p.metadata(params),
            "mode": mode,
            "payment_intent": None,
            "payment_method_types": ["card"],
            "payment_status": "unpaid",
            "status": "open",
            "success_url": success_url,
            "ui_mode": "hosted_page",
            "url": f"{self.base_url}/pay/{ident}",
            "_line_items": items,
            "_capture_method": "manual" if capture == "manual" else "automatic",
            "_pi_metadata": p.metadata(pi_data, "metadata", "payment_intent_data[metadata]"),
            "_pi_description": p.text(pi_data, "description", "payment_intent_data[description]"),
        }
        self._add(session)
        self.save()
        return session

    def _line_items(self, params: dict[str, Any]) -> tuple[list[dict[str, Any]], str]:
        raw = p.listing(params, "line_items")
        if not raw:
            raise p.missing("line_items")
        items, currency = [], None
        for index, item in enumerate(raw):
            at = f"line_items[{index}]"
            if not isinstance(item, dict):
                raise p.invalid(f"Invalid {at}: must be a hash.", at)
            p.reject_unknown(item, {"price_data", "quantity", "price"}, at)
            price = p.text(item, "price", f"{at}[price]")
            if price is not None:
                raise p.not_found("price", price, f"{at}[price]", 400)
            data = p.nested(item, "price_data", f"{at}[price_data]")
            if not data:
                raise p.missing(f"{at}[price_data]")
            p.reject_unknown(
                data,
                {"currency", "unit_amount", "product_data", "tax_behavior"},
                f"{at}[price_data]",
            )
            code = p.text(data, "currency", f"{at}[price_data][currency]")
            if code is None:
                raise p.missing(f"{at}[price_data][currency]")
            code = code.lower()
            if len(code) != 3 or not code.isalpha():
                raise p.invalid(f"Invalid currency: {code}", f"{at}[price_data][currency]")
            if currency is not None and code != currency:
                raise p.invalid(
                    "All line items must be in the same currency.", f"{at}[price_data][currency]"
                )
            currency = code
            unit = p.integer(data, "unit_amount", f"{at}[price_data][unit_amount]", minimum=0)
            if unit is None:
                raise p.missing(f"{at}[price_data][unit_amount]")
            product = p.nested(data, "product_data", f"{at}[price_data][product_data]")
            p.reject_unknown(
                product,
                {"name", "description", "images", "metadata", "tax_code"},
                f"{at}[price_data][product_data]",
            )
            name = p.text(product, "name", f"{at}[price_data][product_data][name]")
            if name is None:
                raise p.missing(f"{at}[price_data][product_data][name]")
            quantity = p.integer(item, "quantity", f"{at}[quantity]", minimum=1)
            if quantity is None:
                raise p.missing(f"{at}[quantity]")
            items.append({"name": name, "quantity": quantity, "unit_amount": unit})
        assert currency is not None
        return items, currency

    def session_expire(self, ident: str, params: dict[str, Any]) -> dict[str, Any]:
        session = self.get("checkout.session", ident)
        p.reject_unknown(params, {"expand"})
        if session["status"] != "open":
            raise p.ApiError(
                400,
                "Only Checkout Sessions with a status of open can be expired; "
                f"{ident} has a status of {session['status']}.",
            )
        self._expire_session(session)
        self.save()
        return session

    def _expire_session(self, session: dict[str, Any]) -> None:
        session["status"] = "expired"
        session["url"] = None
        intent = self._objects["payment_intent"].get(session["payment_intent"] or "")
        if intent is not None and intent["status"] in (
            "requires_payment_method",
            "requires_action",
        ):
            self._cancel_intent(intent, "abandoned")
        self._emit("checkout.session.expired", session)

    # -- PaymentIntents ----------------------------------------------------------------------------

    def intent_capture(self, ident: str, params: dict[str, Any]) -> dict[str, Any]:
        intent = self.get("payment_intent", ident)
        p.reject_unknown(params, {"amount_to_capture", "expand", "metadata"})
        amount = p.integer(params, "amount_to_capture", minimum=1)
        extra = p.metadata(params)
        if intent["status"] != "requires_capture":
            raise self._unexpected(
                intent,
                "This PaymentIntent could not be captured because it has a status of "
                f"{intent['status']}. Only a PaymentIntent with the following status may be "
                "captured: requires_capture.",
            )
        capturable = intent["amount_capturable"]
        if amount is None:
            amount = capturable
        if amount > capturable:
            raise p.ApiError(
                400,
                f"The amount to capture ({amount}) must be less than or equal to the "
                f"PaymentIntent's amount_capturable ({capturable}).",
                code="amount_too_large",
                param="amount_to_capture",
            )
        charge = self.get("charge", intent["latest_charge"])
        intent.update(status="succeeded", amount_received=amount, amount_capturable=0)
        intent["metadata"].update(extra)
        charge.update(captured=True, amount_captured=amount)
        charge["_released"] = charge["amount"] - amount
        _charge_totals(charge)
        session = self._objects["checkout.session"].get(intent["_session"])
        if session is not None:
            session["payment_status"] = "paid"
        self._emit("payment_intent.succeeded", intent)
        self._emit("charge.captured", charge)
        if charge["_later"] == "dispute":
            self._open_dispute(charge)
        self.save()
        return intent

    def intent_cancel(self, ident: str, params: dict[str, Any]) -> dict[str, Any]:
        intent = self.get("payment_intent", ident)
        p.reject_unknown(params, {"cancellation_reason", "expand"})
        reason = p.choice(params, "cancellation_reason", CANCELLATION_REASONS)
        status = intent["status"]
        if status not in CANCELABLE:
            raise self._unexpected(
                intent,
                f"You cannot cancel this PaymentIntent because it has a status of {status}. "
                "Only a PaymentIntent with one of the following statuses may be canceled: "
                + ", ".join(CANCELABLE)
                + ".",
            )
        if status != "requires_capture":  # its Checkout Session is still open
            raise self._unexpected(
                intent,
                "You can't cancel the PaymentIntent of a Checkout Session while the session is "
                "open. Expire the Checkout Session instead.",
            )
        self._cancel_intent(intent, reason)
        self.save()
        return intent

    def _cancel_intent(self, intent: dict[str, Any], reason: str | None) -> None:
        intent.update(
            status="canceled",
            cancellation_reason=reason,
            canceled_at=self.now(),
            amount_capturable=0,
            next_action=None,
        )
        charge = self._objects["charge"].get(intent["latest_charge"] or "")
        if charge is not None and not charge["captured"]:  # the authorization is released
            charge["_released"] = charge["amount"]
            _charge_totals(charge)
        self._emit("payment_intent.canceled", intent)
        if charge is not None and reason == "automatic":
            self._emit("charge.expired", charge)

    def expire_authorization(self, ident: str) -> dict[str, Any]:
        """Let a held authorization lapse now (its capture_before becomes now)."""
        intent = self.get("payment_intent", ident)
        if intent["status"] != "requires_capture":
            raise self._unexpected(
                intent,
                "Only an authorized PaymentIntent (requires_capture) has an authorization to "
                f"expire; this one has a status of {intent['status']}.",
            )
        charge = self.get("charge", intent["latest_charge"])
        charge["payment_method_details"]["card"]["capture_before"] = self.now()
        self.run_due()
        self.save()
        return intent

    def _unexpected(self, intent: dict[str, Any], message: str) -> p.ApiError:
        return p.ApiError(
            400,
            message,
            code="payment_intent_unexpected_state",
            extra={"payment_intent": public(intent)},
        )

    # -- refunds -----------------------------------------------------------------------------------

    def refund_create(self, params: dict[str, Any]) -> dict[str, Any]:
        p.reject_unknown(
            params, {"payment_intent", "charge", "amount", "reason", "metadata", "expand"}
        )
        intent_id = p.text(params, "payment_intent")
        charge_id = p.text(params, "charge")
        amount = p.integer(params, "amount", minimum=1)
        reason = p.choice(params, "reason", REFUND_REASONS)
        metadata = p.metadata(params)
        if intent_id is not None:
            intent = self.get("payment_intent", intent_id, "payment_intent", 400)
            charge = self._objects["charge"].get(intent["latest_charge"] or "")
        elif charge_id is not None:
            charge = self.get("charge", charge_id, "charge", 400)
            intent = self.get("payment_intent", charge["payment_intent"])
        else:
            raise p.missing("payment_intent")
        if intent["status"] != "succeeded" or charge is None:
            raise p.ApiError(
                400,
                "This PaymentIntent does not have a successful charge to refund "
                f"(its status is {intent['status']}).",
                code="payment_intent_unexpected_state",
                param="payment_intent",
            )
        if charge["disputed"]:
            raise p.ApiError(
                400,
                f"Charge {charge['id']} has been charged back; cannot issue a refund.",
                code="charge_disputed",
            )
        left = charge["amount_captured"] - charge["_refunded"]
        if left <= 0:
            raise p.ApiError(
                400,
                f"Charge {charge['id']} has already been refunded.",
                code="charge_already_refunded",
            )
        if amount is None:
            amount = left
        if amount > left:
            currency = charge["currency"]
            raise p.ApiError(
                400,
                f"Refund amount ({format_amount(amount, currency)}) is greater than unrefunded "
                f"amount on charge ({format_amount(left, currency)})",
                code="amount_too_large",
                param="amount",
            )
        fails = charge["_later"] == "refund_fails"
        now = self.now()
        refund = {
            "id": new_id("refund"),
            "object": "refund",
            "amount": amount,
            "balance_transaction": None,
            "charge": charge["id"],
            "created": now,
            "currency": charge["currency"],
            "failure_reason": None,
            "metadata": metadata,
            "payment_intent": intent["id"],
            "reason": reason,
            "receipt_number": None,
            "status": "pending" if fails else "succeeded",
            "_fail_at": now + REFUND_FAILURE_SECONDS if fails else None,
        }
        self._add(refund)
        charge["_refunded"] += amount
        _charge_totals(charge)
        self._emit("refund.created", refund)
        self._emit("charge.refunded", charge)
        self.save()
        return refund

    def _fail_refund(self, refund: dict[str, Any]) -> None:
        refund.update(status="failed", failure_reason="expired_or_canceled_card", _fail_at=None)
        charge = self.get("charge", refund["charge"])
        charge["_refunded"] -= refund["amount"]
        _charge_totals(charge)
        self._emit("refund.failed", refund)

    # -- disputes ----------------------------------------------------------------------------------

    def _open_dispute(self, charge: dict[str, Any]) -> None:
        now = self.now()
        dispute = {
            "id": new_id("dispute"),
            "object": "dispute",
            "amount": charge["amount_captured"],
            "balance_transactions": [],
            "charge": charge["id"],
            "created": now,
            "currency": charge["currency"],
            "evidence_details": {
                "due_by": now + 7 * 24 * 3600,
                "has_evidence": False,
                "past_due": False,
                "submission_count": 0,
            },
            "is_charge_refundable": False,
            "livemode": False,
            "metadata": {},
            "payment_intent": charge["payment_intent"],
            "reason": "fraudulent",
            "status": "needs_response",
        }
        self._add(dispute)
        charge["disputed"] = True
        self._emit("charge.dispute.created", dispute)

    # -- the customer on the hosted pages ----------------------------------------------------------

    def session_intent(self, session: dict[str, Any]) -> dict[str, Any] | None:
        return self._objects["payment_intent"].get(session["payment_intent"] or "")

    def submit_card(self, ident: str, card: CardInput) -> Outcome:
        """The customer submitted an acceptable card on the session's page."""
        self.run_due()
        session = self.get("checkout.session", ident)
        if session["status"] != "open":
            return Outcome(closed=True)
        intent = self.session_intent(session) or self._create_intent(session)
        spec = card_for(card.number)
        method = self._create_method(session, card, spec.brand)
        # What the card does from here on, instead of its number (never stored).
        method["_decline"] = dataclasses.asdict(spec.decline) if spec.decline else None
        method["_later"] = spec.later
        intent.update(payment_method=method["id"], last_payment_error=None, next_action=None)
        if spec.three_ds:
            intent["status"] = "requires_action"
            intent["next_action"] = {
                "type": "redirect_to_url",
                "redirect_to_url": {
                    "url": f"{self.base_url}/3ds/{intent['id']}",
                    "return_url": f"{self.base_url}/pay/{ident}",
                },
            }
            self._emit("payment_intent.requires_action", intent)
            self.save()
            return Outcome(redirect=f"{self.base_url}/3ds/{intent['id']}")
        outcome = self._conclude(session, intent, method)
        self.save()
        return outcome

    def authenticate(self, ident: str, action: str) -> tuple[Outcome, dict[str, Any] | None]:
        """The customer completed or failed the 3-D Secure challenge of a PaymentIntent:
        (what the page does, the session)."""
        self.run_due()
        intent = self.get("payment_intent", ident)
        session = self.get("checkout.session", intent["_session"])
        if intent["status"] != "requires_action" or session["status"] != "open":
            return Outcome(closed=True), session
        method = self.get("payment_method", intent["payment_method"])
        intent["next_action"] = None
        if action != "complete":
            intent["status"] = "requires_payment_method"
            intent["last_payment_error"] = {
                "type": "invalid_request_error",
                "code": "payment_intent_authentication_failure",
                "decline_code": None,
                "doc_url": "https://stripe.com/docs/error-codes/payment-intent-authentication-failure",
                "message": AUTHENTICATION_FAILED,
                "param": None,
                "payment_method": public(method),
            }
            self._emit("payment_intent.payment_failed", intent)
            self.save()
            return Outcome(redirect=f"{self.base_url}/pay/{session['id']}"), session
        outcome = self._conclude(session, intent, method)
        self.save()
        if outcome.error is not None:  # declined after the challenge: back to the card form
            return Outcome(redirect=f"{self.base_url}/pay/{session['id']}"), session
        return outcome, session

    def _conclude(
        self, session: dict[str, Any], intent: dict[str, Any], method: dict[str, Any]
    ) -> Outcome:
        if method["_decline"] is not None:
            decline = Decline(**method["_decline"])
            intent["status"] = "requires_payment_method"
            intent["last_payment_error"] = {
                "type": "card_error",
                "code": decline.code,
                "decline_code": decline.decline_code,
                "doc_url": f"https://stripe.com/docs/error-codes/{decline.code.replace('_', '-')}",
                "message": decline.message,
                "param": None,
                "payment_method": public(method),
            }
            self._emit("payment_intent.payment_failed", intent)
            return Outcome(error=decline.message)
        self._authorize(session, intent, method, method["_later"])
        return Outcome(
            redirect=session["success_url"].replace("{CHECKOUT_SESSION_ID}", session["id"])
        )

    def _create_intent(self, session: dict[str, Any]) -> dict[str, Any]:
        ident = new_id("payment_intent")
        intent = {
            "id": ident,
            "object": "payment_intent",
            "amount": session["amount_total"],
            "amount_capturable": 0,
            "amount_received": 0,
            "canceled_at": None,
            "cancellation_reason": None,
            "capture_method": session["_capture_method"],
            "client_secret": f"{ident}_secret_{secrets.token_hex(12)}",
            "confirmation_method": "automatic",
            "created": self.now(),
            "currency": session["currency"],
            "customer": None,
            "description": session["_pi_description"],
            "last_payment_error": None,
            "latest_charge": None,
            "livemode": False,
            "metadata": dict(session["_pi_metadata"]),
            "next_action": None,
            "payment_method": None,
            "payment_method_types": ["card"],
            "receipt_email": None,
            "status": "requires_payment_method",
            "_session": session["id"],
        }
        self._add(intent)
        session["payment_intent"] = ident
        self._emit("payment_intent.created", intent)
        return intent

    def _create_method(self, session: dict[str, Any], card: CardInput, brand: str) -> dict:
        method = {
            "id": new_id("payment_method"),
            "object": "payment_method",
            "billing_details": {
                "address": None,
                "email": session["customer_email"],
                "name": card.name or None,
                "phone": None,
            },
            "card": _card_details(brand, card),
            "created": self.now(),
            "customer": None,
            "livemode": False,
            "metadata": {},
            "type": "card",
        }
        self._add(method)
        return method

    def _authorize(
        self,
        session: dict[str, Any],
        intent: dict[str, Any],
        method: dict[str, Any],
        later: str | None,
    ) -> None:
        now = self.now()
        manual = intent["capture_method"] == "manual"
        amount = intent["amount"]
        card = dict(method["card"])
        card["capture_before"] = now + AUTHORIZATION_SECONDS if manual else None
        charge = {
            "id": new_id("charge"),
            "object": "charge",
            "amount": amount,
            "amount_captured": 0 if manual else amount,
            "amount_refunded": 0,
            "balance_transaction": None,
            "billing_details": copy.deepcopy(method["billing_details"]),
            "captured": not manual,
            "created": now,
            "currency": intent["currency"],
            "description": intent["description"],
            "disputed": False,
            "failure_code": None,
            "failure_message": None,
            "livemode": False,
            "metadata": dict(intent["metadata"]),
            "outcome": {
                "network_status": "approved_by_network",
                "reason": None,
                "risk_level": "normal",
                "seller_message": "Payment complete.",
                "type": "authorized",
            },
            "paid": True,
            "payment_intent": intent["id"],
            "payment_method": method["id"],
            "payment_method_details": {"type": "card", "card": card},
            "receipt_email": None,
            "refunded": False,
            "status": "succeeded",
            "_later": later,
            "_refunded": 0,  # by refunds (pending or succeeded)
            "_released": 0,  # an authorization not captured
        }
        self._add(charge)
        intent["latest_charge"] = charge["id"]
        if manual:
            intent.update(status="requires_capture", amount_capturable=amount)
        else:
            intent.update(status="succeeded", amount_received=amount)
        session.update(
            status="complete",
            payment_status="unpaid" if manual else "paid",
            url=None,
            customer_details={
                "email": session["customer_email"],
                "name": method["billing_details"]["name"],
            },
        )
        self._emit("charge.succeeded", charge)
        if manual:
            self._emit("payment_intent.amount_capturable_updated", intent)
        else:
            self._emit("payment_intent.succeeded", intent)
        self._emit("checkout.session.completed", session)
        if not manual and later == "dispute":
            self._open_dispute(charge)

    # -- expiries ----------------------------------------------------------------------------------

    def run_due(self, *, fail_refunds: bool = False) -> bool:
        """Lapse authorizations past capture_before, expire open sessions past expires_at,
        fail refunds of the refund-failure card that are due (all of them with
        ``fail_refunds``). Returns whether anything changed (the caller saves)."""
        with self.lock:
            now = self.now()
            changed = False
            for intent in list(self._objects["payment_intent"].values()):
                if intent["status"] != "requires_capture":
                    continue
                charge = self._objects["charge"].get(intent["latest_charge"] or "")
                deadline = (
                    charge["payment_method_details"]["card"]["capture_before"] if charge else None
                )
                if deadline is not None and deadline <= now:
                    self._cancel_intent(intent, "automatic")
                    changed = True
            for session in list(self._objects["checkout.session"].values()):
                if session["status"] == "open" and session["expires_at"] <= now:
                    self._expire_session(session)
                    changed = True
            for refund in list(self._objects["refund"].values()):
                due = refund.get("_fail_at")
                if (
                    refund["status"] == "pending"
                    and due is not None
                    and (fail_refunds or due <= now)
                ):
                    self._fail_refund(refund)
                    changed = True
            return changed

    # -- events ------------------------------------------------------------------------------------

    def _emit(self, kind: str, record: dict[str, Any]) -> dict[str, Any]:
        event = {
            "id": new_id("event"),
            "object": "event",
            "api_version": API_VERSION,
            "created": self.now(),
            "data": {"object": public(record)},
            "livemode": False,
            "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None},
            "type": kind,
            "_delivery": "pending",  # pending | delivered | failed
        }
        self._add(event)
        if self.on_event is not None:
            self.on_event(public(event))
        return event

    def pending_events(self) -> list[dict[str, Any]]:
        """The events not yet delivered (nor given up), oldest first (public copies)."""
        with self.lock:
            return [
                public(event)
                for event in self._objects["event"].values()
                if event["_delivery"] == "pending"
            ]

    def take_undelivered(self) -> list[dict[str, Any]]:
        """The events not yet delivered, oldest first; from now on they count as delivered."""
        with self.lock:
            taken = []
            for event in self._objects["event"].values():
                if event["_delivery"] == "pending":
                    event.update(_delivery="delivered", pending_webhooks=0)
                    taken.append(public(event))
            if taken:
                self.save()
            return taken

    def delivered(self, ident: str, ok: bool) -> None:
        """A webhook delivery ended: delivered, or given up after the last try."""
        with self.lock:
            event = self._objects["event"].get(ident)
            if event is None:
                return
            if ok:
                event.update(_delivery="delivered", pending_webhooks=0)
            else:
                event["_delivery"] = "failed"
            self.save()

    # -- idempotency -------------------------------------------------------------------------------

    def replay(self, key: str, path: str, params: dict[str, Any]) -> dict[str, Any] | None:
        """The stored answer to this Idempotency-Key (None: not used yet); an
        ``idempotency_error`` when it was used for another request."""
        stored = self._idempotency.get(key)
        if stored is None or stored["at"] + IDEMPOTENCY_SECONDS < time.time():
            return None
        if stored["path"] != path:
            raise p.ApiError(
                400,
                "Keys for idempotent requests can only be used for the same endpoint they were "
                f"first used for ('{stored['path']}' vs '{path}'). Try using a key other than "
                f"'{key}' if you meant to execute a different request.",
                type="idempotency_error",
                saved=False,
            )
        if stored["params"] != params:
            raise p.ApiError(
                400,
                "Keys for idempotent requests can only be used with the same parameters they "
                f"were first used with. Try using a key other than '{key}' if you meant to "
                "execute a different request.",
                type="idempotency_error",
                saved=False,
            )
        return stored

    def remember(
        self,
        key: str,
        path: str,
        params: dict[str, Any],
        status: int,
        body: bytes,
        request_id: str,
    ) -> None:
        cutoff = time.time() - IDEMPOTENCY_SECONDS
        for old in [name for name, kept in self._idempotency.items() if kept["at"] < cutoff]:
            del self._idempotency[old]
        self._idempotency[key] = {
            "path": path,
            "params": params,
            "status": status,
            "body": body.decode("utf-8"),
            "request_id": request_id,
            "at": time.time(),
        }
        self.save()

    def forget_idempotency(self) -> None:
        """Drop every stored Idempotency-Key answer, as if a day had passed (for a test run
        whose database hands out the same ids again after each rollback, as SQLite does)."""
        with self.lock:
            self._idempotency.clear()
            self.save()

    # -- records and the state file ----------------------------------------------------------------

    def _add(self, record: dict[str, Any]) -> None:
        self._seq += 1
        record["_seq"] = self._seq
        self._objects[record["object"]][record["id"]] = record

    def save(self) -> None:
        """Write the state file atomically (a temporary file, then os.replace)."""
        path = self.config.state_file
        if not path:
            return
        with self.lock:
            state = {
                "format": STATE_FORMAT,
                "offset": self.offset,
                "seq": self._seq,
                "objects": {
                    kind: list(records.values()) for kind, records in self._objects.items()
                },
                "idempotency": self._idempotency,
            }
            directory = os.path.dirname(os.path.abspath(path))
            descriptor, temporary = tempfile.mkstemp(
                prefix=".sandbox-processor-", suffix=".tmp", dir=directory
            )
            try:
                with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
                    json.dump(state, handle, ensure_ascii=False)
                os.replace(temporary, path)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(temporary)
                raise

    def _load_state(self) -> None:
        path = self.config.state_file
        if not path or not os.path.exists(path):
            return
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
        if not isinstance(data, dict) or data.get("format") != STATE_FORMAT:
            raise ValueError(f"{path} is not a sandbox processor state file")
        self.offset = float(data.get("offset", 0.0))
        self._seq = int(data.get("seq", 0))
        for kind, records in data.get("objects", {}).items():
            if kind in self._objects:
                self._objects[kind] = {record["id"]: record for record in records}
        self._idempotency = dict(data.get("idempotency", {}))


def _position(record: dict[str, Any]) -> tuple[int, int]:
    return record["created"], record["_seq"]


def _charge_totals(charge: dict[str, Any]) -> None:
    refunded = charge["_refunded"] + charge["_released"]
    charge["amount_refunded"] = refunded
    charge["refunded"] = refunded >= charge["amount"]


def _card_details(brand: str, card: CardInput) -> dict[str, Any]:
    return {
        "brand": brand,
        "checks": {
            "address_line1_check": None,
            "address_postal_code_check": None,
            "cvc_check": "pass",
        },
        "country": "US",
        "exp_month": card.exp_month,
        "exp_year": card.exp_year,
        "fingerprint": secrets.token_hex(8),
        "funding": "credit",
        "last4": card.number[-4:],
        "network": brand if brand != "unknown" else None,
    }
