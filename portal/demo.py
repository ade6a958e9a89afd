"""The demo data contract of DESIGN.md, built through the services as a user would.

Idempotent: every step looks for what it would create first, so a second run changes
nothing. All demo users have the password DEMO_PASSWORD and sign in with their e-mail."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db import transaction

from companies import services as company_services
from companies.models import Company, LeasingCompany, Partner, User
from velory.tenancy import Role

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
    return report
