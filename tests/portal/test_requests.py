"""The employee's money pages: catalogue, request form, withdraw, budget."""

from decimal import Decimal

import pytest

from budgets.models import CardPayment
from orders import services as orders
from orders.models import ProductRequest
from tests.helpers import DECLINED, budget_for, pay_checkout, product_for, submit

pytestmark = pytest.mark.django_db


def text(response):
    return response.content.decode()


def test_catalogue_shows_what_fits_the_budget(login, acme, globex):
    budget_for(acme, "1000.00")
    product_for(acme, price="500.00", name="Fits")
    product_for(acme, price="1500.00", name="Too dear")
    product_for(globex, price="10.00", name="Globex only")
    body = text(login(acme.employee).get("/catalogue/"))
    assert "Fits" in body and "Too dear" in body and "Globex only" not in body
    assert "Fits your budget" in body and "Over your budget" in body


def test_catalogue_and_product_pages_cost_fixed_queries(login, acme, django_assert_num_queries):
    budget_for(acme, "1000.00")
    for i in range(12):
        product_for(acme, price="100.00", name=f"Item {i}")
    client = login(acme.employee)
    # session, user, products (+partner), budgets
    with django_assert_num_queries(4):
        client.get("/catalogue/")
    # session, user, product (+partner), budgets
    product = product_for(acme, price="100.00", name="One more")
    with django_assert_num_queries(4):
        client.get(f"/catalogue/{product.pk}/")


def test_request_from_the_product_page(login, acme):
    budget = budget_for(acme, "1000.00")
    product = product_for(acme, price="400.00")
    client = login(acme.employee)
    page = text(client.get(f"/catalogue/{product.pk}/"))
    assert "Send request" in page and 'name="card_number"' not in page
    response = client.post(
        f"/catalogue/{product.pk}/", {"delivery_address": "Office", "note": "Thanks"}, follow=True
    )
    assert "is sent to your company admin" in text(response)
    budget.refresh_from_db()
    assert budget.available == Decimal("600.00")
    assert 'data-testid="budget-available">€600.00<' in text(response)
    assert "Waiting for approval" in text(response)


def test_over_budget_without_card_top_up_offers_no_form(login, acme):
    budget_for(acme, "100.00")
    product = product_for(acme, price="400.00")
    client = login(acme.employee)
    page = text(client.get(f"/catalogue/{product.pk}/"))
    assert "This costs €400.00 and you have €100.00 available" in page
    assert "Send request" not in page
    response = client.post(f"/catalogue/{product.pk}/", {"delivery_address": "Office"})
    assert "This costs €400.00" in text(response)
    assert not ProductRequest.objects.exists()


def test_card_top_up_goes_to_the_processors_page_and_a_declined_card_can_be_retried(login, acme):
    acme.company.card_payments_allowed = True
    acme.company.save()
    budget_for(acme, "100.00")
    product = product_for(acme, price="400.00")
    client = login(acme.employee)
    page = text(client.get(f"/catalogue/{product.pk}/"))
    assert 'name="card_number"' not in page and "Continue to card payment" in page
    assert "€300.00" in page
    sent = client.post(f"/catalogue/{product.pk}/", {"delivery_address": "Office"})
    request = ProductRequest.objects.get()
    payment = CardPayment.objects.get()
    assert request.status == "awaiting_payment" and payment.amount == Decimal("300.00")
    assert sent.status_code == 302 and sent["Location"] == payment.checkout_url
    # Declined on the processor's page: it says so there, nothing is charged.
    declined = pay_checkout(payment, DECLINED, report=False)
    assert declined.redirect is None and "declined" in (declined.error or "")
    # The employee leaves the page: Your Details offers to continue, nothing was charged.
    left = client.get(f"/payments/{payment.pk}/cancel/", follow=True)
    assert "nothing was charged" in text(left)
    assert "Waiting for card authentication" in text(left)
    assert f'href="/payments/{payment.pk}/pay/"' in text(left)
    again = client.get(f"/payments/{payment.pk}/pay/")
    assert again.status_code == 302 and again["Location"] == payment.checkout_url
    paid = pay_checkout(payment, "4242 4242 4242 4242", report=False)
    back = client.get(paid.redirect.removeprefix("http://127.0.0.1:8000"), follow=True)
    assert "Your card is authorized: €300.00 is held (not charged)" in text(back)
    assert "Visa •••• 4242" in text(back) and "Waiting for approval" in text(back)
    request.refresh_from_db()
    assert request.status == "pending" and CardPayment.objects.get().status == "authorized"


def test_withdraw_page_and_post(login, acme):
    budget = budget_for(acme, "1000.00")
    request = submit(acme, product_for(acme, price="400.00"))
    client = login(acme.employee)
    assert "Withdraw your request?" in text(client.get(f"/me/requests/{request.pk}/withdraw/"))
    response = client.post(f"/me/requests/{request.pk}/withdraw/", follow=True)
    assert "is withdrawn" in text(response)
    budget.refresh_from_db()
    assert budget.available == Decimal("1000.00")


def test_someone_elses_request_is_not_found(login, acme, globex):
    budget_for(acme, "1000.00")
    request = submit(acme, product_for(acme, price="400.00"))
    for intruder in (acme.colleague, globex.employee, acme.admin):
        client = login(intruder)
        assert client.get(f"/me/requests/{request.pk}/withdraw/").status_code == 404
        assert client.post(f"/me/requests/{request.pk}/withdraw/").status_code == 404
    request.refresh_from_db()
    assert request.status == "pending"


def test_foreign_product_page_is_not_found(login, acme, globex):
    product = product_for(globex, price="10.00")
    assert login(acme.employee).get(f"/catalogue/{product.pk}/").status_code == 404


def test_budget_page_lists_every_entry_and_the_refund(login, acme, after_commit):
    acme.company.card_payments_allowed = True
    acme.company.save()
    from tests.helpers import approved_order, card

    budget_for(acme, "800.00")
    with after_commit():  # the approval's capture runs after its commit
        order = approved_order(acme, product_for(acme, price="999.00"), card_=card())
    assert CardPayment.objects.get().status == "succeeded"
    with after_commit():
        orders.order_cancel(order_id=order.pk, actor=acme.admin, reason="Changed plans")
    client = login(acme.employee)
    body = text(client.get("/me/budget/"))
    for what in ("Reserved for a request", "Committed on approval", "Released"):
        assert what in body
    assert 'Refund of <span class="money">€199.00</span> to the same card: Refunded' in body
    me = text(client.get("/me/"))
    assert 'data-testid="budget-available">€800.00<' in me and "Refunded" in me
