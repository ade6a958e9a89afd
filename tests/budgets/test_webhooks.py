"""The processor's signed webhooks: verified (signature and timestamp), stored by event id
and processed once; a retry, a replay, a late or out-of-order event changes nothing wrong;
a forged, stale, foreign or unknown event changes nothing at all."""

import json
import time

import pytest

from budgets.models import CardPayment, ProcessorEvent
from orders.models import ProductRequest
from tests.helpers import VISA, budget_for, pay_checkout, processor, product_for, submit

pytestmark = pytest.mark.django_db(transaction=True)
URL = "/payments/webhooks/stripe/"


def post(client, event: dict, *, signature: str | None = None, timestamp: int | None = None):
    body = json.dumps(event).encode()
    header = signature or processor().signature_header(body, timestamp=timestamp)
    return client.post(URL, body, content_type="application/json", HTTP_STRIPE_SIGNATURE=header)


def deliver_all(client) -> list:
    """Deliver the processor's queued events to Velory, as its webhook sender would."""
    answers = []
    for event in processor().take_undelivered():
        answers.append(post(client, event))
    return answers


@pytest.fixture
def awaiting(acme):
    """A request over budget whose employee just paid on the processor's page; Velory has
    not heard of it yet (the return and the webhook are still to come)."""
    acme.company.card_payments_allowed = True
    acme.company.save()
    budget_for(acme, "800.00")
    processor().take_undelivered()  # earlier tests' events are not this one's
    request = submit(acme, product_for(acme, price="999.00"))
    pay_checkout(request.card_payment, VISA, report=False)
    return request


def test_the_webhook_alone_authorizes_the_payment(client, awaiting):
    answers = deliver_all(client)
    assert answers and all(a.status_code == 200 for a in answers)
    awaiting.refresh_from_db()
    assert awaiting.status == "pending"
    assert awaiting.card_payment.status == "authorized"
    types = set(ProcessorEvent.objects.values_list("type", flat=True))
    assert "checkout.session.completed" in types
    assert not ProcessorEvent.objects.filter(processed_at__isnull=True).exists()


def test_a_retried_or_replayed_event_is_stored_once_and_changes_nothing(client, awaiting):
    events = processor().take_undelivered()
    for event in events:
        assert post(client, event).status_code == 200
    before = list(CardPayment.objects.values_list("status", "authorized_at"))
    for event in events:  # the processor retries, or someone replays a captured request
        answer = post(client, event)
        assert answer.status_code == 200 and answer.content == b"already received"
    assert ProcessorEvent.objects.count() == len(events)
    assert list(CardPayment.objects.values_list("status", "authorized_at")) == before


def test_events_out_of_order_only_move_forward(client, awaiting, acme):
    from orders import services as orders

    events = processor().take_undelivered()
    for event in events:
        post(client, event)
    orders.request_approve(request_id=awaiting.pk, actor=acme.admin)
    captured = processor().take_undelivered()
    for event in reversed(captured + events):  # late, twice, backwards
        post(client, {**event, "id": event["id"] + "x"})
    payment = CardPayment.objects.get()
    assert payment.status == "succeeded"
    awaiting.refresh_from_db()
    assert awaiting.status == "approved"


def test_a_wrong_signature_is_refused_and_changes_nothing(client, awaiting):
    event = processor().take_undelivered()[0]
    answer = post(client, event, signature="t=1,v1=" + "0" * 64)
    assert answer.status_code == 400
    assert not ProcessorEvent.objects.exists()
    assert CardPayment.objects.get().status == "pending"


def test_an_old_timestamp_is_refused(client, awaiting):
    event = processor().take_undelivered()[0]
    answer = post(client, event, timestamp=int(time.time()) - 3600)
    assert answer.status_code == 400 and not ProcessorEvent.objects.exists()


def test_a_body_changed_after_signing_is_refused(client, awaiting):
    event = processor().take_undelivered()[0]
    body = json.dumps(event).encode()
    header = processor().signature_header(body)
    tampered = body.replace(b'"livemode": false', b'"livemode": true ')
    answer = client.post(
        URL, tampered, content_type="application/json", HTTP_STRIPE_SIGNATURE=header
    )
    assert answer.status_code == 400 and not ProcessorEvent.objects.exists()


def test_an_unknown_event_type_is_stored_and_ignored(client, awaiting):
    event = {**processor().take_undelivered()[0], "id": "evt_unknown1", "type": "radar.value"}
    assert post(client, event).status_code == 200
    row = ProcessorEvent.objects.get(event_id="evt_unknown1")
    assert row.outcome == "ignored" and row.processed_at
    assert CardPayment.objects.get().status == "pending"


def of_type(kind: str) -> dict:
    return next(e for e in processor().take_undelivered() if e["type"] == kind)


def test_an_event_naming_another_companys_payment_is_ignored(client, awaiting, globex):
    event = of_type("checkout.session.completed")
    obj = dict(event["data"]["object"])
    obj["metadata"] = {**obj.get("metadata", {}), "velory_company": str(globex.company.pk)}
    forged = {**event, "id": "evt_foreign1", "data": {"object": obj}}
    assert post(client, forged).status_code == 200
    row = ProcessorEvent.objects.get(event_id="evt_foreign1")
    assert row.outcome == "ignored" and "another" in row.note
    assert CardPayment.objects.get().status == "pending"


def test_an_event_with_another_amount_is_ignored(client, awaiting):
    intent_event = of_type("payment_intent.amount_capturable_updated")
    obj = {**intent_event["data"]["object"], "amount": 1}
    forged = {**intent_event, "id": "evt_amount1", "data": {"object": obj}}
    assert post(client, forged).status_code == 200
    row = ProcessorEvent.objects.get(event_id="evt_amount1")
    assert row.outcome == "ignored" and "amount" in row.note
    assert CardPayment.objects.get().status == "pending"


def test_a_forged_return_url_changes_nothing(client, awaiting, login, acme):
    payment = awaiting.card_payment
    answer = login(acme.employee).get(f"/payments/{payment.pk}/return/?session_id=cs_forged")
    assert answer.status_code == 302
    assert CardPayment.objects.get().status == "pending"
    assert ProductRequest.objects.get().status == "awaiting_payment"


def test_another_employees_payment_return_is_a_404(client, awaiting, login, acme):
    payment = awaiting.card_payment
    answer = login(acme.colleague).get(
        f"/payments/{payment.pk}/return/?session_id={payment.checkout_session_id}"
    )
    assert answer.status_code == 404


def test_the_return_applies_the_payment_and_the_webhook_after_it_changes_nothing(
    client, awaiting, login, acme
):
    payment = awaiting.card_payment
    page = login(acme.employee).get(
        f"/payments/{payment.pk}/return/?session_id={payment.checkout_session_id}", follow=True
    )
    assert "Your card is authorized" in page.content.decode()
    payment.refresh_from_db()
    authorized_at = payment.authorized_at
    assert payment.status == "authorized"
    answers = deliver_all(client)
    assert all(a.status_code == 200 for a in answers)
    payment.refresh_from_db()
    assert payment.authorized_at == authorized_at
    assert set(ProcessorEvent.objects.values_list("outcome", flat=True)) <= {"nothing", "ignored"}
