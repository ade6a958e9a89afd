"""The sandbox card processor over real HTTP on 127.0.0.1, driven by the official stripe
library as Velory drives it: Checkout Sessions, the hosted card page and its 3-D Secure
challenge, capture, void, refunds, Stripe's test cards, idempotency, lists, expiries on the
processor's clock, the down switch, signed webhooks and the state file
(docs/sandbox-processor.md). No database."""

from __future__ import annotations

import html
import io
import json
import re
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests
import stripe
from django.core.management import call_command

from budgets.payments.processor import (
    AUTHORIZATION_SECONDS,
    TEST_CARDS,
    ProcessorConfig,
    SandboxProcessor,
)
from budgets.payments.processor.params import decode

KEY = "sk_test_velory_sandbox"
SECRET = "whsec_velory_sandbox"
SUCCESS = "http://velory.test/payments/done?session_id={CHECKOUT_SESSION_ID}"
CANCEL = "http://velory.test/payments/cancelled"
DECLINES = {
    "4000000000000002": ("card_declined", "generic_decline", "Your card was declined."),
    "4000000000009995": (
        "card_declined",
        "insufficient_funds",
        "Your card has insufficient funds.",
    ),
    "4000000000000069": ("expired_card", "expired_card", "Your card has expired."),
    "4000000000000127": (
        "incorrect_cvc",
        "incorrect_cvc",
        "Your card's security code is incorrect.",
    ),
    "4000000000000119": (
        "processing_error",
        "processing_error",
        "An error occurred while processing your card. Try again in a little bit.",
    ),
}


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self, now: float = 1_795_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Wire:
    """The raw answers the stripe library received (status, headers, body)."""

    def __init__(self) -> None:
        self.answers: list[tuple[int, dict[str, str], bytes]] = []

    def hook(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        self.answers.append((response.status_code, dict(response.headers), response.content))

    @property
    def last(self) -> tuple[int, dict[str, str], bytes]:
        return self.answers[-1]


@pytest.fixture
def serve() -> Iterator[Callable[..., SandboxProcessor]]:
    started: list[SandboxProcessor] = []

    def _serve(**options: Any) -> SandboxProcessor:
        processor = SandboxProcessor(ProcessorConfig(port=0, **options)).start()
        started.append(processor)
        return processor

    yield _serve
    for processor in started:
        processor.stop()


@pytest.fixture
def wire() -> Wire:
    return Wire()


@pytest.fixture
def connect(wire: Wire) -> Callable[..., stripe.StripeClient]:
    def _connect(
        processor: SandboxProcessor, key: str = KEY, retries: int = 0
    ) -> stripe.StripeClient:
        session = requests.Session()
        session.trust_env = False  # no proxy of the environment between us and 127.0.0.1
        session.hooks["response"].append(wire.hook)
        return stripe.StripeClient(
            key,
            base_addresses={"api": processor.url},
            max_network_retries=retries,
            http_client=stripe.RequestsClient(timeout=5, session=session),
        )

    return _connect


@pytest.fixture
def processor(serve: Callable[..., SandboxProcessor]) -> SandboxProcessor:
    return serve()


@pytest.fixture
def client(
    processor: SandboxProcessor, connect: Callable[..., stripe.StripeClient]
) -> stripe.StripeClient:
    return connect(processor)


def checkout(
    client: stripe.StripeClient,
    *,
    capture: str = "manual",
    amount: int = 19900,
    currency: str = "eur",
    options: dict[str, Any] | None = None,
    **extra: Any,
) -> stripe.checkout.Session:
    params: dict[str, Any] = {
        "mode": "payment",
        "success_url": SUCCESS,
        "cancel_url": CANCEL,
        "client_reference_id": "order-42",
        "customer_email": "anna@acme.test",
        "metadata": {"order": "42", "employee": "7"},
        "line_items": [
            {
                "quantity": 1,
                "price_data": {
                    "currency": currency,
                    "unit_amount": amount,
                    "product_data": {"name": "MacBook Pro 14 deposit"},
                },
            }
        ],
        "payment_intent_data": {
            "capture_method": capture,
            "metadata": {"order": "42"},
            "description": "Order 42",
        },
        **extra,
    }
    return client.v1.checkout.sessions.create(params=params, options=options or {})


def paid_intent(
    processor: SandboxProcessor,
    client: stripe.StripeClient,
    card: str = "4242424242424242",
    **options: Any,
) -> stripe.PaymentIntent:
    session = checkout(client, **options)
    result = processor.pay(session.id, card=card)
    assert result.redirect == SUCCESS.replace("{CHECKOUT_SESSION_ID}", session.id), result
    session = client.v1.checkout.sessions.retrieve(session.id)
    return client.v1.payment_intents.retrieve(
        session.payment_intent, params={"expand": ["latest_charge"]}
    )


def types(processor: SandboxProcessor) -> list[str]:
    return [event["type"] for event in processor.events]


def fetch(url: str, form: dict[str, str] | None = None) -> tuple[int, str]:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    data = urllib.parse.urlencode(form).encode() if form is not None else None
    try:
        with opener.open(urllib.request.Request(url, data=data), timeout=5) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.read().decode()


# -- the API key and unknown things -------------------------------------------------------------


def test_a_missing_or_wrong_key_is_refused_like_stripe(processor, connect, wire):
    with pytest.raises(stripe.AuthenticationError) as wrong:
        connect(processor, key="sk_test_wrong_key_abcd").v1.payment_intents.list()
    assert wrong.value.http_status == 401
    assert str(wrong.value.user_message).startswith("Invalid API Key provided: sk_test_")
    assert "wrong_key" not in wrong.value.user_message  # masked but for the last four
    assert wrong.value.user_message.endswith("abcd")
    assert wrong.value.request_id.startswith("req_")
    answer = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with pytest.raises(urllib.error.HTTPError) as missing:
        answer.open(f"{processor.url}/v1/payment_intents", timeout=5)
    body = json.loads(missing.value.read())
    assert missing.value.code == 401
    assert body["error"]["type"] == "invalid_request_error"
    assert "You did not provide an API key" in body["error"]["message"]
    assert missing.value.headers["Request-Id"].startswith("req_")


def test_unknown_ids_and_urls_answer_404_with_the_right_noun(client):
    for call, noun, ident in (
        (client.v1.payment_intents.retrieve, "payment_intent", "pi_nope"),
        (client.v1.checkout.sessions.retrieve, "checkout.session", "cs_test_nope"),
        (client.v1.refunds.retrieve, "refund", "re_nope"),
        (client.v1.events.retrieve, "event", "evt_nope"),
    ):
        with pytest.raises(stripe.InvalidRequestError) as error:
            call(ident)
        assert error.value.http_status == 404
        assert error.value.code == "resource_missing"
        assert error.value.param == "id"
        assert error.value.user_message == f"No such {noun}: '{ident}'"
    with pytest.raises(stripe.InvalidRequestError) as unknown:
        client.v1.payment_intents.capture("pi_nope")
    assert unknown.value.http_status == 404


def test_nested_brackets_and_both_list_forms_are_read_like_stripe(processor, client):
    assert decode("a[b][0][c]=1&a[b][1][c]=2&expand[]=x&expand[]=y&m[k]=") == {
        "a": {"b": [{"c": "1"}, {"c": "2"}]},
        "expand": ["x", "y"],
        "m": {"k": ""},
    }
    session = checkout(client)
    processor.pay(session.id)
    request = urllib.request.Request(
        f"{processor.url}/v1/checkout/sessions/{session.id}"
        "?expand[]=payment_intent&expand[]=payment_intent.latest_charge",
        headers={"Authorization": f"Bearer {KEY}"},
    )
    with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(request) as answer:
        expanded = json.loads(answer.read())
    assert expanded["payment_intent"]["object"] == "payment_intent"
    assert expanded["payment_intent"]["latest_charge"]["object"] == "charge"
    with pytest.raises(stripe.InvalidRequestError) as error:
        client.v1.checkout.sessions.retrieve(session.id, params={"expand": ["customer"]})
    assert error.value.param == "expand"


# -- Checkout Sessions --------------------------------------------------------------------------


def test_a_checkout_session_is_created_and_retrieved_with_every_field(processor, client):
    session = checkout(client)
    assert isinstance(session, stripe.checkout.Session)
    assert re.fullmatch(r"cs_test_[A-Za-z0-9]{58}", session.id)
    fields = session.to_dict()
    assert fields["url"] == f"{processor.url}/pay/{session.id}"
    assert (fields["status"], fields["payment_status"], fields["payment_intent"]) == (
        "open",
        "unpaid",
        None,
    )
    assert (fields["amount_total"], fields["currency"], fields["mode"]) == (19900, "eur", "payment")
    assert fields["metadata"] == {"order": "42", "employee": "7"}
    assert fields["client_reference_id"] == "order-42"
    assert fields["customer_email"] == "anna@acme.test"
    assert fields["success_url"] == SUCCESS  # the placeholder is kept until the redirect
    assert fields["cancel_url"] == CANCEL
    assert fields["livemode"] is False
    assert fields["expires_at"] - fields["created"] == 24 * 3600
    again = client.v1.checkout.sessions.retrieve(session.id)
    assert again.to_dict() == fields
    listed = client.v1.checkout.sessions.list(params={"status": "open"})
    assert [s.id for s in listed.data] == [session.id]


@pytest.mark.parametrize(
    ("change", "param"),
    [
        ({"mode": None}, "mode"),
        ({"success_url": None}, "success_url"),
        ({"success_url": "not a url"}, "success_url"),
        ({"line_items": None}, "line_items"),
        (
            {
                "line_items": [
                    {"quantity": 1, "price_data": {"currency": "eur", "unit_amount": "x"}}
                ]
            },
            "line_items[0][price_data][unit_amount]",
        ),
        (
            {
                "line_items": [
                    {"price_data": {"currency": "eur", "unit_amount": 900, "product_data": {}}}
                ]
            },
            "line_items[0][price_data][product_data][name]",
        ),
        (
            {"payment_intent_data": {"capture_method": "later"}},
            "payment_intent_data[capture_method]",
        ),
        ({"expires_at": int(time.time()) + 60}, "expires_at"),
        ({"expires_at": int(time.time()) + 25 * 3600}, "expires_at"),
        ({"colour": "blue"}, "colour"),
    ],
)
def test_invalid_checkout_parameters_are_refused_with_the_param(client, change, param):
    with pytest.raises(stripe.InvalidRequestError) as error:
        checkout(client, **change)
    assert error.value.http_status == 400
    assert error.value.param == param
    assert error.value.error.type == "invalid_request_error"


def test_expiring_a_session_closes_its_page_and_abandons_its_payment_intent(processor, client):
    session = checkout(client)
    declined = processor.pay(session.id, card="4000000000000002")
    assert declined.error == "Your card was declined."
    expired = client.v1.checkout.sessions.expire(session.id)
    assert (expired.status, expired.url) == ("expired", None)
    intent = client.v1.payment_intents.retrieve(expired.payment_intent)
    assert (intent.status, intent.cancellation_reason) == ("canceled", "abandoned")
    assert types(processor)[-2:] == ["payment_intent.canceled", "checkout.session.expired"]
    with pytest.raises(stripe.InvalidRequestError) as again:
        client.v1.checkout.sessions.expire(session.id)
    assert "status of expired" in again.value.user_message
    status, page = fetch(f"{processor.url}/pay/{session.id}")
    assert status == 200 and "This payment page has expired" in page and "<form" not in page
    assert f'href="{CANCEL}"' in page
    assert processor.pay(session.id).error == "This payment page has expired. Nothing was charged."


# -- paying: manual capture, capture, refunds ---------------------------------------------------


def test_a_manual_payment_is_authorized_captured_and_refunded(processor, client):
    session = checkout(client)
    result = processor.pay(session.id)
    assert result.redirect == f"http://velory.test/payments/done?session_id={session.id}"
    session = client.v1.checkout.sessions.retrieve(
        session.id, params={"expand": ["payment_intent", "payment_intent.latest_charge"]}
    )
    assert (session.status, session.payment_status, session.url) == ("complete", "unpaid", None)
    intent = session.payment_intent
    assert isinstance(intent, stripe.PaymentIntent)
    assert (intent.status, intent.amount_capturable, intent.amount_received) == (
        "requires_capture",
        19900,
        0,
    )
    assert intent.metadata.to_dict() == {"order": "42"}
    assert intent.description == "Order 42"
    assert intent.payment_method.startswith("pm_")
    charge = intent.latest_charge
    assert isinstance(charge, stripe.Charge)
    card = charge.payment_method_details.card
    assert (card.brand, card.last4, card.exp_month, card.exp_year) == ("visa", "4242", 12, 2040)
    assert card.capture_before == charge.created + AUTHORIZATION_SECONDS
    assert (charge.captured, charge.amount_captured, charge.status) == (False, 0, "succeeded")
    assert types(processor) == [
        "payment_intent.created",
        "charge.succeeded",
        "payment_intent.amount_capturable_updated",
        "checkout.session.completed",
    ]
    completed = processor.events[-1]["data"]["object"]
    assert (completed["status"], completed["payment_status"]) == ("complete", "unpaid")

    captured = client.v1.payment_intents.capture(intent.id)
    assert (captured.status, captured.amount_received, captured.amount_capturable) == (
        "succeeded",
        19900,
        0,
    )
    assert types(processor)[-2:] == ["payment_intent.succeeded", "charge.captured"]
    assert client.v1.checkout.sessions.retrieve(session.id).payment_status == "paid"

    partial = client.v1.refunds.create(
        params={
            "payment_intent": intent.id,
            "amount": 5000,
            "reason": "requested_by_customer",
            "metadata": {"refund": "1"},
        }
    )
    assert (partial.object, partial.status, partial.amount, partial.charge) == (
        "refund",
        "succeeded",
        5000,
        charge.id,
    )
    assert (partial.failure_reason, partial.reason) == (None, "requested_by_customer")
    assert partial.metadata.to_dict() == {"refund": "1"}
    with pytest.raises(stripe.InvalidRequestError) as too_much:
        client.v1.refunds.create(params={"payment_intent": intent.id, "amount": 20000})
    assert (too_much.value.code, too_much.value.param) == ("amount_too_large", "amount")
    rest = client.v1.refunds.create(params={"payment_intent": intent.id})
    assert rest.amount == 14900
    refreshed = client.v1.charges.retrieve(charge.id)
    assert (refreshed.amount_refunded, refreshed.refunded) == (19900, True)
    with pytest.raises(stripe.InvalidRequestError) as nothing_left:
        client.v1.refunds.create(params={"payment_intent": intent.id, "amount": 1})
    assert nothing_left.value.code == "charge_already_refunded"
    assert client.v1.refunds.retrieve(partial.id).amount == 5000
    assert types(processor)[-4:] == [
        "refund.created",
        "charge.refunded",
        "refund.created",
        "charge.refunded",
    ]


def test_an_automatic_payment_is_captured_at_once(processor, client):
    intent = paid_intent(processor, client, capture="automatic")
    assert (intent.status, intent.amount_received, intent.amount_capturable) == (
        "succeeded",
        19900,
        0,
    )
    charge = intent.latest_charge
    assert (charge.captured, charge.amount_captured) == (True, 19900)
    assert charge.payment_method_details.card.capture_before is None
    assert types(processor)[-3:] == [
        "charge.succeeded",
        "payment_intent.succeeded",
        "checkout.session.completed",
    ]
    assert processor.events[-1]["data"]["object"]["payment_status"] == "paid"


def test_a_partial_capture_takes_only_that_amount(processor, client):
    intent = paid_intent(processor, client)
    with pytest.raises(stripe.InvalidRequestError) as too_much:
        client.v1.payment_intents.capture(intent.id, params={"amount_to_capture": 20000})
    assert (too_much.value.code, too_much.value.param) == ("amount_too_large", "amount_to_capture")
    captured = client.v1.payment_intents.capture(intent.id, params={"amount_to_capture": 15000})
    assert (captured.status, captured.amount_received) == ("succeeded", 15000)
    with pytest.raises(stripe.InvalidRequestError) as over:
        client.v1.refunds.create(params={"payment_intent": intent.id, "amount": 15001})
    assert over.value.code == "amount_too_large"


def test_voiding_an_authorization_then_capturing_is_refused(processor, client):
    intent = paid_intent(processor, client)
    canceled = client.v1.payment_intents.cancel(
        intent.id, params={"cancellation_reason": "requested_by_customer"}
    )
    assert (canceled.status, canceled.amount_capturable) == ("canceled", 0)
    assert canceled.cancellation_reason == "requested_by_customer"
    assert canceled.canceled_at is not None
    assert types(processor)[-1] == "payment_intent.canceled"
    with pytest.raises(stripe.InvalidRequestError) as capture:
        client.v1.payment_intents.capture(intent.id)
    assert capture.value.code == "payment_intent_unexpected_state"
    assert capture.value.user_message.startswith(
        "This PaymentIntent could not be captured because it has a status of canceled."
    )
    with pytest.raises(stripe.InvalidRequestError) as again:
        client.v1.payment_intents.cancel(intent.id)
    assert again.value.code == "payment_intent_unexpected_state"
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.refunds.create(params={"payment_intent": intent.id})


def test_the_payment_intent_of_an_open_session_is_not_canceled_directly(processor, client):
    session = checkout(client)
    processor.pay(session.id, card="4000000000000002")
    intent_id = client.v1.checkout.sessions.retrieve(session.id).payment_intent
    with pytest.raises(stripe.InvalidRequestError) as error:
        client.v1.payment_intents.cancel(intent_id)
    assert error.value.code == "payment_intent_unexpected_state"
    assert "Expire the Checkout Session instead" in error.value.user_message


# -- 3-D Secure and declines --------------------------------------------------------------------


@pytest.mark.parametrize("card", ["4000002500003155", "4000002760003184", "4000000000003220"])
def test_a_3ds_card_asks_for_the_challenge_and_completes(processor, client, card):
    session = checkout(client)
    waiting = processor.pay(session.id, card=card)
    assert waiting.challenge == f"{processor.url}/3ds/" + (
        client.v1.checkout.sessions.retrieve(session.id).payment_intent
    )
    intent = client.v1.payment_intents.retrieve(
        client.v1.checkout.sessions.retrieve(session.id).payment_intent
    )
    assert intent.status == "requires_action"
    assert intent.next_action.type == "redirect_to_url"
    status, page = fetch(waiting.challenge)
    assert status == 200 and "3D Secure 2 test page" in page
    assert "Complete authentication" in page and "Fail authentication" in page
    done = processor.pay(session.id, card=card, three_ds="complete")
    assert done.redirect == SUCCESS.replace("{CHECKOUT_SESSION_ID}", session.id)
    assert client.v1.payment_intents.retrieve(intent.id).status == "requires_capture"


def test_a_failed_3ds_challenge_leaves_the_session_open_for_another_card(processor, client):
    session = checkout(client)
    failed = processor.pay(session.id, card="4000002500003155", three_ds="fail")
    assert failed.error == (
        "We are unable to authenticate your payment method. Please choose a different payment "
        "method and try again."
    )
    intent_id = client.v1.checkout.sessions.retrieve(session.id).payment_intent
    intent = client.v1.payment_intents.retrieve(intent_id)
    assert intent.status == "requires_payment_method"
    assert intent.last_payment_error.code == "payment_intent_authentication_failure"
    assert intent.last_payment_error.message == failed.error
    assert types(processor)[-1] == "payment_intent.payment_failed"
    assert client.v1.checkout.sessions.retrieve(session.id).status == "open"
    assert processor.pay(session.id).redirect is not None  # another card, the same intent
    again = client.v1.payment_intents.retrieve(intent_id)
    assert (again.status, again.last_payment_error) == ("requires_capture", None)


def test_the_3ds_decline_card_is_declined_after_the_challenge(processor, client):
    session = checkout(client)
    result = processor.pay(session.id, card="4000008400001629", three_ds="complete")
    assert (result.redirect, result.error) == (None, "Your card was declined.")
    intent = client.v1.payment_intents.retrieve(
        client.v1.checkout.sessions.retrieve(session.id).payment_intent
    )
    assert (intent.status, intent.last_payment_error.code) == (
        "requires_payment_method",
        "card_declined",
    )


@pytest.mark.parametrize("card", sorted(DECLINES))
def test_each_decline_card_shows_its_message_and_records_the_error(processor, client, card):
    code, decline_code, message = DECLINES[card]
    session = checkout(client)
    result = processor.pay(session.id, card=card)
    assert (result.redirect, result.error) == (None, message)
    session = client.v1.checkout.sessions.retrieve(
        session.id, params={"expand": ["payment_intent"]}
    )
    assert session.status == "open"
    error = session.payment_intent.last_payment_error
    assert (session.payment_intent.status, error.type, error.code, error.decline_code) == (
        "requires_payment_method",
        "card_error",
        code,
        decline_code,
    )
    assert error.message == message
    assert session.payment_intent.latest_charge is None
    assert types(processor)[-1] == "payment_intent.payment_failed"


def test_the_card_form_checks_what_was_typed_and_never_echoes_it(processor, client):
    session = checkout(client)
    url = f"{processor.url}/pay/{session.id}"
    for number, exp, cvc, message in (
        ("4242424242424241", "12/40", "123", "Your card number is invalid."),
        ("4242424242424242", "01/20", "123", "Your card's expiration date is in the past."),
        ("4242424242424242", "12/40", "12", "Your card's security code is incomplete."),
        ("", "", "", "Your card number is incomplete."),
    ):
        status, page = fetch(url, {"card_number": number, "exp": exp, "cvc": cvc, "name": "A"})
        assert status == 200 and html.escape(message) in page and 'role="alert"' in page
        if number:
            assert number not in page  # nor written back into a field
        for field in ("card_number", "cvc", "exp"):  # the fields come back empty
            tag = re.search(rf'<input id="{field}"[^>]*>', page)[0]
            assert "value=" not in tag
    assert client.v1.checkout.sessions.retrieve(session.id).payment_intent is None
    assert processor.events == []


# -- idempotency and lists ----------------------------------------------------------------------


def test_an_idempotency_key_replays_the_first_answer_byte_for_byte(processor, client, wire):
    first = checkout(client, options={"idempotency_key": "checkout-42"})
    first_status, first_headers, first_body = wire.last
    again = checkout(client, options={"idempotency_key": "checkout-42"})
    status, headers, body = wire.last
    assert again.id == first.id
    assert (status, body) == (first_status, first_body)
    assert headers["Idempotent-Replayed"] == "true"
    assert headers["Original-Request"] == first_headers["Request-Id"]
    assert len(client.v1.checkout.sessions.list().data) == 1
    with pytest.raises(stripe.IdempotencyError) as mismatch:
        checkout(client, amount=100, options={"idempotency_key": "checkout-42"})
    assert mismatch.value.http_status == 400
    assert "same parameters they were first used with" in mismatch.value.user_message

    intent = paid_intent(processor, client, capture="automatic")
    refund_options = {"idempotency_key": "refund-42-1"}
    one = client.v1.refunds.create(
        params={"payment_intent": intent.id, "amount": 100}, options=refund_options
    )
    two = client.v1.refunds.create(
        params={"payment_intent": intent.id, "amount": 100}, options=refund_options
    )
    assert one.id == two.id
    assert len(client.v1.refunds.list().data) == 1
    # An error of the work itself is kept too: the same key gets the same refusal.
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.payment_intents.capture(intent.id, options={"idempotency_key": "cap-1"})
    status, _, refused = wire.last
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.payment_intents.capture(intent.id, options={"idempotency_key": "cap-1"})
    assert wire.last[0] == status and wire.last[2] == refused
    assert wire.last[1]["Idempotent-Replayed"] == "true"


def test_lists_page_newest_first_with_starting_after(processor, client, wire):
    intents = [paid_intent(processor, client, capture="automatic").id for _ in range(5)]
    first = client.v1.payment_intents.list(params={"limit": 2})
    assert (first.object, first.url, first.has_more) == ("list", "/v1/payment_intents", True)
    assert [i.id for i in first.data] == intents[::-1][:2]
    pages_before = len(wire.answers)
    walked = [i.id for i in first.auto_paging_iter()]
    assert walked == intents[::-1]
    assert len(wire.answers) - pages_before == 2  # starting_after the 2nd, then the 4th
    created = client.v1.payment_intents.retrieve(intents[0]).created
    window = client.v1.payment_intents.list(
        params={"created": {"gte": created, "lte": created + 3600}, "limit": 100}
    )
    assert {i.id for i in window.data} == set(intents)
    assert client.v1.payment_intents.list(params={"created": {"gt": created + 3600}}).data == []
    for intent in intents[:3]:
        client.v1.refunds.create(params={"payment_intent": intent, "amount": 100})
    refunds = client.v1.refunds.list(params={"limit": 2})
    assert len([r.id for r in refunds.auto_paging_iter()]) == 3
    only = client.v1.refunds.list(params={"payment_intent": intents[1]})
    assert [r.payment_intent for r in only.data] == [intents[1]]
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.payment_intents.list(params={"limit": 101})
    events = client.v1.events.list(params={"type": "refund.created", "limit": 100})
    assert len(events.data) == 3 and all(e.type == "refund.created" for e in events.data)
    one = client.v1.events.retrieve(events.data[0].id)
    assert isinstance(one, stripe.Event) and one.data.object.object == "refund"


# -- the clock: authorizations and sessions lapse, refunds fail ---------------------------------


def test_an_authorization_lapses_after_seven_days(processor, client):
    intent = paid_intent(processor, client)
    processor.advance(AUTHORIZATION_SECONDS - 10)
    assert client.v1.payment_intents.retrieve(intent.id).status == "requires_capture"
    processor.advance(11)
    lapsed = client.v1.payment_intents.retrieve(intent.id, params={"expand": ["latest_charge"]})
    assert (lapsed.status, lapsed.cancellation_reason) == ("canceled", "automatic")
    assert lapsed.latest_charge.refunded is True  # the hold is released
    assert types(processor)[-2:] == ["payment_intent.canceled", "charge.expired"]
    canceled = [e for e in processor.events if e["type"] == "payment_intent.canceled"]
    assert canceled[-1]["data"]["object"]["cancellation_reason"] == "automatic"
    with pytest.raises(stripe.InvalidRequestError) as capture:
        client.v1.payment_intents.capture(intent.id)
    assert "status of canceled" in capture.value.user_message


def test_the_test_hooks_expire_an_authorization_and_move_the_clock(processor, client):
    intent = paid_intent(processor, client)
    headers = {"Authorization": f"Bearer {KEY}"}
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    request = urllib.request.Request(
        f"{processor.url}/_sandbox/expire_authorization/{intent.id}",
        data=b"",
        headers=headers,
    )
    with opener.open(request, timeout=5) as answer:
        assert json.loads(answer.read())["cancellation_reason"] == "automatic"
    before = time.time()
    request = urllib.request.Request(
        f"{processor.url}/_sandbox/advance", data=b"seconds=3600", headers=headers
    )
    with opener.open(request, timeout=5) as answer:
        assert json.loads(answer.read())["now"] >= int(before) + 3600
    request = urllib.request.Request(f"{processor.url}/_sandbox/events", headers=headers)
    with opener.open(request, timeout=5) as answer:
        listed = json.loads(answer.read())["data"]
    assert [e["type"] for e in listed] == types(processor)
    with pytest.raises(urllib.error.HTTPError) as unauthorized:
        opener.open(f"{processor.url}/_sandbox/events", timeout=5)
    assert unauthorized.value.code == 401


def test_an_open_session_expires_at_expires_at(processor, client):
    session = checkout(client, expires_at=int(time.time()) + 1800 + 5)
    processor.advance(1800)
    assert client.v1.checkout.sessions.retrieve(session.id).status == "open"
    processor.advance(10)
    expired = client.v1.checkout.sessions.retrieve(session.id)
    assert (expired.status, expired.url) == ("expired", None)
    assert types(processor)[-1] == "checkout.session.expired"


def test_refunds_of_the_refund_failure_card_fail_five_seconds_later(serve, connect):
    clock = FakeClock()
    processor = serve(clock=clock)
    client = connect(processor)
    intent = paid_intent(processor, client, card="4000000000005126", capture="automatic")
    refund = client.v1.refunds.create(params={"payment_intent": intent.id, "amount": 4000})
    assert refund.status == "pending"
    assert client.v1.charges.retrieve(intent.latest_charge.id).amount_refunded == 4000
    clock.now += 4
    assert client.v1.refunds.retrieve(refund.id).status == "pending"
    clock.now += 1  # the next request runs what is due
    failed = client.v1.refunds.retrieve(refund.id)
    assert (failed.status, failed.failure_reason) == ("failed", "expired_or_canceled_card")
    charge = client.v1.charges.retrieve(intent.latest_charge.id)
    assert (charge.amount_refunded, charge.refunded) == (0, False)
    assert types(processor)[-1] == "refund.failed"
    again = client.v1.refunds.create(params={"payment_intent": intent.id})
    processor.advance(0)  # or at the next advance()
    assert client.v1.refunds.retrieve(again.id).status == "failed"


def test_the_dispute_card_opens_a_dispute_once_captured(processor, client):
    intent = paid_intent(processor, client, card="4000000000000259")
    assert "charge.dispute.created" not in types(processor)
    client.v1.payment_intents.capture(intent.id)
    event = processor.events[-1]
    assert event["type"] == "charge.dispute.created"
    dispute = event["data"]["object"]
    assert dispute["id"].startswith("dp_") and dispute["object"] == "dispute"
    assert (dispute["amount"], dispute["charge"], dispute["payment_intent"]) == (
        19900,
        intent.latest_charge.id,
        intent.id,
    )
    assert (dispute["reason"], dispute["status"]) == ("fraudulent", "needs_response")
    assert client.v1.charges.retrieve(intent.latest_charge.id).disputed is True
    with pytest.raises(stripe.InvalidRequestError) as refund:
        client.v1.refunds.create(params={"payment_intent": intent.id})
    assert refund.value.code == "charge_disputed"
    automatic = paid_intent(processor, client, card="4000000000000259", capture="automatic")
    assert processor.events[-1]["data"]["object"]["payment_intent"] == automatic.id


# -- down, webhooks, the card number -------------------------------------------------------------


def test_the_down_switch_fails_every_call_with_api_error(processor, connect, wire):
    client = connect(processor, retries=2)
    processor.down = True
    with pytest.raises(stripe.APIError) as down:
        client.v1.payment_intents.list()
    assert down.value.http_status == 500
    assert down.value.error.type == "api_error"
    assert wire.last[1]["Stripe-Should-Retry"] == "false"
    assert len(wire.answers) == 1  # the library does not retry it
    assert processor.pay("cs_test_x").error.startswith("This payment page does not exist")
    assert ("GET", "/pay/cs_test_x") in processor.requests  # pages still answer
    processor.down = False
    assert client.v1.payment_intents.list().data == []


class Receiver:
    """A webhook endpoint that verifies each delivery as Velory's view does, and answers
    500 to the first ``failures`` deliveries."""

    def __init__(self, secret: str, failures: int = 0) -> None:
        self.events: list[stripe.Event] = []
        self.refused: list[str] = []
        self.failures = failures
        self.calls = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                payload = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.calls += 1
                try:
                    event = stripe.Webhook.construct_event(
                        payload, self.headers.get("Stripe-Signature"), secret
                    )
                except (ValueError, stripe.SignatureVerificationError) as error:
                    receiver.refused.append(str(error))
                    self.send_response(400)
                else:
                    if receiver.calls <= receiver.failures:
                        self.send_response(500)
                    else:
                        receiver.events.append(event)
                        self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/payments/webhooks/stripe/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, count: int, timeout: float = 8.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.events) < count and time.monotonic() < deadline:
            time.sleep(0.02)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_webhooks_are_signed_delivered_and_retried_after_a_500(serve, connect):
    receiver = Receiver(SECRET, failures=1)
    try:
        processor = serve(webhook_url=receiver.url, webhook_secret=SECRET)
        client = connect(processor)
        started = time.monotonic()
        paid_intent(processor, client, capture="automatic")
        receiver.wait_for(4)
        assert receiver.refused == []
        got = sorted(event.type for event in receiver.events)
        assert got == sorted(types(processor))
        deadline = time.monotonic() + 2
        while any(e["pending_webhooks"] for e in processor.events) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert [e["pending_webhooks"] for e in processor.events] == [0] * len(processor.events)
        first = processor.events[0]["id"]
        tries = [status for ident, status in processor.deliveries if ident == first]
        assert tries == [500, 200]  # retried after the 500, a second later
        assert time.monotonic() - started >= 1.0
        session = next(e for e in receiver.events if e.type == "checkout.session.completed")
        assert isinstance(session.data.object, stripe.checkout.Session)
        assert processor.take_undelivered() == []
    finally:
        receiver.stop()


def test_without_a_webhook_url_events_wait_and_their_signature_verifies(processor, client):
    paid_intent(processor, client)
    waiting = processor.take_undelivered()
    assert [e["type"] for e in waiting] == types(processor)
    assert processor.take_undelivered() == []
    event = waiting[-1]
    assert set(event) == {
        "id",
        "object",
        "api_version",
        "created",
        "data",
        "livemode",
        "pending_webhooks",
        "request",
        "type",
    }
    assert (event["object"], event["api_version"], event["livemode"]) == (
        "event",
        stripe.api_version,
        False,
    )
    assert event["request"] == {"id": None, "idempotency_key": None}
    payload = json.dumps(event).encode()
    header = processor.signature_header(payload)
    parsed = stripe.Webhook.construct_event(payload, header, SECRET)
    assert parsed.id == event["id"]
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(payload, header, "whsec_other")
    old = processor.signature_header(payload, timestamp=int(time.time()) - 3600)
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(payload, old, SECRET)


def test_the_card_number_never_appears_in_an_api_answer(serve, connect, wire, tmp_path):
    state = tmp_path / "sandbox.json"
    processor = serve(state_file=str(state))
    client = connect(processor)
    cards = ["4242424242424242", "5555555555554444", "4000000000000002", "4000002500003155"]
    for card in cards:
        session = checkout(client, capture="automatic")
        processor.pay(session.id, card=card, three_ds="complete")
        session = client.v1.checkout.sessions.retrieve(
            session.id, params={"expand": ["payment_intent.latest_charge"]}
        )
        intent = session.payment_intent
        client.v1.payment_methods.retrieve(intent.payment_method)
        client.v1.events.list(params={"limit": 100})
        client.v1.charges.list(params={"limit": 100})
    assert len(wire.answers) == 20
    dumped = [json.dumps(e) for e in processor.events] + [state.read_text()]
    for card in cards:
        for _, _, body in wire.answers:
            assert card.encode() not in body
        for text in dumped:
            assert card not in text
    brands = {c.payment_method_details.card.brand for c in client.v1.charges.list().data}
    assert brands == {"visa", "mastercard"}


# -- the hosted page, the state file, the command -----------------------------------------------


def test_the_hosted_page_is_accessible_and_says_what_is_paid(serve, connect):
    processor = serve(public_url="https://pay.velory.test/", merchant_name="Acme & Co")
    client = connect(processor)
    session = checkout(client, currency="sek", amount=199000)
    assert session.url == f"https://pay.velory.test/pay/{session.id}"
    status, page = fetch(f"{processor.url}/pay/{session.id}")
    assert status == 200
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page
    assert "<h1>Pay Acme &amp; Co</h1>" in page
    assert "MacBook Pro 14 deposit" in page and "SEK 1,990.00" in page
    for field, hint in (("card_number", "cc-number"), ("exp", "cc-exp"), ("cvc", "cc-csc")):
        assert f'<label for="{field}">' in page
        assert re.search(rf'id="{field}"[^>]*autocomplete="{hint}" inputmode="numeric"', page)
    assert '<label for="name">' in page
    assert ">Authorize</button>" in page and "only charged if your request is approved" in page
    assert f'<a href="{CANCEL}">Cancel and return to Acme &amp; Co</a>' in page
    assert "Sandbox: no real card is charged — test cards below" in page
    assert all(card[-4:] in page.replace(" ", "") for card in TEST_CARDS)
    assert "<script" not in page
    automatic = checkout(client, capture="automatic")
    assert ">Pay</button>" in fetch(f"{processor.url}/pay/{automatic.id}")[1]
    assert "€199.00" in fetch(f"{processor.url}/pay/{automatic.id}")[1]
    assert processor.pay(session.id).redirect is not None  # the customer flow follows it
    done = fetch(f"{processor.url}/pay/{session.id}")[1]
    assert "Your card is authorized" in done and "<form" not in done
    assert fetch(f"{processor.url}/pay/cs_test_unknown")[0] == 404


def test_the_state_file_keeps_payments_across_a_restart(serve, connect, tmp_path):
    state = tmp_path / "var" / "sandbox.json"
    state.parent.mkdir()
    first = serve(state_file=str(state))
    intent = paid_intent(first, connect(first))
    first.advance(60)
    first.stop()
    second = serve(state_file=str(state))
    client = connect(second)
    again = client.v1.payment_intents.retrieve(intent.id)
    assert again.status == "requires_capture"
    assert second.ledger.offset == 60
    assert client.v1.payment_intents.capture(intent.id).status == "succeeded"
    assert len(second.events) == len(first.events) + 2
    assert not list(state.parent.glob(".sandbox-processor-*"))  # no temporary file left


def test_the_command_configures_the_processor_and_stops_cleanly(monkeypatch, tmp_path):
    served: list[SandboxProcessor] = []

    def serve_once(processor: SandboxProcessor) -> None:
        served.append(processor)
        raise KeyboardInterrupt  # as Ctrl-C or SIGTERM would

    monkeypatch.setattr(SandboxProcessor, "serve_forever", serve_once)
    monkeypatch.setenv("STRIPE_SECRET_KEY", "sk_test_from_env")
    monkeypatch.delenv("STRIPE_WEBHOOK_SECRET", raising=False)
    out = io.StringIO()
    state = tmp_path / "var" / "processor.json"
    call_command(
        "run_sandbox_processor",
        "--port=0",
        f"--state-file={state}",
        "--webhook-url=",
        "--public-url=https://pay.velory.test",
        stdout=out,
    )
    (processor,) = served
    assert re.fullmatch(
        r"Sandbox card processor answering like Stripe at http://127\.0\.0\.1:\d+ "
        r"\(no webhooks\)\n",
        out.getvalue(),
    )
    config = processor.config
    assert (config.api_key, config.webhook_url, config.webhook_secret) == (
        "sk_test_from_env",
        None,
        "whsec_velory_sandbox",
    )
    assert (config.state_file, config.public_url) == (str(state), "https://pay.velory.test")
    assert state.parent.is_dir()
    with pytest.raises(RuntimeError):
        processor.url  # noqa: B018  (stopped on the way out)
