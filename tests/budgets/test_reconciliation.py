"""The daily reconciliation: Velory's payments and refunds against the processor's lists
(over its API). Agreeing books flag nothing; each kind of difference is flagged once, to
the superuser and the company admin."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from budgets.models import CardPayment, PaymentMismatch, Refund
from notifications.models import Notification
from orders import services as orders
from tests.helpers import approved_order, budget_for, card, product_for, submit

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def own_processor(settings):
    """A processor of this test's own: its lists hold this test's payments only."""
    from budgets.payments.processor import ProcessorConfig, SandboxProcessor
    from tests import helpers

    shared = helpers.PROCESSOR["server"]
    server = SandboxProcessor(
        ProcessorConfig(api_key="sk_test_velory_tests", webhook_secret="whsec_velory_tests")
    ).start()
    helpers.PROCESSOR["server"] = server
    settings.STRIPE_API_BASE = server.url
    yield server
    helpers.PROCESSOR["server"] = shared
    server.stop()


@pytest.fixture
def books(own_processor, acme, superuser):
    """A captured and refunded payment, and a held one."""
    acme.company.card_payments_allowed = True
    acme.company.save()
    budget_for(acme, "800.00")
    order = approved_order(acme, product_for(acme, price="999.00"), card_=card())
    orders.order_cancel(order_id=order.pk, actor=acme.admin, reason="x")
    submit(acme, product_for(acme, price="999.00", name="Dock"), card_=card())
    return acme


def reconcile():
    """The daily run, an hour from now (what is under way is left alone)."""
    return orders.payments_reconcile(now=timezone.now() + timedelta(hours=1))


def test_agreeing_books_flag_nothing(books):
    assert reconcile() == []


def test_each_difference_is_flagged_once_to_the_superuser_and_the_company_admin(books):
    charged = CardPayment.objects.get(status="succeeded")
    held = CardPayment.objects.get(status="authorized")
    refund = Refund.objects.get()
    # Velory's books go wrong three ways (as a bug or a hand edit would make them):
    CardPayment.objects.filter(pk=charged.pk).update(amount=Decimal("198.00"), refunded=0)
    CardPayment.objects.filter(pk=held.pk).update(status="voided")
    Refund.objects.filter(pk=refund.pk).update(refund_id="re_unknown_to_the_processor")
    found = reconcile()
    kinds = sorted((m.kind, m.payment_id) for m in found)
    assert ("amount", charged.pk) in kinds
    assert ("status", held.pk) in kinds
    assert ("missing_processor", charged.pk) in kinds  # the refund id it does not know
    assert ("missing_velory", charged.pk) in kinds  # the processor's refund Velory lost
    assert all(m.company_id == books.company.pk for m in found)
    assert Notification.objects.filter(kind="payments_mismatched", recipient=books.admin).exists()
    assert Notification.objects.filter(
        kind="payments_mismatched", recipient__is_superuser=True
    ).exists()
    # Run again: the same differences are not flagged twice.
    assert reconcile() == []
    assert PaymentMismatch.objects.count() == len(found)


def test_the_company_admin_sees_and_resolves_their_differences_only(books, globex, login):
    from django.apps import apps

    from companies.roles import sync_role_groups

    sync_role_groups(apps)  # a flushed database lost the role groups the migrations made
    CardPayment.objects.filter(status="authorized").update(status="voided")
    reconcile()
    mismatch = PaymentMismatch.objects.get()
    page = login(books.admin).get("/admin/budgets/paymentmismatch/").content.decode()
    assert mismatch.reference in page
    other = login(globex.admin).get("/admin/budgets/paymentmismatch/").content.decode()
    assert mismatch.reference not in other
    assert login(globex.admin).get(
        f"/admin/budgets/paymentmismatch/{mismatch.pk}/change/"
    ).status_code in (302, 404)
    login(books.admin).post(
        "/admin/budgets/paymentmismatch/",
        {"action": "mark_resolved", "_selected_action": [mismatch.pk]},
    )
    mismatch.refresh_from_db()
    assert mismatch.resolved_at is not None
