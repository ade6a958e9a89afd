"""The daily lease job over 10,000 open leases across 20 companies (ends spread over the
next 120 days, some already past): wall time, SQL statements and mails queued of a first
run, and of a second run the same day (which must queue nothing). PostgreSQL, in-process;
the mail itself is sent afterwards by the worker and is not part of these figures."""

from __future__ import annotations

import time
from datetime import timedelta
from decimal import Decimal

from tests.perf.bench import section, table

COMPANIES = 20
PER_COMPANY = 500


def seed():
    """Leased devices and their leases, bulk-inserted (test data made fast; the run itself
    goes through the service). Returns the ids of the run's leases."""
    from django.db import transaction
    from django.utils import timezone

    from companies import services as company_services
    from companies.models import Company, LeasingCompany, User
    from core.tenancy import Role
    from devices.models import Device
    from leasing.models import Lease

    financier, _ = LeasingCompany.objects.get_or_create(
        name="Bench Lease", defaults={"contact_email": "returns@bench-lease.example"}
    )
    today = timezone.localdate()
    for i in range(COMPANIES):
        with transaction.atomic():
            company, _ = Company.objects.get_or_create(
                slug=f"lease-co-{i}",
                defaults={"name": f"Lease Company {i:02d}", "leasing_company": financier},
            )
            for role, email in ((Role.EMPLOYEE, "emp"), (Role.COMPANY_ADMIN, "admin")):
                address = f"{email}@lease-co-{i}.example"
                if not User.objects.filter(email=address).exists():
                    company_services.user_create(
                        email=address, full_name=f"{email} {i}", company=company, role=role
                    )
            employee = User.objects.get(email=f"emp@lease-co-{i}.example")
            have = Device.objects.filter(company=company).count()
            if have >= PER_COMPANY:
                continue
            devices = Device.objects.bulk_create(
                [
                    Device(
                        company=company,
                        owner=employee,
                        name=f"Leased laptop {n}",
                        status="active",
                        is_leased=True,
                        registered_manually=True,
                        received_on=today - timedelta(days=900),
                        price=Decimal("1500.00"),
                        currency="EUR",
                    )
                    for n in range(have, PER_COMPANY)
                ]
            )
            Lease.objects.bulk_create(
                [
                    Lease(
                        device=d,
                        leasing_company=financier,
                        starts_on=today - timedelta(days=900),
                        # spread over -5 .. 114 days from today
                        ends_on=today + timedelta(days=(d.pk % 120) - 5),
                        monthly_price=Decimal("40.00"),
                        currency="EUR",
                    )
                    for d in devices
                ]
            )
    return list(
        Lease.objects.filter(device__company__slug__startswith="lease-co-").values_list(
            "pk", flat=True
        )
    )


def reset(lease_ids) -> None:
    """Back to "nothing sent yet", so every bench run measures the same first run."""
    from leasing.models import Lease, LeaseNotice
    from notifications.models import Notification

    LeaseNotice.objects.filter(lease_id__in=lease_ids).delete()
    Lease.objects.filter(pk__in=lease_ids).update(
        last_notice_days=None, escalated_at=None, choice="", status="active"
    )
    Notification.objects.filter(
        kind__in=["lease_end_notice", "lease_end_admin", "lease_escalated"],
        to_email__endswith=".example",
        recipient__company__slug__startswith="lease-co-",
    ).delete()


def timed_run():
    """The job's own work, up to its commit. Sending the queued mail is the worker's, one
    task per batch after commit (the outbox is measured on its own): it is not started
    here, so the figures are the job's."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from leasing.services import leases_daily
    from notifications import services as outbox

    enqueue = outbox._enqueue_send
    outbox._enqueue_send = lambda ids: None
    try:
        with CaptureQueriesContext(connection) as ctx:
            started = time.perf_counter()
            report = leases_daily()
            took = time.perf_counter() - started
    finally:
        outbox._enqueue_send = enqueue
    return report, took, len(ctx.captured_queries)


@section("leasing")
def leasing_run() -> None:
    from notifications.models import Notification

    started = time.perf_counter()
    ids = seed()
    print(f"seeded {len(ids)} open leases over {COMPANIES} companies in "
          f"{time.perf_counter() - started:.0f} s")  # fmt: skip
    reset(ids)
    first, first_s, first_q = timed_run()
    queued = Notification.objects.filter(
        kind__in=["lease_end_notice", "lease_end_admin", "lease_escalated"],
        recipient__company__slug__startswith="lease-co-",
    ).count()
    second, second_s, second_q = timed_run()
    rows = [
        {
            "run": "first (nothing sent yet)",
            "leases notified": first["end_notices"],
            "escalated": first["escalated"],
            "mails queued": queued,
            "SQL statements": first_q,
            "wall time": f"{first_s:.2f} s",
        },
        {
            "run": "second, same day",
            "leases notified": second["end_notices"],
            "escalated": second["escalated"],
            "mails queued": 0 if not any(second.values()) else "?",
            "SQL statements": second_q,
            "wall time": f"{second_s:.2f} s",
        },
    ]
    print(
        table(
            rows,
            ["run", "leases notified", "escalated", "mails queued", "SQL statements", "wall time"],
        )
    )
