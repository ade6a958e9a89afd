"""The partner push API under load (``make bench BENCH_ARGS=api``): a partner's system
pushing batches of 100 item updates to ``POST /api/partner/v1/updates/`` on gunicorn (one
worker on one core, persistent database connections) from 4 client threads over real HTTP. Two kinds
of batch, as a partner sends them: 100 items to Preparing (two steps each: acknowledged,
then prepared), and 100 items Shipped with their orders' parcels (tracking number, a scan)
and serial numbers. Prints items applied per second, the latency of a batch (median, p95),
and the SQL statements one batch takes (measured in-process, through every middleware),
which must not grow with the batch's orders beyond a few per order."""

from __future__ import annotations

import os
import statistics
import threading
import time
import uuid

from tests.perf.bench import section, table
from tests.perf.pages import free_port, start_gunicorn

BATCH = 100
BATCHES = int(os.environ.get("BENCH_API_BATCHES", "40"))  # per kind
THREADS = 4


def seed(n: int):
    """``n`` placed orders of one device each (Ordered) at one partner, set-based; the
    partner's key. Returns (key, [device ids], {device id: order number})."""
    from django.db import transaction
    from django.utils import timezone

    from companies import services as company_services
    from companies.models import Company, Partner, User
    from core.tenancy import Role
    from devices.models import Device
    from orders.models import DispatchStatus, Order, OrderLine
    from partners.services import keys

    now = timezone.now()
    with transaction.atomic():
        company, _ = Company.objects.get_or_create(
            slug="api-bench", defaults={"name": "API Bench AB"}
        )
        partner, _ = Partner.objects.get_or_create(
            slug="api-bench-partner",
            defaults={"name": "API Bench Partner", "support_email": "p@api-bench.example"},
        )
        partner.companies.add(company)
        staff = User.objects.filter(email="staff@api-bench.example").first()
        if staff is None:
            staff = company_services.user_create(
                email="staff@api-bench.example",
                full_name="Bench Staff",
                role=Role.PARTNER_STAFF,
                partner=partner,
            )
        employee = User.objects.filter(email="emp@api-bench.example").first()
        if employee is None:
            employee = company_services.user_create(
                email="emp@api-bench.example", full_name="Bench Employee", company=company
            )
        Device.objects.filter(partner=partner).delete()
        Order.objects.filter(partner=partner).delete()
        orders = Order.objects.bulk_create(
            [
                Order(
                    company=company,
                    employee=employee,
                    partner=partner,
                    delivery_address="Apigatan 1",
                    dispatch_status=DispatchStatus.PLACED,
                    partner_ref=f"API-{i}",
                    placed_at=now,
                )
                for i in range(n)
            ]
        )
        lines = OrderLine.objects.bulk_create(
            [
                OrderLine(order=o, name="Laptop", category="laptop", unit_price=999, currency="EUR")
                for o in orders
            ]
        )
        devices = Device.objects.bulk_create(
            [
                Device(
                    company=company,
                    owner=employee,
                    partner=partner,
                    order=o,
                    order_line=line,
                    name="Laptop",
                    price=999,
                    currency="EUR",
                )
                for o, line in zip(orders, lines, strict=True)
            ]
        )
    _key, raw = keys.api_key_create(name="bench", actor=staff)
    numbers = {d.pk: o.number for d, o in zip(devices, orders, strict=True)}
    return raw, [d.pk for d in devices], numbers


def preparing(ids, numbers):
    return {"items": [{"item_id": pk, "status": "preparing"} for pk in ids]}


def shipped(ids, numbers):
    return {
        "items": [{"item_id": pk, "status": "shipped", "serial_number": f"SN{pk}"} for pk in ids],
        "shipments": [
            {
                "order_id": numbers[pk],
                "carrier": "PostNord",
                "tracking_number": f"PN{pk:09d}SE",
                "tracking_url": f"https://tracking.postnord.com/se/?id=PN{pk:09d}SE",
                "status_text": "In transit",
                "events": [
                    {
                        "at": "2026-11-27T14:02:11+00:00",
                        "description": "Picked up",
                        "location": "Göteborg",
                    }
                ],
            }
            for pk in ids
        ],
    }


def statements_per_batch(raw, ids, numbers) -> dict[str, int]:
    """SQL statements of one batch of each kind, in-process (Django's test client, every
    middleware), on devices of their own."""
    import json

    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from velory.celery import app

    app.conf.task_always_eager = False  # as the gunicorn below: mail goes to the queue
    client = Client()
    counts = {}
    for name, body in (
        ("preparing", preparing(ids[:BATCH], numbers)),
        ("shipped", shipped(ids[:BATCH], numbers)),
    ):
        with CaptureQueriesContext(connection) as queries:
            response = client.post(
                "/api/partner/v1/updates/",
                json.dumps(body),
                content_type="application/json",
                headers={"Authorization": f"Bearer {raw}", "Idempotency-Key": str(uuid.uuid4())},
            )
        assert response.status_code == 200, response.content[:300]
        counts[name] = len(queries)
    return counts


def run_kind(url, raw, batches, make, numbers, threads: int) -> dict:
    """Post ``batches`` (lists of device ids) from ``threads`` threads; latencies, wall."""
    import httpx

    latencies: list[float] = []
    errors: list[str] = []
    todo = list(batches)
    lock = threading.Lock()

    def worker():
        with httpx.Client(
            base_url=url,
            headers={"Authorization": f"Bearer {raw}"},
            timeout=60,
        ) as http:
            while True:
                with lock:
                    if not todo:
                        return
                    ids = todo.pop()
                started = time.perf_counter()
                response = http.post(
                    "/api/partner/v1/updates/",
                    json=make(ids, numbers),
                    headers={"Idempotency-Key": str(uuid.uuid4())},
                )
                took = time.perf_counter() - started
                with lock:
                    latencies.append(took)
                    if response.status_code != 200:
                        errors.append(f"{response.status_code} {response.text[:120]}")

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    t0 = time.perf_counter()
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    wall = time.perf_counter() - t0
    latencies.sort()
    return {
        "items/s": f"{len(batches) * BATCH / wall:.0f}",
        "batches": len(batches),
        "median ms": f"{statistics.median(latencies) * 1000:.0f}",
        "p95 ms": f"{latencies[int(len(latencies) * 0.95) - 1] * 1000:.0f}",
        "errors": errors[0] if errors else 0,
    }


@section("api")
def api_run() -> None:
    from devices.models import Device

    n = BATCH * (2 * BATCHES + 1)
    t0 = time.perf_counter()
    raw, ids, numbers = seed(n)
    print(f"seeded {n} placed orders of one device in {time.perf_counter() - t0:.1f} s")
    counted, loaded = ids[:BATCH], ids[BATCH:]
    sql = statements_per_batch(raw, counted, numbers)
    port = free_port()
    # Mail and webhooks go to the worker's queue, as in production (no worker here: the
    # figures are the API's own), not sent within the request as in the eager default.
    proc = start_gunicorn(port, PARTNER_API_RATE="1000000/m", CELERY_TASK_ALWAYS_EAGER="false")
    try:
        url = f"http://127.0.0.1:{port}"
        batches = [loaded[i : i + BATCH] for i in range(0, len(loaded), BATCH)]
        rows = []
        # One client alone (the latency of a batch), then THREADS at once (the rate).
        for threads, part in ((1, batches[:BATCHES]), (THREADS, batches[BATCHES:])):
            for name, make in (("preparing", preparing), ("shipped", shipped)):
                result = run_kind(url, raw, part, make, numbers, threads)
                rows.append(
                    {"batch of 100": name, "clients": threads, **result, "SQL per batch": sql[name]}
                )
        print(
            table(
                rows,
                [
                    "batch of 100",
                    "clients",
                    "items/s",
                    "batches",
                    "median ms",
                    "p95 ms",
                    "SQL per batch",
                    "errors",
                ],
            )
        )
        wrong = Device.objects.filter(pk__in=loaded).exclude(status="shipped").count()
        print(
            "\nover HTTP to gunicorn with one worker on one core (with 4 clients a batch "
            f"also waits for the others); items not Shipped at the end: {wrong} (must be 0)"
        )
    finally:
        proc.terminate()
        proc.wait(10)
