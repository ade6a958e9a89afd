"""The partner's device changelist with 10,000 devices across 20 companies: queries per
page and median time per page (in-process, the Django test client, PostgreSQL)."""

from __future__ import annotations

import statistics
import time

from tests.perf.bench import section, table

COMPANIES = 20
PER_COMPANY = 500
ITEMS_PER_ORDER = 25


def seed():
    from companies import services as company_services
    from companies.models import Company, Partner, User
    from core.tenancy import SYSTEM, Role
    from devices import lifecycle
    from devices.models import Device, Source
    from orders import services as orders

    partner, _ = Partner.objects.get_or_create(
        slug="bench-distributor",
        defaults={
            "name": "Bench Distributor",
            "support_email": "d@bench.example",
            "offers_tracking": True,
        },
    )
    staff = User.objects.filter(
        email="staff@bench-distributor.example"
    ).first() or company_services.user_create(
        email="staff@bench-distributor.example",
        full_name="Bench Staff",
        role=Role.PARTNER_STAFF,
        partner=partner,
    )
    for i in range(COMPANIES):
        company, _ = Company.objects.get_or_create(
            slug=f"bench-co-{i}", defaults={"name": f"Bench Company {i:02d}"}
        )
        partner.companies.add(company)
        email = f"emp@bench-co-{i}.example"
        employee = User.objects.filter(email=email).first() or company_services.user_create(
            email=email, full_name=f"Employee {i:02d}", company=company
        )
        have = Device.objects.filter(company=company, partner=partner).count()
        while have < PER_COMPANY:
            order = orders.order_create(
                employee_id=employee.pk,
                partner_id=partner.pk,
                lines=[orders.LineSpec("Laptop", "laptop", 999, "EUR", quantity=ITEMS_PER_ORDER)],
                delivery_address="Benchgatan 1",
                actor=SYSTEM,
            )
            ids = list(order.devices.values_list("pk", flat=True))
            if have % 100 < 50:
                lifecycle.devices_advance(
                    device_ids=ids, transition="start_preparing", actor=SYSTEM, source=Source.POLL
                )
            have += ITEMS_PER_ORDER
    return staff, partner


def measure(client, url, n=15):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.get(url)  # warm: templates compiled, permissions cached
    timings = []
    for _ in range(n):
        with CaptureQueriesContext(connection) as ctx:
            started = time.perf_counter()
            response = client.get(url)
            timings.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, (url, response.status_code)
    return len(ctx), statistics.median(timings)


@section("admin")
def admin_changelists() -> None:
    from django.test import Client

    from devices.models import Device

    started = time.perf_counter()
    staff, partner = seed()
    total = Device.objects.filter(partner=partner).count()
    seeded = time.perf_counter() - started
    print(f"{total} devices of {COMPANIES} companies, one partner (seeded in {seeded:.0f} s)")
    client = Client()
    client.force_login(staff, backend="companies.backends.EmailBackend")
    some_company = partner.companies.order_by("pk").first()
    pages = [
        ("devices, first page", "/admin/devices/device/"),
        ("devices, page 100", "/admin/devices/device/?p=100"),
        (
            "devices, one company + status",
            f"/admin/devices/device/?company__id__exact={some_company.pk}&status__exact=preparing",
        ),
        ("devices, search", "/admin/devices/device/?q=Employee+07"),
        ("work queue", "/admin/orders/workqueuedevice/"),
        ("orders", "/admin/orders/order/"),
    ]
    rows = []
    for name, url in pages:
        queries, median = measure(client, url)
        rows.append({"page": name, "queries": queries, "median ms": f"{median:.1f}"})
    print(table(rows, ["page", "queries", "median ms"]))
