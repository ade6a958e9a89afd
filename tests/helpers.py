"""Setting hardware up the way users do: orders through the order service, statuses
through the lifecycle services, each step by the role that makes it."""

import json
import threading
from decimal import Decimal

from django.db import connection

from core.tenancy import SYSTEM
from devices import lifecycle
from devices.engine import device_transition
from devices.models import Device, DeviceStatus, Source
from orders import services as orders

S = DeviceStatus

# The path from Ordered to each status, as (transition, who) steps.
PATHS = {
    S.ORDERED: [],
    S.NOT_STARTED: [("acknowledge", "partner")],
    S.ON_HOLD: [("put_on_hold", "partner")],
    S.PREPARING: [("start_preparing", "partner")],
    S.BACKORDERED: [("acknowledge", "partner"), ("backorder", "partner")],
    S.SHIPPED: [("start_preparing", "partner"), ("ship", "partner")],
    S.DELIVERED: [("start_preparing", "partner"), ("ship", "partner"), ("deliver", "partner")],
    S.RECEIVED: [("start_preparing", "partner"), ("ship", "partner"), ("mark_received", "owner")],
    S.CANCELLED: [("cancel", "partner")],
    S.ACTIVE: [
        ("start_preparing", "partner"),
        ("ship", "partner"),
        ("mark_received", "owner"),
        ("activate", "admin"),
    ],
}
PATHS[S.PENDING_BUYOUT] = [*PATHS[S.ACTIVE], ("request_buyout", "admin")]
PATHS[S.BOUGHT_OUT] = [*PATHS[S.PENDING_BUYOUT], ("complete_buyout", "admin")]
PATHS[S.PROCESSING_TRADE_IN] = [*PATHS[S.ACTIVE], ("start_trade_in", "admin")]
PATHS[S.TRADED_IN] = [*PATHS[S.PROCESSING_TRADE_IN], ("confirm_trade_in", "partner")]
PATHS[S.REMOVED] = [*PATHS[S.ACTIVE], ("remove", "admin")]


def place_order(tenant, *, employee=None, items=1, name="ThinkPad T14", leased=False, note=""):
    """An order for ``items`` devices, created as an approval would create it."""
    employee = employee or tenant.employee
    return orders.order_create(
        employee_id=employee.pk,
        partner_id=tenant.partner.pk,
        lines=[
            orders.LineSpec(
                name=name,
                category="laptop",
                unit_price=Decimal("1200.00"),
                currency="EUR",
                quantity=items,
                is_leased=leased,
                monthly_price=Decimal("40.00") if leased else None,
                lease_months=36 if leased else None,
            )
        ],
        delivery_address="Storgatan 1\n111 22 Stockholm",
        note=note,
    )


def bring_to(tenant, device: Device, status: str) -> Device:
    """Move a fresh (Ordered) device to ``status`` through the services."""
    actors = {"partner": tenant.partner_staff, "owner": device.owner, "admin": tenant.admin}
    for name, who in PATHS[status]:
        actor = actors[who]
        if name == "ship":
            lifecycle.devices_ship(
                device_ids=[device.pk],
                actor=actor,
                source=Source.ADMIN,
                carrier="PostNord",
                tracking_number=f"PN{device.pk:09d}SE",
            )
        elif name == "deliver":
            lifecycle.devices_deliver(device_ids=[device.pk], actor=actor, source=Source.ADMIN)
        elif name in ("put_on_hold", "backorder"):
            lifecycle.devices_advance(
                device_ids=[device.pk],
                transition=name,
                actor=actor,
                source=Source.ADMIN,
                note="test",
            )
        elif name == "mark_received":
            lifecycle.device_mark_received(device_id=device.pk, actor=actor)
        else:
            device_transition(
                device_id=device.pk, transition=name, actor=actor, source=Source.ADMIN
            )
    device.refresh_from_db()
    assert device.status == status, (device.status, status)
    return device


def device_in(tenant, status: str, **order_kwargs) -> Device:
    order = place_order(tenant, **order_kwargs)
    return bring_to(tenant, order.devices.get(), status)


__all__ = ["PATHS", "SYSTEM", "bring_to", "device_in", "place_order"]


# --- Money ------------------------------------------------------------------------------------

VISA = "4242424242424242"
THREE_DS = "4000002500003155"  # 3-D Secure asked for, then passed (or failed)
DECLINED = "4000000000000002"
NO_FUNDS = "4000000000009995"
REFUND_FAILS = "4000000000005126"
DISPUTED = "4000000000000259"

# The sandbox card processor the tests' gateway talks to (started once, by tests/conftest.py).
PROCESSOR = {}


def processor():
    return PROCESSOR["server"]


def card(number=VISA):
    """A test card number: it is typed on the processor's page, never into Velory."""
    return number


def pay_checkout(payment, number=VISA, *, three_ds="complete", report=True):
    """The employee on the processor's hosted page (real HTTP to the sandbox processor):
    enters ``number``, passes (or fails) 3-D Secure when asked; then, with ``report``, what
    the return to Velory does (ask the processor and apply it). Returns the page's result."""
    from orders import services as order_services

    payment.refresh_from_db()
    assert payment.checkout_session_id, "no checkout was made for this payment"
    result = processor().pay(payment.checkout_session_id, card=number, three_ds=three_ds)
    if report:
        order_services.payment_sync(payment.pk, source="test")
        payment.refresh_from_db()
    return result


def product_for(tenant, *, price="1000.00", name="ThinkPad T14", category="laptop", **extra):
    from tests.factories import ProductFactory

    return ProductFactory(
        company=tenant.company,
        partner=tenant.partner,
        name=name,
        category=category,
        price=Decimal(price),
        currency=tenant.company.currency,
        **extra,
    )


def budget_for(tenant, allowance="2000.00", *, employee=None, category=""):
    from budgets.services import budget_create

    return budget_create(
        employee=employee or tenant.employee, allowance=allowance, category=category
    )


def pay_buyout(device, actor, number=VISA, *, three_ds="complete"):
    """The employee pays a buyout by card on the processor's page; returns the buyout."""
    from leasing import services as leasing
    from leasing.models import Buyout

    payment = leasing.buyout_checkout(device_id=device.pk, actor=actor)
    pay_checkout(payment, number, three_ds=three_ds)
    return Buyout.objects.filter(payment=payment).first()


def submit(tenant, product, *, employee=None, card_=None, note="", three_ds="complete"):
    """A request as the employee sends it; with ``card_``, the part over the budget is
    then authorized on the processor's page with that card."""
    request = orders.request_submit(
        employee=employee or tenant.employee,
        product_id=product.pk,
        delivery_address="Storgatan 1\n111 22 Stockholm",
        note=note,
    )
    if card_ and request.status == "awaiting_payment":
        pay_checkout(request.card_payment, card_, three_ds=three_ds)
        request.refresh_from_db()
    return request


def approved_order(tenant, product, **kwargs):
    request = submit(tenant, product, **kwargs)
    request = orders.request_approve(request_id=request.pk, actor=tenant.admin)
    return request.order


def mail(**filters):
    """The one queued e-mail matching ``filters``, rendered (bulk paths render at send)."""
    from notifications.models import Notification
    from notifications.services import notification_rendered

    return notification_rendered(Notification.objects.get(**filters))


def status_answer(order, **entry):
    body = {"orders": [{"order_id": order.number, "version": 1, "status": "processing", **entry}]}
    return 200, {"Content-Type": "application/json"}, json.dumps(body).encode()


def run_at_once(n, work):
    """Start ``n`` threads on ``work(i)`` at the same instant; return results or errors."""
    barrier = threading.Barrier(n)
    results = [None] * n

    def target(i):
        try:
            barrier.wait()
            results[i] = work(i)
        except Exception as exc:  # collected, asserted by the test
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=target, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results
