import pytest

from devices.models import DeviceStatus
from orders.selectors import order_is_open, order_is_updatable, order_status

S = DeviceStatus


@pytest.mark.parametrize(
    ("statuses", "text", "tone"),
    [
        ([S.SHIPPED], "Shipped", "info"),
        ([S.SHIPPED, S.SHIPPED, S.PREPARING], "Shipped — 2 of 3 items", "info"),
        ([S.DELIVERED, S.SHIPPED, S.PREPARING], "Delivered — 1 of 3 items", "info"),
        ([S.RECEIVED, S.RECEIVED], "Received", "ok"),
        ([S.CANCELLED, S.CANCELLED], "Cancelled", "bad"),
        ([S.SHIPPED, S.CANCELLED], "Shipped — 1 of 2 items", "info"),
        ([S.ON_HOLD, S.NOT_STARTED], "On hold — 1 of 2 items", "warn"),
        ([S.ORDERED], "Ordered", "neutral"),
        ([], "No items", "neutral"),
    ],
)
def test_order_status_is_derived_from_its_devices(statuses, text, tone):
    status = order_status(statuses)
    assert status.text == text and status.tone == tone


def test_updatable_only_while_all_ordered_or_not_started():
    assert order_is_updatable([S.ORDERED, S.NOT_STARTED])
    assert not order_is_updatable([S.ORDERED, S.PREPARING])
    assert not order_is_updatable([])


def test_open_until_everything_is_received_or_final():
    assert order_is_open([S.RECEIVED, S.SHIPPED])
    assert not order_is_open([S.RECEIVED, S.CANCELLED])
    assert not order_is_open([S.ACTIVE])
