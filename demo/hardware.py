"""The demo's hardware: each person's orders, requests and devices in the states the demo
data contract asks for, moved there through the services as the people would."""

from __future__ import annotations

import contextlib
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from django.conf import settings
from django.test.utils import override_settings
from django.utils import timezone

from budgets.models import Budget
from budgets.payments import PaymentError, get_gateway
from budgets.services import budget_create
from core.tenancy import SYSTEM
from devices import lifecycle
from devices.engine import device_transition
from devices.models import Category, Device, Source, Transition
from orders import services as orders
from orders.models import Acquisition, Order, Product
from people.services import provisioning

T = Transition


def line_for(product: Product) -> orders.LineSpec:
    return orders.LineSpec(
        name=product.name,
        category=product.category,
        unit_price=product.price,
        currency=product.currency,
        product_id=product.pk,
        is_leased=product.acquisition == Acquisition.LEASE,
        monthly_price=product.monthly_price,
        lease_months=product.lease_months,
    )


def order_for(employee, partner, product, days_ago: float) -> tuple[Order, list[int]]:
    """An order made directly (hardware from before the company used budgets)."""
    order = orders.order_create(
        employee_id=employee.pk,
        partner_id=partner.pk,
        lines=[line_for(product)],
        delivery_address=employee.delivery_address,
        actor=SYSTEM,
        source=Source.SYSTEM,
        at=timezone.now() - timedelta(days=days_ago),
    )
    return order, list(order.devices.values_list("pk", flat=True))


def request_made(employee, admin, product, days_ago: float, *, card=None, approve=True):
    """A request as the employee makes it (budget reserved; with ``card``, the rest held on
    the employee's card on the processor's page), approved by their company admin a little
    later (which captures the hold)."""
    with card_processor() if card else contextlib.nullcontext() as processor:
        request = orders.request_submit(
            employee=employee,
            product_id=product.pk,
            delivery_address=employee.delivery_address,
            at=ago(days_ago),
        )
        if card and request.status == "awaiting_payment":
            payment = request.card_payment
            processor_pay(processor, payment.checkout_session_id, card)
            orders.payment_sync(payment.pk, source="demo")
            request.refresh_from_db()
        if not approve:
            return request, None, []
        request = orders.request_approve(request_id=request.pk, actor=admin, at=ago(days_ago - 0.1))
        if card:
            orders.payment_decision_run(request.card_payment.pk)  # the capture, as the worker's
    return request, request.order, list(request.order.devices.values_list("pk", flat=True))


_PROCESSOR: dict = {}


@contextlib.contextmanager
def card_processor():
    """The card processor the demo's payment goes to: the configured one when it answers
    (a running `make run`, the tests'), else the sandbox processor served here for the
    seeding, keeping its state in the file `manage.py run_sandbox_processor` reads, so the
    processor that `make run` starts next knows the payment (and reconciles it)."""
    if _PROCESSOR.get("server") is not None:
        with override_settings(STRIPE_API_BASE=_PROCESSOR["server"].url):
            yield _PROCESSOR["server"]
        return
    try:
        get_gateway().payments_since(timezone.now())
        yield None
        return
    except PaymentError:
        pass
    from budgets.payments.processor import ProcessorConfig, SandboxProcessor

    server = SandboxProcessor(
        ProcessorConfig(
            api_key=settings.STRIPE_SECRET_KEY,
            webhook_secret=settings.STRIPE_WEBHOOK_SECRET,
            state_file=str(Path(settings.BASE_DIR) / "var" / "sandbox-processor.json"),
            public_url=settings.SANDBOX_PROCESSOR_URL,
        )
    ).start()
    _PROCESSOR["server"] = server
    try:
        with override_settings(STRIPE_API_BASE=server.url):
            yield server
    finally:
        _PROCESSOR.pop("server", None)
        server.stop()


def processor_pay(processor, session_id: str, card: str) -> None:
    """Anna on the processor's hosted page, entering her test card."""
    from budgets.payments.processor.customer import pay

    base = processor.url if processor is not None else settings.STRIPE_API_BASE
    public = processor.public_url if processor is not None else base
    result = pay(
        base,
        public,
        session_id,
        card=card,
        three_ds="complete",
        exp="08/30",
        cvc="123",
        name="Anna Andersson",
    )
    if result.redirect is None:
        raise RuntimeError(f"the demo's card payment did not go through: {result.error}")


def ago(days: float):
    return timezone.now() - timedelta(days=days)


def budget_give(
    employee,
    allowance: str,
    *,
    category: str = "",
    months: int = 36,
    started_days_ago: int = 0,
    currency: str = "",
):

    existing = Budget.objects.filter(employee=employee, category=category).first()
    return existing or budget_create(
        employee=employee,
        category=category,
        allowance=Decimal(allowance),
        period_months=months,
        period_start=timezone.localdate() - timedelta(days=started_days_ago),
        currency=currency,
    )


def hardware_anna(report, people, nordic, lease_co, catalogue) -> None:
    """Anna: budgets with money left and a pending request; devices Shipped (tracked),
    Delivered (waiting for her), Preparing, Not started (paid partly by card, so cancelling
    it shows both a budget release and a refund), and an Active leased laptop whose lease
    ends within 60 days."""
    anna = people["anna@acme.example"]
    if Order.objects.filter(employee=anna).exists():
        return
    staff = people["staff@nordic-it.example"]
    admin = people["admin@acme.example"]
    budget_give(anna, "4000.00", months=36, started_days_ago=400)
    budget_give(anna, "800.00", category=Category.PHONE, months=24, started_days_ago=200)

    # The leased laptop, from before Acme used budgets, 34.5 months into a 36-month lease.
    product = catalogue["Lenovo ThinkPad X1 Carbon"]
    _, ids = order_for(anna, nordic, product, days_ago=1058)
    lifecycle.devices_advance(
        device_ids=ids,
        transition=T.START_PREPARING,
        actor=staff,
        source=Source.ADMIN,
        at=ago(1057),
    )
    lifecycle.devices_ship(
        device_ids=ids,
        actor=staff,
        source=Source.ADMIN,
        carrier="PostNord",
        tracking_number="PN100200300SE",
        tracking_url="https://tracking.postnord.com/se/?id=PN100200300SE",
        at=ago(1053),
    )
    lifecycle.devices_deliver(device_ids=ids, actor=SYSTEM, source=Source.POLL, at=ago(1051))
    anna_receive(anna, ids[0], serial="PF-4XK2M9", on=timezone.localdate(ago(1050)))
    device_transition(
        device_id=ids[0],
        transition=T.ACTIVATE,
        actor=admin,
        source=Source.ADMIN,
        note="Enrolled in device management.",
        at=ago(1049),
    )
    # Its lease opened when Anna received it, 36 months from then: it ends within 60 days.

    # Delivered, waiting for Anna to mark it received.
    _, order, ids = request_made(anna, admin, catalogue["Dell UltraSharp 27 4K"], days_ago=9)
    lifecycle.devices_advance(
        device_ids=ids, transition=T.START_PREPARING, actor=staff, source=Source.ADMIN, at=ago(8)
    )
    lifecycle.devices_ship(
        device_ids=ids,
        actor=staff,
        source=Source.ADMIN,
        carrier="DHL Express",
        tracking_number="JD014600006281234567",
        tracking_url="https://www.dhl.com/se-en/home/tracking.html?tracking-id=JD014600006281234567",
        at=ago(4),
    )
    lifecycle.shipment_record_progress(
        shipment_id=order.shipments.get().pk,
        status_text="Delivered",
        events=[
            lifecycle.TrackingEvent(ago(4), "Picked up", "Malmö"),
            lifecycle.TrackingEvent(ago(1.2), "Out for delivery", "Stockholm"),
            lifecycle.TrackingEvent(ago(1), "Delivered, signed by reception", "Stockholm"),
        ],
    )
    lifecycle.devices_deliver(device_ids=ids, actor=SYSTEM, source=Source.POLL, at=ago(1))

    # Shipped, with a tracking number and carrier scans.
    _, order, ids = request_made(anna, admin, catalogue["Jabra Evolve2 65"], days_ago=6)
    lifecycle.devices_advance(
        device_ids=ids, transition=T.ACKNOWLEDGE, actor=staff, source=Source.ADMIN, at=ago(5.8)
    )
    lifecycle.devices_advance(
        device_ids=ids, transition=T.START_PREPARING, actor=staff, source=Source.ADMIN, at=ago(5)
    )
    lifecycle.devices_ship(
        device_ids=ids,
        actor=staff,
        source=Source.ADMIN,
        carrier="PostNord",
        tracking_number="PN738104592SE",
        tracking_url="https://tracking.postnord.com/se/?id=PN738104592SE",
        expected_delivery=timezone.localdate() + timedelta(days=2),
        at=ago(2),
    )
    lifecycle.shipment_record_progress(
        shipment_id=order.shipments.get().pk,
        status_text="In transit",
        events=[
            lifecycle.TrackingEvent(ago(2), "Shipment information received", "Göteborg"),
            lifecycle.TrackingEvent(ago(1.6), "Picked up by PostNord", "Göteborg"),
            lifecycle.TrackingEvent(ago(0.8), "Arrived at sorting terminal", "Stockholm Årsta"),
        ],
    )

    # Preparing at the partner: the order is locked.
    _, _, ids = request_made(anna, admin, catalogue["MacBook Pro 14 M4"], days_ago=3)
    lifecycle.devices_advance(
        device_ids=ids, transition=T.ACKNOWLEDGE, actor=staff, source=Source.ADMIN, at=ago(2.9)
    )
    lifecycle.devices_advance(
        device_ids=ids, transition=T.START_PREPARING, actor=staff, source=Source.ADMIN, at=ago(1)
    )

    # Not started, paid 800 from the phone budget and 199 by Anna's card.
    _, _, ids = request_made(
        anna, admin, catalogue["iPhone 16"], days_ago=1, card="4242424242424242"
    )
    lifecycle.devices_advance(
        device_ids=ids, transition=T.ACKNOWLEDGE, actor=staff, source=Source.ADMIN, at=ago(0.5)
    )

    # Waiting for approval.
    request_made(anna, admin, catalogue["Apple Magic Keyboard"], days_ago=0.2, approve=False)
    report.add("Anna's hardware")


def anna_receive(user, device_id, *, serial, on) -> None:
    at = timezone.make_aware(timezone.datetime.combine(on, timezone.datetime.min.time()))
    lifecycle.device_mark_received(
        device_id=device_id,
        actor=user,
        serial_number=serial,
        received_on=on,
        at=at + timedelta(hours=9),
    )


def hardware_olli(report, people, baltic, catalogue) -> None:
    """Olli (Globex: no tracking, auto-receive on, no card top-up): a laptop received on
    delivery without a click, and a phone being prepared."""
    olli = people["olli@globex.example"]
    if Order.objects.filter(employee=olli).exists():
        return
    staff = people["staff@baltic-supply.example"]
    admin = people["admin@globex.example"]
    budget_give(olli, "3000.00", months=36, started_days_ago=100)
    _, _, ids = request_made(olli, admin, catalogue["HP EliteBook 840"], days_ago=20)
    lifecycle.devices_advance(
        device_ids=ids, transition=T.START_PREPARING, actor=staff, source=Source.ADMIN, at=ago(18)
    )
    lifecycle.devices_ship(
        device_ids=ids, actor=staff, source=Source.ADMIN, carrier="Itella", at=ago(15)
    )
    lifecycle.devices_deliver(device_ids=ids, actor=staff, source=Source.ADMIN, at=ago(13))
    _, _, ids = request_made(olli, admin, catalogue["Samsung Galaxy S25"], days_ago=4)
    lifecycle.devices_advance(
        device_ids=ids, transition=T.START_PREPARING, actor=staff, source=Source.ADMIN, at=ago(2)
    )
    report.add("Olli's hardware")


def hardware_saga(report, people, catalogue) -> None:
    """Saga, at Globex's Stockholm office: her budget is in SEK, so her catalogue is
    Baltic Supply's Swedish price list, and her laptop is being prepared."""
    saga = people["saga@globex.example"]
    if Order.objects.filter(employee=saga).exists():
        return
    staff = people["staff@baltic-supply.example"]
    admin = people["admin@globex.example"]
    budget_give(saga, "30000.00", months=36, started_days_ago=40, currency="SEK")
    _, _, ids = request_made(saga, admin, catalogue["Lenovo ThinkPad T14 (Sweden)"], days_ago=5)
    lifecycle.devices_advance(
        device_ids=ids, transition=T.START_PREPARING, actor=staff, source=Source.ADMIN, at=ago(3)
    )
    report.add("Saga's hardware (in SEK)")


def hardware_ben(report, people) -> None:
    """Ben: a laptop bought before the company used Velory, registered by hand."""
    ben = people["ben@acme.example"]
    if Device.objects.filter(owner=ben).exists():
        return
    budget_give(ben, "3000.00", months=36, started_days_ago=30)
    lifecycle.device_register_manually(
        actor=people["admin@acme.example"],
        owner_id=ben.pk,
        name="Dell XPS 13",
        category=Category.LAPTOP,
        serial_number="DX13-88812",
        received_on=timezone.localdate() - timedelta(days=400),
    )
    report.add("Ben's hardware")


def hardware_olli_leased(report, people) -> None:
    """Olli's leased laptop (Globex allows no buyouts: its page refuses one, and shows the
    return only)."""
    olli = people["olli@globex.example"]
    if Device.objects.filter(owner=olli, is_leased=True).exists():
        return
    lifecycle.device_register_manually(
        actor=people["admin@globex.example"],
        owner_id=olli.pk,
        name="Lenovo ThinkPad T14",
        category=Category.LAPTOP,
        serial_number="PF-3T14-5521",
        received_on=timezone.localdate() - timedelta(days=500),
        price=Decimal("1390.00"),
        leased=True,
        lease_months=36,
        monthly_price=Decimal("39.00"),
    )
    report.add("Olli's leased laptop")


def hardware_leo(report, people) -> None:
    """Leo (Acme) leaves in 10 days: a leased laptop, an owned phone a year old and a
    headset, and his offboarding case open (the demo's leaver)."""
    leo = people["leo@acme.example"]
    admin = people["admin@acme.example"]
    if not Device.objects.filter(owner=leo).exists():
        today = timezone.localdate()
        for name, category, serial, days, price, leased in (
            ("MacBook Pro 14 M3", Category.LAPTOP, "C02LEO14M3", 400, "2299.00", True),
            ("iPhone 15", Category.PHONE, "F2LLEO15", 365, "899.00", False),
            ("Jabra Evolve2 65", Category.HEADSET, "JB-LEO-65", 200, "249.00", False),
        ):
            lifecycle.device_register_manually(
                actor=admin,
                owner_id=leo.pk,
                name=name,
                category=category,
                serial_number=serial,
                received_on=today - timedelta(days=days),
                price=Decimal(price),
                leased=leased,
                lease_months=36 if leased else None,
                monthly_price=Decimal("55.00") if leased else None,
            )
        report.add("Leo's hardware")
    if leo.leaver_date is None:
        provisioning.person_set_exit_date(
            user_id=leo.pk, exit_date=timezone.localdate() + timedelta(days=10), actor=admin
        )
        report.add("Leo's offboarding case")
