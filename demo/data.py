"""The demo data contract (docs/architecture.md, "Demo data"), built through the services
as a user would.

Idempotent: every step looks for what it would create first, so a second run changes
nothing. All demo users have the password DEMO_PASSWORD and sign in with their e-mail."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from decimal import Decimal

from django.conf import settings
from django.db import transaction

from companies import services as company_services
from companies.models import Company, LeasingCompany, Partner, User
from core.tenancy import Role
from devices.models import Category, Transition
from leasing.models import LeasingArrangement, ReturnSender
from leasing.services import leases_daily
from orders.models import Acquisition, DispatchStatus, Order, Product
from partners.models import Adapter, DistributorConnection, PartnerApiKey
from partners.services import keys as partner_keys

from .hardware import (
    hardware_anna,
    hardware_ben,
    hardware_leo,
    hardware_olli,
    hardware_olli_leased,
    hardware_saga,
    request_made,
)
from .idp import config as idp

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


def _user(report: DemoReport, email: str, *, password=DEMO_PASSWORD, **fields) -> User:
    existing = User.objects.filter(email__iexact=email).first()
    if existing is not None:
        return existing
    if fields.pop("superuser", False):
        user = User.objects.create_superuser(email, password, **fields)
    else:
        # No password (None): an unusable one, so the person signs in only through SSO.
        language = fields.pop("language", "")
        user = company_services.user_create(email=email, password=password, **fields)
        if language and settings.DEMO_PROFILE_LANGUAGES:
            # The demo's people read Velory in their own language (the tests, in English).
            User.objects.filter(pk=user.pk).update(language=language)
            user.language = language
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
    fjord = _partner(
        report,
        acme,
        slug="fjord-devices",
        name="Fjord Devices",
        support_email="orders@fjord-devices.example",
        support_phone="+47 22 00 40 40",
        website="https://fjord-devices.example",
        offers_tracking=True,
    )

    _user(
        report,
        "anna@acme.example",
        full_name="Anna Andersson",
        role=Role.EMPLOYEE,
        company=acme,
        job_title="Product designer",
        language="sv",
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
        "staff@fjord-devices.example",
        full_name="Frida Fjord",
        role=Role.PARTNER_STAFF,
        partner=fjord,
        job_title="Integrations",
    )
    _user(
        report,
        "olli@globex.example",
        full_name="Olli Ojala",
        role=Role.EMPLOYEE,
        company=globex,
        job_title="Sales manager",
        language="fi",
        delivery_address="Olli Ojala\nGlobex Oy\nMannerheimintie 5\n00100 Helsinki\nFinland",
    )
    # Globex's second office, in Stockholm, budgets in SEK.
    _user(
        report,
        "saga@globex.example",
        full_name="Saga Sjöberg",
        role=Role.EMPLOYEE,
        company=globex,
        job_title="Key account manager",
        language="sv",
        cost_centre="Stockholm office",
        delivery_address="Saga Sjöberg\nGlobex Oy, Stockholm office\nKungsgatan 10\n"
        "111 43 Stockholm\nSweden",
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
    _user(
        report,
        "sam@acme.example",
        password=None,
        full_name="Sam Sso",
        role=Role.EMPLOYEE,
        company=acme,
        job_title="Support engineer",
        delivery_address="Sam Sso\nAcme AB\nStorgatan 1\n111 22 Stockholm\nSweden",
    )
    _user(
        report,
        "leo@acme.example",
        full_name="Leo Lindgren",
        role=Role.EMPLOYEE,
        company=acme,
        job_title="Account manager",
        delivery_address="Leo Lindgren\nAcme AB\nStorgatan 1\n111 22 Stockholm\nSweden",
    )
    _user(report, "root@velory.example", full_name="Velory Root", superuser=True)
    _single_sign_on(report, acme)

    _connections(report, nordic, baltic)
    _pushing_partner(report, fjord)
    _arrangements(report, acme, lease, nordic, globex, baltic)
    catalogue = _catalogue(report, acme, nordic, globex, baltic, fjord)
    people = {u.email: u for u in User.objects.filter(email__endswith=".example")}
    before = set(Order.objects.values_list("pk", flat=True))
    hardware_anna(report, people, nordic, lease, catalogue)
    hardware_olli(report, people, baltic, catalogue)
    hardware_ben(report, people)
    hardware_olli_leased(report, people)
    hardware_saga(report, people, catalogue)
    hardware_leo(report, people)
    # The demo's history was made by hand above: none of it goes to a partner's API.
    Order.objects.exclude(pk__in=before).update(dispatch_status=DispatchStatus.MANUAL)
    _live_order(report, people, catalogue)
    _live_pushed_order(report, people, catalogue)
    # The lease-end notices due today (Anna's laptop: its 60-day notice, unanswered).
    notices = leases_daily()
    if notices["end_notices"]:
        report.add(f"{notices['end_notices']} lease-end notice(s)")
    return report


def _single_sign_on(report: DemoReport, acme: Company) -> None:
    """Acme signs in through the demo's identity provider (``demo.idp``, started by
    ``make run``), with passwords still allowed, so every demo password keeps working and
    Sam, who has none, signs in only there. Globex keeps passwords alone."""
    if acme.sso_issuer:
        return
    company_services.company_update_policy(
        company=acme,
        actor=None,
        sso_issuer=idp.ISSUER,
        sso_client_id=idp.CLIENT_ID,
        sso_client_secret=idp.CLIENT_SECRET,
        sso_domains="acme.example",
        sso_password_allowed=True,
    )
    report.add("Acme's single sign-on through the demo identity provider")


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


FJORD_API_KEY = "fjord-demo-key"  # the distributor API key Velory places Fjord's orders with
PUSH_KEY_NAME = "Fake distributor (demo push mode)"


def _pushing_partner(report, fjord) -> None:
    """Fjord Devices takes orders through the fake distributor's API like Nordic IT, but
    pushes what happens to them through the partner API instead of being polled: the fake
    runs in push mode for its orders (``make run``'s distributor, --push-for), with a push
    key Frida made, written for the fake to read (FAKE_DISTRIBUTOR_PUSH_KEY_FILE)."""
    if not DistributorConnection.objects.filter(partner=fjord).exists():
        connection = DistributorConnection(
            partner=fjord,
            adapter=Adapter.HTTP,
            base_url=settings.FAKE_DISTRIBUTOR_URL,
            rate_per_second=10,
            pushes_updates=True,
        )
        connection.set_api_key(FJORD_API_KEY)
        connection.save()
        report.add("Fjord Devices' API connection (pushes its updates)")
    path = settings.FAKE_DISTRIBUTOR_PUSH_KEY_FILE
    if not path:
        return
    try:
        with open(path, encoding="utf-8") as handle:
            written = handle.read().strip()
    except OSError:
        written = ""
    if written and partner_keys.api_key_authenticate(written) is not None:
        return  # the key the fake reads is still live
    frida = User.objects.get(email="staff@fjord-devices.example")
    for old in PartnerApiKey.objects.live().filter(partner=fjord, name=PUSH_KEY_NAME):
        partner_keys.api_key_revoke(key_id=old.pk, actor=frida)
    _key, raw = partner_keys.api_key_create(name=PUSH_KEY_NAME, actor=frida)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(raw + "\n")
    report.add("Fjord Devices' push key for the fake distributor")


def _live_pushed_order(report, people, catalogue) -> None:
    """Ben's phone from Fjord Devices, approved now: placed with the fake distributor, whose
    answers come back pushed (Not started, Preparing, Shipped with a serial number and
    tracking, Delivered) rather than polled."""
    ben = people["ben@acme.example"]
    if Order.objects.filter(employee=ben, partner__slug="fjord-devices").exists():
        return
    request_made(ben, people["admin@acme.example"], catalogue["Fairphone 5"], days_ago=0.01)
    report.add("Ben's live order from Fjord Devices (pushed)")


def _live_order(report, people, catalogue) -> None:
    """Ben's tablet, approved now and placed with the fake distributor for real: the demo
    moves on its own (Not started, Preparing, Shipped with tracking, Delivered)."""
    ben = people["ben@acme.example"]
    if Order.objects.filter(employee=ben).exists():
        return
    request_made(
        ben, people["admin@acme.example"], catalogue["Samsung Galaxy Tab S9"], days_ago=0.01
    )
    report.add("Ben's live order")


# company: (partner, [(name, category, price[, monthly price, lease months])])
SWEDEN = " (Sweden)"  # a product of a price list in SEK
PRICE_LIST_CURRENCY = {"globex-stockholm": "SEK"}  # else the company's currency
PRODUCTS = {
    "acme-fjord": (
        "fjord-devices",
        [
            ("Fairphone 5", Category.PHONE, "549.00"),
            ("Logitech MX Master 3S", Category.ACCESSORY, "109.00"),
        ],
    ),
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
    # Baltic Supply's Swedish price list, for Globex's Stockholm office (budgets in SEK).
    "globex-stockholm": (
        "baltic-supply",
        [
            ("Lenovo ThinkPad T14" + SWEDEN, Category.LAPTOP, "15990.00"),
            ("Samsung Galaxy S25" + SWEDEN, Category.PHONE, "10490.00"),
            ("Poly Voyager Focus 2" + SWEDEN, Category.HEADSET, "2490.00"),
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


# Key specs, one per line: the catalogue card shows the first three, the product page all.
SPECS = {
    "MacBook Pro 14 M4": (
        "Apple M4, 10-core CPU",
        "16 GB memory",
        "512 GB SSD",
        "14.2-inch Liquid Retina XDR",
        "Up to 24 hours battery",
    ),
    "Lenovo ThinkPad X1 Carbon": (
        "Intel Core Ultra 7",
        "32 GB memory",
        "1 TB SSD",
        "14-inch 2.8K OLED",
        "1.09 kg",
    ),
    "iPhone 16": (
        "128 GB",
        "6.1-inch Super Retina XDR",
        "USB-C",
        "Face ID",
    ),
    "Jabra Evolve2 65": (
        "Wireless, Bluetooth and USB-C dongle",
        "Active noise cancelling",
        "Up to 37 hours talk time",
        "Certified for Microsoft Teams",
    ),
    "Dell UltraSharp 27 4K": (
        "27-inch 3840 × 2160 IPS",
        "USB-C with 90 W charging",
        "Height-adjustable stand",
    ),
    "Apple Magic Keyboard": (
        "Touch ID",
        "Nordic layout",
        "USB-C charging",
    ),
    "Samsung Galaxy Tab S9": (
        "11-inch Dynamic AMOLED 2X",
        "128 GB",
        "S Pen included",
        "Water resistant (IP68)",
    ),
    "HP EliteBook 840": (
        "Intel Core Ultra 5",
        "16 GB memory",
        "512 GB SSD",
        "14-inch WUXGA",
    ),
    "Lenovo ThinkPad T14": (
        "AMD Ryzen 7 PRO",
        "16 GB memory",
        "512 GB SSD",
        "14-inch WUXGA",
    ),
    "Samsung Galaxy S25": (
        "256 GB",
        "6.2-inch Dynamic AMOLED",
        "USB-C",
        "Samsung Knox",
    ),
    "Fairphone 5": (
        "128 GB, repairable by design",
        "6.46-inch OLED",
        "USB-C",
        "Five-year warranty",
    ),
    "Logitech MX Master 3S": (
        "Quiet clicks, 8K DPI sensor",
        "Bluetooth and Logi Bolt",
        "USB-C charging",
    ),
    "Poly Voyager Focus 2": (
        "Wireless, Bluetooth and USB-A dongle",
        "Active noise cancelling",
        "Up to 19 hours talk time",
    ),
}


def _catalogue(report, *tenants) -> dict[str, Product]:
    companies = {c.slug: c for c in tenants if isinstance(c, Company)}
    partners = {p.slug: p for p in tenants if isinstance(p, Partner)}
    products = {}
    for slug, (partner_slug, items) in PRODUCTS.items():
        company = companies[slug.split("-")[0]]
        for name, category, price, *lease in items:
            product, created = Product.objects.get_or_create(
                company=company,
                name=name,
                defaults={
                    "partner": partners[partner_slug],
                    "category": category,
                    "description": "\n".join(SPECS.get(name.removesuffix(SWEDEN), ())),
                    "price": Decimal(price),
                    "currency": PRICE_LIST_CURRENCY.get(slug, company.currency),
                    "acquisition": Acquisition.LEASE if lease else Acquisition.PURCHASE,
                    "monthly_price": Decimal(lease[0]) if lease else None,
                    "lease_months": lease[1] if lease else None,
                },
            )
            if created:
                report.add(f"product {name}")
            products[name] = product
    return products
