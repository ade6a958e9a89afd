"""Real concurrent transactions on PostgreSQL: eight clicks on "Pay" for one buyout charge
the card once, and two daily lease jobs at once send each notice once."""

from datetime import timedelta

import pytest
from django.utils import timezone

from budgets.models import CardPayment
from leasing import services as leasing
from leasing.models import Buyout, Lease, LeaseNotice
from notifications.models import Notification
from tests.helpers import card, device_in
from tests.orders.test_concurrency import run_at_once

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_eight_payments_of_one_buyout_at_once_charge_once(acme):
    device = device_in(acme, "active", leased=True)
    leasing.lease_choose(device_id=device.pk, actor=acme.employee, choice="buyout")
    results = run_at_once(
        8,
        lambda i: leasing.buyout_pay_by_card(device_id=device.pk, actor=acme.employee, card=card()),
    )
    paid = [r for r in results if isinstance(r, Buyout)]
    assert paid, results
    assert all(isinstance(r, Buyout | leasing.BuyoutRefused) for r in results), results
    assert CardPayment.objects.count() == 1
    assert CardPayment.objects.get().status == "succeeded"
    device.refresh_from_db()
    assert device.status == "bought_out"


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
