"""The demo data contract (docs/architecture.md, "Demo data"), built through the services
as a user would.

Idempotent: every step looks for what it would create first, so a second run changes
nothing. All demo users have the password DEMO_PASSWORD and sign in with their e-mail."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from budgets.models import Budget
from budgets.payments import Card
from budgets.services import budget_create
from companies import services as company_services
from companies.models import Company, LeasingCompany, Partner, User
from core.tenancy import SYSTEM, Role
from devices import lifecycle
from devices.engine import device_transition
from devices.models import Category, Device, Source, Transition
from leasing.models import LeasingArrangement, ReturnSender
from leasing.services import leases_daily
from orders import services as orders
from orders.models import Acquisition, DispatchStatus, Order, Product
from partners.models import Adapter, DistributorConnection

T = Transition

DEMO_PASSWORD = "velory-demo"


@dataclass
class DemoReport:
    created: list[str] = field(default_factory=list)

    def add(self, what: str) -> None:
        self.created.append(what)


def _leasing_company(report: DemoReport) -> LeasingCompany:
    lc, created = LeasingCompany.objects.get_or_create(
        name="Nordic Lease",
        defaults={
            "contact_email": "returns@nordic-lease.example",
            "contact_phone": "+46 8 555 010 10",
            "website": "https://nordic-lease.example",
        },
    )
    if created:
        report.add("leasing company Nordic Lease")
    return lc


def _company(report: DemoReport, **fields) -> Company:
    company, created = Company.objects.get_or_create(slug=fields["slug"], defaults=fields)
    if created:
        report.add(f"company {company.name}")
    return company


def _partner(report: DemoReport, company: Company, **fields) -> Partner:
    partner, created = Partner.objects.get_or_create(slug=fields["slug"], defaults=fields)
    if created:
        report.add(f"partner {partner.name}")
    if not partner.companies.filter(pk=company.pk).exists():
        partner.companies.add(company)
    return partner


def _user(report: DemoReport, email: str, **fields) -> User:
    existing = User.objects.filter(email__iexact=email).first()
    if existing is not None:
        return existing
    if fields.pop("superuser", False):
        user = User.objects.create_superuser(email, DEMO_PASSWORD, **fields)
    else:
        user = company_services.user_create(email=email, password=DEMO_PASSWORD, **fields)
    report.add(f"user {email}")
    return user


@transaction.atomic
def seed_demo() -> DemoReport:
    report = DemoReport()
    lease = _leasing_company(report)
    acme = _company(
        report,
        slug="acme",
        name="Acme AB",
        currency="EUR",
        auto_receive_on_delivery=False,
        buyout_allowed=True,
        card_payments_allowed=True,
        support_name="Acme IT helpdesk",
        support_email="it@acme.example",
        support_phone="+46 8 123 456 00",
        leasing_company=lease,
    )
    globex = _company(
        report,
        slug="globex",
        name="Globex Oy",
        currency="EUR",
        auto_receive_on_delivery=True,
        buyout_allowed=False,
        support_name="Globex IT",
        support_email="it@globex.example",
        support_phone="+358 9 123 4500",
    )
    nordic = _partner(
        report,
        acme,
        slug="nordic-it",
        name="Nordic IT",
        support_email="orders@nordic-it.example",
        support_phone="+46 8 555 020 20",
        website="https://nordic-it.example",
        offers_tracking=True,
    )
    baltic = _partner(
        report,
        globex,
        slug="baltic-supply",
        name="Baltic Supply",
        support_email="service@baltic-supply.example",
        support_phone="+372 600 1234",
        website="https://baltic-supply.example",
        offers_tracking=False,
    )

    _user(
        report,
        "anna@acme.example",
        full_name="Anna Andersson",
        role=Role.EMPLOYEE,
        company=acme,
        job_title="Product designer",
        phone="+46 70 111 22 33",
        delivery_address="Anna Andersson\nAcme AB\nStorgatan 1\n111 22 Stockholm\nSweden",
    )
    _user(
        report,
        "ben@acme.example",
        full_name="Ben Berg",
        role=Role.EMPLOYEE,
        company=acme,
        job_title="Developer",
        delivery_address="Ben Berg\nAcme AB\nStorgatan 1\n111 22 Stockholm\nSweden",
    )
    _user(
        report,
        "admin@acme.example",
        full_name="Alex Admin",
        role=Role.COMPANY_ADMIN,
        company=acme,
        job_title="IT manager",
        phone="+46 8 123 456 01",
    )
    _user(
        report,
        "staff@nordic-it.example",
        full_name="Nina Nordic",
        role=Role.PARTNER_STAFF,
        partner=nordic,
        job_title="Order desk",
    )
    _user(
        report,
        "olli@globex.example",
        full_name="Olli Ojala",
        role=Role.EMPLOYEE,
        company=globex,
        job_title="Sales manager",
        delivery_address="Olli Ojala\nGlobex Oy\nMannerheimintie 5\n00100 Helsinki\nFinland",
    )
    _user(
        report,
        "admin@globex.example",
        full_name="Greta Globex",
        role=Role.COMPANY_ADMIN,
        company=globex,
        job_title="Office manager",
        phone="+358 9 123 4501",
    )
    _user(
        report,
        "staff@baltic-supply.example",
        full_name="Bruno Baltic",
        role=Role.PARTNER_STAFF,
        partner=baltic,
    )
    _user(report, "root@velory.example", full_name="Velory Root", superuser=True)

    _connections(report, nordic, baltic)
    _arrangements(report, acme, lease, nordic, globex, baltic)
    catalogue = _catalogue(report, acme, nordic, globex, baltic)
    people = {u.email: u for u in User.objects.filter(email__endswith=".example")}
    before = set(Order.objects.values_list("pk", flat=True))
    _hardware_anna(report, people, nordic, lease, catalogue)
    _hardware_olli(report, people, baltic, catalogue)
    _hardware_ben(report, people)
    # The demo's history was made by hand above: none of it goes to a partner's API.
    Order.objects.exclude(pk__in=before).update(dispatch_status=DispatchStatus.MANUAL)
    _live_order(report, people, catalogue)
    # The lease-end notices due today (Anna's laptop: its 60-day notice, unanswered).
    notices = leases_daily()
    if notices["end_notices"]:
        report.add(f"{notices['end_notices']} lease-end notice(s)")
    return report


def _arrangements(report, acme, nordic_lease, nordic, globex, baltic) -> None:
    """Who sends the return instructions: for Acme the leasing company (Nordic Lease), for
    Globex the reseller (Baltic Supply), which also finances through Suomi Leasing."""
    suomi, _ = LeasingCompany.objects.get_or_create(
        name="Suomi Leasing",
        defaults={
            "contact_email": "palautukset@suomi-leasing.example",
            "contact_phone": "+358 9 555 0300",
            "website": "https://suomi-leasing.example",
        },
    )
    if globex.leasing_company_id is None:
        globex.leasing_company = suomi
        globex.save(update_fields=["leasing_company"])
    _, created = LeasingArrangement.objects.get_or_create(
        company=acme,
        leasing_company=nordic_lease,
        defaults={
            "partner": nordic,
            "return_instructions_from": ReturnSender.LEASING_COMPANY,
            "return_days": 21,
            "return_steps": "1. Back up your files, sign out of iCloud/Microsoft accounts and "
            "remove any passcode.\n"
            "2. Pack the device and its charger in the box it came in, or a padded one.\n"
            "3. Print the prepaid DHL label at https://nordic-lease.example/returns (your "
            "return code is your device's serial number) and drop the parcel at any DHL "
            "service point.",
        },
    )
    if created:
        report.add("Acme's leasing arrangement with Nordic Lease")
    _, created = LeasingArrangement.objects.get_or_create(
        company=globex,
        leasing_company=suomi,
        defaults={
            "partner": baltic,
            "return_instructions_from": ReturnSender.PARTNER,
            "return_days": 14,
        },
    )
    if created:
        report.add("Globex's leasing arrangement with Suomi Leasing")


DEMO_API_KEY = "nordic-demo-key"


def _connections(report, nordic, baltic) -> None:
    """Nordic IT tracks through the fake distributor (make run starts it); Baltic Supply
    takes orders by e-mail."""
    if not DistributorConnection.objects.filter(partner=nordic).exists():
        connection = DistributorConnection(
            partner=nordic,
            adapter=Adapter.HTTP,
            base_url=settings.FAKE_DISTRIBUTOR_URL,
            rate_per_second=10,
        )
        connection.set_api_key(DEMO_API_KEY)
        connection.save()
        report.add("Nordic IT's API connection")
    if not DistributorConnection.objects.filter(partner=baltic).exists():
        DistributorConnection.objects.create(partner=baltic, adapter=Adapter.EMAIL)
        report.add("Baltic Supply's e-mail connection")


def _live_order(report, people, catalogue) -> None:
    """Ben's tablet, approved now and placed with the fake distributor for real: the demo
    moves on its own (Not started, Preparing, Shipped with tracking, Delivered)."""
    ben = people["ben@acme.example"]
    if Order.objects.filter(employee=ben).exists():
        return
    _requested(ben, people["admin@acme.example"], catalogue["Samsung Galaxy Tab S9"], days_ago=0.01)
    report.add("Ben's live order")


# company: (partner, [(name, category, price[, monthly price, lease months])])
PRODUCTS = {
    "acme": (
        "nordic-it",
        [
            ("MacBook Pro 14 M4", Category.LAPTOP, "2399.00"),
            ("Lenovo ThinkPad X1 Carbon", Category.LAPTOP, "2124.00", "59.00", 36),
            ("iPhone 16", Category.PHONE, "999.00"),
            ("Jabra Evolve2 65", Category.HEADSET, "249.00"),
            ("Dell UltraSharp 27 4K", Category.MONITOR, "649.00"),
            ("Apple Magic Keyboard", Category.ACCESSORY, "149.00"),
            ("Samsung Galaxy Tab S9", Category.TABLET, "899.00"),
        ],
    ),
    "globex": (
        "baltic-supply",
        [
            ("HP EliteBook 840", Category.LAPTOP, "1590.00"),
            ("Lenovo ThinkPad T14", Category.LAPTOP, "1390.00"),
            ("Samsung Galaxy S25", Category.PHONE, "899.00"),
            ("Poly Voyager Focus 2", Category.HEADSET, "219.00"),
        ],
    ),
}


def _catalogue(report, *tenants) -> dict[str, Product]:
    companies = {c.slug: c for c in tenants if isinstance(c, Company)}
    partners = {p.slug: p for p in tenants if isinstance(p, Partner)}
    products = {}
    for slug, (partner_slug, items) in PRODUCTS.items():
        company = companies[slug]
        for name, category, price, *lease in items:
            product, created = Product.objects.get_or_create(
                company=company,
                name=name,
                defaults={
                    "partner": partners[partner_slug],
                    "category": category,
                    "price": Decimal(price),
                    "currency": company.currency,
                    "acquisition": Acquisition.LEASE if lease else Acquisition.PURCHASE,
                    "monthly_price": Decimal(lease[0]) if lease else None,
                    "lease_months": lease[1] if lease else None,
                },
            )
            if created:
                report.add(f"product {name}")
            products[name] = product
    return products


def _line(product: Product) -> orders.LineSpec:
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


def _order(employee, partner, product, days_ago: float) -> tuple[Order, list[int]]:
    """An order made directly (hardware from before the company used budgets)."""
    order = orders.order_create(
        employee_id=employee.pk,
        partner_id=partner.pk,
        lines=[_line(product)],
        delivery_address=employee.delivery_address,
        actor=SYSTEM,
        source=Source.SYSTEM,
        at=timezone.now() - timedelta(days=days_ago),
    )
    return order, list(order.devices.values_list("pk", flat=True))


def _requested(employee, admin, product, days_ago: float, *, card=None, approve=True):
    """A request as the employee makes it (budget reserved, card charged for the rest),
    approved by their company admin a little later."""
    request = orders.request_submit(
        employee=employee,
        product_id=product.pk,
        delivery_address=employee.delivery_address,
        card=card,
        at=_ago(days_ago),
    )
    if not approve:
        return request, None, []
    request = orders.request_approve(request_id=request.pk, actor=admin, at=_ago(days_ago - 0.1))
    return request, request.order, list(request.order.devices.values_list("pk", flat=True))


def _ago(days: float):
    return timezone.now() - timedelta(days=days)


def _budget(
    employee, allowance: str, *, category: str = "", months: int = 36, started_days_ago: int = 0
):

    existing = Budget.objects.filter(employee=employee, category=category).first()
    return existing or budget_create(
        employee=employee,
        category=category,
        allowance=Decimal(allowance),
        period_months=months,
        period_start=timezone.localdate() - timedelta(days=started_days_ago),
    )


def _hardware_anna(report, people, nordic, lease_co, catalogue) -> None:
    """Anna: budgets with money left and a pending request; devices Shipped (tracked),
    Delivered (waiting for her), Preparing, Not started (paid partly by card, so cancelling
    it shows both a budget release and a refund), and an Active leased laptop whose lease
    ends within 60 days."""
    anna = people["anna@acme.example"]
    if Order.objects.filter(employee=anna).exists():
        return
    staff = people["staff@nordic-it.example"]
    admin = people["admin@acme.example"]
    _budget(anna, "4000.00", months=36, started_days_ago=400)
    _budget(anna, "800.00", category=Category.PHONE, months=24, started_days_ago=200)

    # The leased laptop, from before Acme used budgets, 34.5 months into a 36-month lease.
    product = catalogue["Lenovo ThinkPad X1 Carbon"]
    _, ids = _order(anna, nordic, product, days_ago=1058)
    lifecycle.devices_advance(
        device_ids=ids,
        transition=T.START_PREPARING,
        actor=staff,
        source=Source.ADMIN,
        at=_ago(1057),
    )
    lifecycle.devices_ship(
        device_ids=ids,
        actor=staff,
        source=Source.ADMIN,
        carrier="PostNord",
        tracking_number="PN100200300SE",
        tracking_url="https://tracking.postnord.com/se/?id=PN100200300SE",
        at=_ago(1053),
    )
    lifecycle.devices_deliver(device_ids=ids, actor=SYSTEM, source=Source.POLL, at=_ago(1051))
    anna_receive(anna, ids[0], serial="PF-4XK2M9", on=timezone.localdate(_ago(1050)))
    device_transition(
        device_id=ids[0],
        transition=T.ACTIVATE,
        actor=admin,
        source=Source.ADMIN,
        note="Enrolled in device management.",
        at=_ago(1049),
    )
    # Its lease opened when Anna received it, 36 months from then: it ends within 60 days.

    # Delivered, waiting for Anna to mark it received.
    _, order, ids = _requested(anna, admin, catalogue["Dell UltraSharp 27 4K"], days_ago=9)
    lifecycle.devices_advance(
        device_ids=ids, transition=T.START_PREPARING, actor=staff, source=Source.ADMIN, at=_ago(8)
    )
    lifecycle.devices_ship(
        device_ids=ids,
        actor=staff,
        source=Source.ADMIN,
        carrier="DHL Express",
        tracking_number="JD014600006281234567",
        tracking_url="https://www.dhl.com/se-en/home/tracking.html?tracking-id=JD014600006281234567",
        at=_ago(4),
    )
    lifecycle.shipment_record_progress(
        shipment_id=order.shipments.get().pk,
        status_text="Delivered",
        events=[
            lifecycle.TrackingEvent(_ago(4), "Picked up", "Malmö"),
            lifecycle.TrackingEvent(_ago(1.2), "Out for delivery", "Stockholm"),
            lifecycle.TrackingEvent(_ago(1), "Delivered, signed by reception", "Stockholm"),
        ],
    )
    lifecycle.devices_deliver(device_ids=ids, actor=SYSTEM, source=Source.POLL, at=_ago(1))

    # Shipped, with a tracking number and carrier scans.
    _, order, ids = _requested(anna, admin, catalogue["Jabra Evolve2 65"], days_ago=6)
    lifecycle.devices_advance(
        device_ids=ids, transition=T.ACKNOWLEDGE, actor=staff, source=Source.ADMIN, at=_ago(5.8)
    )
    lifecycle.devices_advance(
        device_ids=ids, transition=T.START_PREPARING, actor=staff, source=Source.ADMIN, at=_ago(5)
    )
    lifecycle.devices_ship(
        device_ids=ids,
        actor=staff,
        source=Source.ADMIN,
        carrier="PostNord",
        tracking_number="PN738104592SE",
        tracking_url="https://tracking.postnord.com/se/?id=PN738104592SE",
        expected_delivery=timezone.localdate() + timedelta(days=2),
        at=_ago(2),
    )
    lifecycle.shipment_record_progress(
        shipment_id=order.shipments.get().pk,
        status_text="In transit",
        events=[
            lifecycle.TrackingEvent(_ago(2), "Shipment information received", "Göteborg"),
            lifecycle.TrackingEvent(_ago(1.6), "Picked up by PostNord", "Göteborg"),
            lifecycle.TrackingEvent(_ago(0.8), "Arrived at sorting terminal", "Stockholm Årsta"),
        ],
    )

    # Preparing at the partner: the order is locked.
    _, _, ids = _requested(anna, admin, catalogue["MacBook Pro 14 M4"], days_ago=3)
    lifecycle.devices_advance(
        device_ids=ids, transition=T.ACKNOWLEDGE, actor=staff, source=Source.ADMIN, at=_ago(2.9)
    )
    lifecycle.devices_advance(
        device_ids=ids, transition=T.START_PREPARING, actor=staff, source=Source.ADMIN, at=_ago(1)
    )

    # Not started, paid 800 from the phone budget and 199 by Anna's card.
    visa = Card(
        number="4242424242424242", exp_month=8, exp_year=timezone.localdate().year + 3, cvc="123"
    )
    _, _, ids = _requested(anna, admin, catalogue["iPhone 16"], days_ago=1, card=visa)
    lifecycle.devices_advance(
        device_ids=ids, transition=T.ACKNOWLEDGE, actor=staff, source=Source.ADMIN, at=_ago(0.5)
    )

    # Waiting for approval.
    _requested(anna, admin, catalogue["Apple Magic Keyboard"], days_ago=0.2, approve=False)
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


def _hardware_olli(report, people, baltic, catalogue) -> None:
    """Olli (Globex: no tracking, auto-receive on, no card top-up): a laptop received on
    delivery without a click, and a phone being prepared."""
    olli = people["olli@globex.example"]
    if Order.objects.filter(employee=olli).exists():
        return
    staff = people["staff@baltic-supply.example"]
    admin = people["admin@globex.example"]
    _budget(olli, "3000.00", months=36, started_days_ago=100)
    _, _, ids = _requested(olli, admin, catalogue["HP EliteBook 840"], days_ago=20)
    lifecycle.devices_advance(
        device_ids=ids, transition=T.START_PREPARING, actor=staff, source=Source.ADMIN, at=_ago(18)
    )
    lifecycle.devices_ship(
        device_ids=ids, actor=staff, source=Source.ADMIN, carrier="Itella", at=_ago(15)
    )
    lifecycle.devices_deliver(device_ids=ids, actor=staff, source=Source.ADMIN, at=_ago(13))
    _, _, ids = _requested(olli, admin, catalogue["Samsung Galaxy S25"], days_ago=4)
    lifecycle.devices_advance(
        device_ids=ids, transition=T.START_PREPARING, actor=staff, source=Source.ADMIN, at=_ago(2)
    )
    report.add("Olli's hardware")


def _hardware_ben(report, people) -> None:
    """Ben: a laptop bought before the company used Velory, registered by hand."""
    ben = people["ben@acme.example"]
    if Device.objects.filter(owner=ben).exists():
        return
    _budget(ben, "3000.00", months=36, started_days_ago=30)
    lifecycle.device_register_manually(
        actor=people["admin@acme.example"],
        owner_id=ben.pk,
        name="Dell XPS 13",
        category=Category.LAPTOP,
        serial_number="DX13-88812",
        received_on=timezone.localdate() - timedelta(days=400),
    )
    report.add("Ben's hardware")
