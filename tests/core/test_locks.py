"""core.locks: every row lock from one place, scoped to the actor."""

import pytest
from django.db import transaction
from django.db.models import Q

from core.locks import LOCK_ORDER, device_lock, devices_lock, lease_lock, leases_lock, order_lock
from devices.models import Device
from orders.models import Order
from tests.helpers import place_order


def test_another_tenants_row_is_not_found_through_its_lock(acme, globex):
    order = place_order(globex)
    with transaction.atomic(), pytest.raises(Order.DoesNotExist):
        order_lock(order.pk, actor=acme.admin)
    with transaction.atomic():
        assert order_lock(order.pk, actor=globex.admin).pk == order.pk


def test_rows_of_one_kind_are_locked_in_primary_key_order(acme):
    ids = [d.pk for d in place_order(acme, items=3).devices.all()]
    with transaction.atomic():
        assert [d.pk for d in devices_lock(reversed(ids))] == sorted(ids)


def test_a_lock_by_filters_gives_the_first_match_or_none(acme):
    device = place_order(acme).devices.get()
    with transaction.atomic():
        assert device_lock(filters=Q(pk=device.pk)).pk == device.pk
        assert lease_lock(filters=Q(device=device)) is None


@pytest.mark.django_db
def test_a_lock_within_another_models_queryset_is_refused():
    with transaction.atomic(), pytest.raises(TypeError):
        leases_lock(within=Device.objects.all())


def test_the_lock_order_is_the_documented_one():
    assert LOCK_ORDER == (
        "companies.User",
        "budgets.Budget",
        "orders.ProductRequest",
        "orders.Order",
        "orders.Shipment",
        "devices.Device",
        "leasing.Lease",
        "leasing.Buyout",
        "budgets.CardPayment",
        "budgets.Refund",
        "partners.DistributorConnection",
    )
