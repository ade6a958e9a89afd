"""Requests: submit, withdraw, approve (which makes the order), reject — and who may."""

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from budgets.services import BudgetRefused
from devices.engine import TransitionRefused
from devices.models import DeviceStatus
from notifications.models import Notification
from orders import services as orders
from orders.models import Product, ProductRequest
from tests.helpers import budget_for, product_for, submit
from tests.helpers import mail as rendered_mail

pytestmark = pytest.mark.django_db
D = Decimal


def test_submit_reserves_and_tells_the_company_admins(acme):
    budget_for(acme, "2000.00")
    request = submit(acme, product_for(acme, price="1200.00"), note="For the new role")
    assert request.status == "pending" and request.budget_amount == D("1200.00")
    mail = rendered_mail(kind="request_submitted")
    assert mail.recipient == acme.admin and "ThinkPad T14" in mail.subject


def test_approve_makes_the_order_and_tells_everyone(acme, after_commit):
    budget_for(acme, "2000.00")
    request = submit(acme, product_for(acme, price="1200.00"))
    with after_commit():  # the order goes to the partner after commit
        approved = orders.request_approve(request_id=request.pk, actor=acme.admin, note="Enjoy")
    order = approved.order
    assert approved.status == "approved" and approved.decided_by == acme.admin
    assert [d.status for d in order.devices.all()] == [DeviceStatus.ORDERED]
    assert order.partner == acme.partner and order.employee == acme.employee
    kinds = set(Notification.objects.values_list("kind", flat=True))
    assert {"request_approved", "order_new_partner"} <= kinds
    # approving again is harmless
    assert orders.request_approve(request_id=request.pk, actor=acme.admin).order == order


def test_transitions_are_logged_by_django_fsm_log(acme):
    from django_fsm_log.models import StateLog

    budget_for(acme, "2000.00")
    request = submit(acme, product_for(acme, price="100.00"))
    orders.request_reject(request_id=request.pk, actor=acme.admin, reason="Duplicate")
    log = StateLog.objects.for_(request).get()
    assert (log.source_state, log.state, log.by, log.description) == (
        "pending",
        "rejected",
        acme.admin,
        "Duplicate",
    )


def test_reject_needs_a_reason_which_is_mailed(acme):
    budget_for(acme, "2000.00")
    request = submit(acme, product_for(acme, price="100.00"))
    with pytest.raises(ValidationError, match="reason"):
        orders.request_reject(request_id=request.pk, actor=acme.admin, reason="  ")
    orders.request_reject(request_id=request.pk, actor=acme.admin, reason="Use the pool laptop")
    mail = rendered_mail(kind="request_rejected")
    assert "Use the pool laptop" in mail.body_text and "€100.00 is available" in mail.body_text


@pytest.mark.parametrize("who", ["employee", "colleague", "partner_staff"])
def test_only_company_admins_decide(acme, who):
    budget_for(acme, "2000.00")
    request = submit(acme, product_for(acme, price="100.00"))
    actor = getattr(acme, who)
    with pytest.raises((TransitionRefused, ProductRequest.DoesNotExist)):
        orders.request_approve(request_id=request.pk, actor=actor)
    with pytest.raises((TransitionRefused, ProductRequest.DoesNotExist)):
        orders.request_reject(request_id=request.pk, actor=actor, reason="x")
    request.refresh_from_db()
    assert request.status == "pending"


def test_another_companys_admin_does_not_find_the_request(acme, globex):
    budget_for(acme, "2000.00")
    request = submit(acme, product_for(acme, price="100.00"))
    with pytest.raises(ProductRequest.DoesNotExist):
        orders.request_approve(request_id=request.pk, actor=globex.admin)


def test_decided_requests_cannot_be_decided_again(acme):
    budget_for(acme, "2000.00")
    request = submit(acme, product_for(acme, price="100.00"))
    orders.request_reject(request_id=request.pk, actor=acme.admin, reason="No")
    with pytest.raises(TransitionRefused, match="only a request waiting for approval"):
        orders.request_approve(request_id=request.pk, actor=acme.admin)
    with pytest.raises(TransitionRefused, match="can no longer be withdrawn"):
        orders.request_withdraw(request_id=request.pk, actor=acme.employee)


def test_only_the_requester_withdraws(acme):
    budget_for(acme, "2000.00")
    request = submit(acme, product_for(acme, price="100.00"))
    with pytest.raises(ProductRequest.DoesNotExist):
        orders.request_withdraw(request_id=request.pk, actor=acme.colleague)
    with pytest.raises(TransitionRefused, match="Only the employee"):
        orders.request_withdraw(request_id=request.pk, actor=acme.admin)


def test_unknown_or_foreign_or_inactive_product_is_not_found(acme, globex):
    budget_for(acme, "2000.00")
    for product in (
        product_for(globex, price="10.00"),
        product_for(acme, price="10.00", active=False),
    ):
        with pytest.raises(Product.DoesNotExist):
            submit(acme, product)
    with pytest.raises(Product.DoesNotExist):
        orders.request_submit(employee=acme.employee, product_id=999999, delivery_address="x")
    assert not ProductRequest.objects.exists()


def test_price_in_another_currency_is_refused(acme):
    budget_for(acme, "2000.00")
    product = product_for(acme, price="100.00")
    Product.objects.filter(pk=product.pk).update(currency="SEK")
    with pytest.raises(BudgetRefused, match="priced in SEK"):
        submit(acme, product)


def test_no_budget_is_a_clear_refusal(acme):
    with pytest.raises(BudgetRefused, match="no hardware budget"):
        submit(acme, product_for(acme, price="100.00"))


def test_delivery_address_is_required(acme):
    budget_for(acme, "2000.00")
    with pytest.raises(ValidationError, match="delivery address"):
        orders.request_submit(
            employee=acme.employee, product_id=product_for(acme).pk, delivery_address=" "
        )
    assert not ProductRequest.objects.exists()
