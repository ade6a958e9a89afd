"""Real concurrent transactions on PostgreSQL: eight clicks on "Pay" for one buyout make one
payment with one hosted checkout, and the paid checkout completes the buyout once; and two
daily lease jobs at once send each notice once."""

from datetime import timedelta

import pytest
from django.utils import timezone

from budgets.models import CardPayment
from leasing import services as leasing
from leasing.models import Buyout, Lease, LeaseNotice
from notifications.models import Notification
from orders import services as orders
from tests.helpers import VISA, device_in, pay_checkout, processor
from tests.orders.test_concurrency import run_at_once

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_eight_clicks_on_pay_for_one_buyout_make_one_checkout_and_it_completes_once(acme):
    device = device_in(acme, "active", leased=True)
    leasing.lease_choose(device_id=device.pk, actor=acme.employee, choice="buyout")
    sessions_before = len(processor().ledger.objects("checkout.session"))
    results = run_at_once(
        8, lambda i: leasing.buyout_checkout(device_id=device.pk, actor=acme.employee)
    )
    assert all(isinstance(r, CardPayment) for r in results), results
    assert CardPayment.objects.count() == 1
    payment = CardPayment.objects.get()
    assert {(r.pk, r.checkout_session_id) for r in results} == {
        (payment.pk, payment.checkout_session_id)
    }
    assert payment.checkout_session_id and payment.status == "pending"
    assert len(processor().ledger.objects("checkout.session")) == sessions_before + 1
    pay_checkout(payment, VISA, report=False)
    # The return, the webhook and the sweeper all report it at once: it completes once.
    changes = run_at_once(8, lambda i: orders.payment_sync(payment.pk, source=f"test {i}"))
    assert not [c for c in changes if isinstance(c, Exception)], changes
    assert sorted(changes) == [""] * 7 + ["captured"]
    payment.refresh_from_db()
    assert payment.status == "succeeded"
    assert Buyout.objects.get().status == "paid"
    device.refresh_from_db()
    assert device.status == "bought_out"
    assert Notification.objects.filter(kind="lease_buyout_paid").count() == 1
    assert Notification.objects.filter(kind="payment_receipt").count() == 1


def test_two_daily_jobs_at_once_send_each_lease_notice_once(acme):
    devices = [device_in(acme, "active", leased=True) for _ in range(3)]
    Lease.objects.filter(device__in=devices).update(
        ends_on=timezone.localdate() + timedelta(days=20)
    )
    results = run_at_once(2, lambda i: leasing.leases_daily())
    assert not [r for r in results if isinstance(r, Exception)], results
    assert sum(r["end_notices"] for r in results) == 3
    assert LeaseNotice.objects.count() == 3
    assert Notification.objects.filter(kind="lease_end_notice").count() == 3
