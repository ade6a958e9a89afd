"""Cancelling an order: who may, what is refused, and the money coming back once."""

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from budgets.models import BudgetEntry, CardPayment, Refund
from devices.engine import TransitionRefused
from devices.models import DeviceStatus
from notifications.models import Notification
from orders import services as orders
from orders.models import Order, OrderEvent
from tests.helpers import approved_order, bring_to, budget_for, card, product_for
from tests.helpers import mail as rendered_mail

pytestmark = pytest.mark.django_db
D = Decimal
S = DeviceStatus


@pytest.fixture
def order(acme, after_commit):
    """An approved order whose part over budget was held on the card and then captured
    (the capture runs after the approval's commit)."""
    acme.company.card_payments_allowed = True
    acme.company.save()
    budget_for(acme, "800.00")
    with after_commit():
        order = approved_order(acme, product_for(acme, price="999.00"), card_=card())
    assert CardPayment.objects.get().status == "succeeded"
    return order


@pytest.mark.parametrize("who", ["admin", "partner_staff"])
def test_partner_or_company_admin_cancels(acme, order, who, after_commit):
    with after_commit():
        result = orders.order_cancel(
            order_id=order.pk, actor=getattr(acme, who), reason="Out of stock"
        )
    assert [d.status for d in result.cancelled] == [S.CANCELLED]
    assert (result.released, result.refunded) == (D("800.00"), D("199.00"))
    mail = rendered_mail(kind="order_cancelled")
    assert mail.recipient == acme.employee
    assert "€800.00 is available again" in mail.body_text
    assert "€199.00 is refunded to Visa •••• 4242" in mail.body_text
    event = OrderEvent.objects.get(order=order, kind="cancelled")
    assert "Out of stock" in event.data["reason"]


@pytest.mark.parametrize("who", ["employee", "colleague"])
def test_employees_cannot_cancel(acme, order, who):
    with pytest.raises((TransitionRefused, Order.DoesNotExist)):
        orders.order_cancel(order_id=order.pk, actor=getattr(acme, who), reason="x")
    assert order.devices.get().status == S.ORDERED


def test_other_tenants_do_not_find_the_order(acme, globex, order):
    for actor in (globex.admin, globex.partner_staff):
        with pytest.raises(Order.DoesNotExist):
            orders.order_cancel(order_id=order.pk, actor=actor, reason="x")


def test_a_reason_is_required(acme, order):
    with pytest.raises(ValidationError, match="reason"):
        orders.order_cancel(order_id=order.pk, actor=acme.admin, reason=" ")


def test_shipped_items_are_refused_by_name(acme, order):
    bring_to(acme, order.devices.get(), S.SHIPPED)
    with pytest.raises(TransitionRefused, match=r"ThinkPad T14 \(Shipped\)"):
        orders.order_cancel(order_id=order.pk, actor=acme.admin, reason="Too late?")
    assert not BudgetEntry.objects.filter(kind="release").exists()
    assert not Refund.objects.exists()


def test_partial_cancellation_cancels_what_is_still_with_the_partner(acme):
    from tests.helpers import place_order

    multi = place_order(acme, items=2)
    first, second = multi.devices.order_by("pk")
    bring_to(acme, first, S.SHIPPED)
    result = orders.order_cancel(order_id=multi.pk, actor=acme.partner_staff, reason="Half of it")
    assert [d.pk for d in result.cancelled] == [second.pk]
    assert [d.pk for d in result.kept] == [first.pk]
    assert "ThinkPad T14 (Shipped)" in result.kept_message
    first.refresh_from_db()
    assert first.status == S.SHIPPED


def test_second_cancellation_releases_and_refunds_nothing(acme, order, after_commit):
    with after_commit():
        orders.order_cancel(order_id=order.pk, actor=acme.admin, reason="Once")
        again = orders.order_cancel(order_id=order.pk, actor=acme.partner_staff, reason="Twice")
    assert not again.changed and again.released == 0 and again.refunded == 0
    assert BudgetEntry.objects.filter(kind="release").count() == 1
    assert Refund.objects.count() == 1
    assert Notification.objects.filter(kind="order_cancelled").count() == 1
