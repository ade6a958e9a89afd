"""A polling run: 10,000 in-flight orders across 5 partners on the fake distributor (20 ms
latency, batches of up to 100, 2% 5xx, 1% hangs, 1% malformed answers, some 429s), on
PostgreSQL, with one Celery worker of concurrency 2 on Redis. Prints the wall time, orders
per second, the Celery tasks used, the SQL statements of the run, the fake's peak requests
per second, and how many orders end in another status than the fake's (must be 0)."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.perf.bench import section, table

ROOT = Path(__file__).resolve().parents[2]
PARTNERS = 5
PER_PARTNER = 2000
FAKE_ARGS = [
    "--latency-ms", "20",
    "--error-rate", "0.02",
    "--hang-rate", "0.01",
    "--hang-seconds", "5",
    "--malformed-rate", "0.01",
    "--throttle-rate", "0.01",
    "--rate-limit", "20",
]  # fmt: skip
RATE_PER_PARTNER = 18  # ours, just under the fake's 20 a second
CALL_TIMEOUT = 0.5  # a hung call is abandoned after this and retried
STATUSES = ["received", "processing", "shipped", "delivered"]


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def post(url, payload):
    request = urllib.request.Request(
        url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


def get(url):
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


def seed(fake_url: str) -> dict[str, str]:
    """5 partners with 2,000 placed orders each (one device, Ordered), all due for a poll;
    the fake holds each order at a fixed status. Bulk inserts: this is test data, made
    fast; the run itself goes through the services."""
    from django.db import transaction
    from django.utils import timezone

    from companies import services as company_services
    from companies.models import Company, Partner, User
    from devices.models import Device
    from orders.models import DispatchStatus, Order, OrderLine
    from partners.models import Adapter, DistributorConnection

    rng = random.Random(42)
    expected: dict[str, str] = {}
    now = timezone.now()
    Order.objects.filter(partner__slug__startswith="poll-partner-").update(tracking_open=False)
    for p in range(PARTNERS):
        with transaction.atomic():
            company, _ = Company.objects.get_or_create(
                slug=f"poll-co-{p}", defaults={"name": f"Poll Company {p}"}
            )
            partner, _ = Partner.objects.get_or_create(
                slug=f"poll-partner-{p}",
                defaults={
                    "name": f"Poll Partner {p}",
                    "support_email": f"p{p}@poll.example",
                    "offers_tracking": True,
                },
            )
            partner.companies.add(company)
            conn, _ = DistributorConnection.objects.get_or_create(partner=partner)
            conn.adapter, conn.base_url = Adapter.HTTP, fake_url
            conn.rate_per_second, conn.batch_size, conn.timeout_seconds = (
                RATE_PER_PARTNER,
                100,
                CALL_TIMEOUT,
            )
            conn.backoff_until = conn.poll_claimed_until = None
            conn.consecutive_failures = 0
            conn.set_api_key(f"poll-key-{p}")
            conn.save()
            email = f"emp@poll-co-{p}.example"
            employee = User.objects.filter(email=email).first() or company_services.user_create(
                email=email, full_name=f"Poll Employee {p}", company=company
            )
            orders = Order.objects.bulk_create(
                [
                    Order(
                        company=company,
                        employee=employee,
                        partner=partner,
                        delivery_address="Pollgatan 1",
                        dispatch_status=DispatchStatus.PLACED,
                        partner_ref=f"X-{p}-{i}",
                        placed_at=now,
                        tracking_open=True,
                        next_poll_at=now,
                        poll_interval=60,
                    )
                    for i in range(PER_PARTNER)
                ]
            )
            lines = OrderLine.objects.bulk_create(
                [
                    OrderLine(
                        order=o, name="Laptop", category="laptop", unit_price=999, currency="EUR"
                    )
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
        load = []
        for order, device in zip(orders, devices, strict=True):
            status = rng.choice(STATUSES)
            expected[order.number] = status
            load.append(
                {"order_id": order.number, "items": [{"item_id": device.pk}], "status": status}
            )
        post(f"{fake_url}/_fake/load", {"key": f"poll-key-{p}", "orders": load})
    return expected


@section("polling")
def polling_run() -> None:
    from django.conf import settings
    from django.db import connection

    from devices.models import Device
    from orders.models import Order
    from partners.adapters.base import STATUS_MAP

    redis_url = os.environ.get("REDIS_URL") or settings.REDIS_URL
    if not redis_url:
        print("the polling run needs Redis (REDIS_URL) for the Celery broker; skipping")
        return
    port = free_port()
    fake_url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "velory.settings.bench"}
    fake = subprocess.Popen(
        [
            sys.executable,
            "manage.py",
            "run_fake_distributor",
            "--port",
            str(port),
            "--state-file",
            "",
            *FAKE_ARGS,
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        start_new_session=True,
    )
    worker = None
    try:
        _wait_for(f"{fake_url}/_fake/stats")
        started = time.perf_counter()
        expected = seed(fake_url)
        took = time.perf_counter() - started
        print(f"seeded {len(expected)} placed orders over {PARTNERS} partners in {took:.0f} s")
        import redis

        counter = redis.Redis.from_url(redis_url)
        counter.delete("bench:sql", "bench:tasks")
        worker_env = {
            **env,
            "CELERY_TASK_ALWAYS_EAGER": "false",
            "BENCH_COUNTER_URL": redis_url,
            "DATABASE_CONN_MAX_AGE": "600",
        }
        counter.delete("celery")  # start from an empty queue
        worker = subprocess.Popen(
            [
                sys.executable, "-m", "celery", "-A", "velory", "worker", "--concurrency", "2",
                "--pool", "prefork",
                "--loglevel", os.environ.get("BENCH_WORKER_LOGLEVEL", "WARNING"),
                "--include", "tests.perf.worker_hooks",
                "--without-gossip", "--without-mingle", "--without-heartbeat",
            ],
            cwd=ROOT, env=worker_env, start_new_session=True,
        )  # fmt: skip
        time.sleep(4)  # the worker connects and forks its processes
        from velory.celery import app

        app.conf.task_always_eager = False
        app.conf.broker_url = redis_url
        numbers = list(expected)
        pks = [int(n[3:]) for n in numbers]
        t0 = time.perf_counter()
        app.send_task("partners.tasks.poll_tracking")
        deadline = t0 + 120
        # Done when no order of the run still waits for its first answer (a cheap query,
        # asked four times a second, so the watching steals no CPU from the run).
        waiting = Order.objects.filter(
            partner__slug__startswith="poll-partner-", tracking_open=True, partner_version=0
        )
        while time.perf_counter() < deadline and waiting.exists():
            time.sleep(0.25)
        wall = time.perf_counter() - t0
        time.sleep(1)  # let the last task report its statements
        stats = get(f"{fake_url}/_fake/stats")
        statuses = dict(Device.objects.filter(order_id__in=pks).values_list("order_id", "status"))
        wrong = sum(
            1
            for n, pk in zip(numbers, pks, strict=True)
            if statuses.get(pk) != STATUS_MAP[expected[n]]
        )
        applied = Order.objects.filter(pk__in=pks, partner_version__gt=0).count()
        rows = [
            {"figure": "orders polled and applied", "value": f"{applied} of {len(pks)}"},
            {"figure": "wall time", "value": f"{wall:.2f} s"},
            {"figure": "orders per second", "value": f"{applied / wall:.0f}"},
            {"figure": "Celery tasks", "value": int(counter.get("bench:tasks") or 0)},
            {"figure": "SQL statements (worker)", "value": int(counter.get("bench:sql") or 0)},
            {"figure": "requests to the fake", "value": stats["requests"]},
            {"figure": "peak requests/s at the fake", "value": stats["peak_rps"]},
            {
                "figure": "fake answers",
                "value": ", ".join(f"{k}: {v}" for k, v in sorted(stats["responses"].items())),
            },
            {
                "figure": "misbehaviour served",
                "value": ", ".join(f"{k}: {v}" for k, v in stats["misbehaved"].items()) or "none",
            },
            {"figure": "orders in a wrong status", "value": wrong},
        ]
        print(table(rows, ["figure", "value"]))
        connection.close()
    finally:
        # The worker's main process first (a warm shutdown lets its children finish), then
        # whatever is left of either process group.
        for proc in (worker, fake):
            if proc is None:
                continue
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)


def _wait_for(url: str) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            get(url)
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up")
