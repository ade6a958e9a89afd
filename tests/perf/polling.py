"""A polling run at scale: 100,000 in-flight orders across 20 partners (5,000 each) on the
fake distributor (20 ms latency, batches of up to 100, 2% 5xx, 1% hangs, 1% malformed
answers, 1% random 429s, 20 requests a second per key), on PostgreSQL, with two Celery
workers of concurrency 2 on Redis, started by one periodic run (``poll_tracking``). Must be
done within one 30 s beat interval. Two beats are measured: the first poll, where every
order changes (the worst case: 100,000 status changes, parcels and e-mails), and the next
beat, where all 100,000 (none was delivered at first) are due again and one in ten has
moved on.

Prints the wall time, orders per second, the floors the partners' rate limits set (orders /
(partners x requests a second x orders a request) when every partner is called at once;
a task calls one partner, so 4 processes call at most 4 partners at once), the Celery
tasks, the SQL statements of the polls (in total, per batch of 100, per changed order)
and of the mail sent meanwhile, the fake's peak requests a second and its CPU time, and
how many orders end in another status than the fake's (must be 0).

BENCH_POLL_PARTNERS and BENCH_POLL_PER_PARTNER make a smaller run (the 10,000-order run
this replaces: 5 and 2000)."""

from __future__ import annotations

import itertools
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
PARTNERS = int(os.environ.get("BENCH_POLL_PARTNERS", "20"))
PER_PARTNER = int(os.environ.get("BENCH_POLL_PER_PARTNER", "5000"))
WORKERS = 2  # worker processes (as two machines would run them), each of CONCURRENCY
CONCURRENCY = 2
BEAT_SECONDS = 30  # poll_tracking's interval (velory/celery.py): the run must fit in it
FAKE_RATE_LIMIT = 20  # requests a second per API key at the fake; over it, 429
FAKE_ARGS = [
    "--latency-ms", "20",
    "--error-rate", "0.02",
    "--hang-rate", "0.01",
    "--hang-seconds", "5",
    "--malformed-rate", "0.01",
    "--throttle-rate", "0.01",
    "--rate-limit", str(FAKE_RATE_LIMIT),
]  # fmt: skip
RATE_PER_PARTNER = 18  # ours, just under the fake's 20 a second
BATCH_SIZE = 100  # orders a status call asks about (the API's maximum)
CALL_TIMEOUT = 0.5  # a hung call is abandoned after this and retried
STATUSES = ["received", "processing", "shipped", "delivered"]
# The first answers hold no delivered order, so all of them are still in flight at the next
# beat: the steady state the target is about (100,000 in flight, a tenth moving per beat).
FIRST_STATUSES = STATUSES[:3]


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def post(url, payload):
    request = urllib.request.Request(
        url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=120) as response:
        return json.loads(response.read())


def get(url):
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


def _partners(fake_url: str) -> list[tuple[int, int, int, int]]:
    """The run's partners, their companies, connections and employees (20 of each, through
    the ORM and the services): (n, partner id, company id, employee id)."""
    from django.db import transaction

    from companies import services as company_services
    from companies.models import Company, Partner, User
    from partners.models import Adapter, DistributorConnection

    out = []
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
            conn.adapter, conn.base_url, conn.enabled = Adapter.HTTP, fake_url, True
            conn.rate_per_second, conn.batch_size, conn.timeout_seconds = (
                RATE_PER_PARTNER,
                BATCH_SIZE,
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
        out.append((p, partner.pk, company.pk, employee.pk))
    return out


def _columns(instance, varying: dict[str, str]) -> tuple[list[str], list[str], list]:
    """The columns of ``instance``'s table for a set-based INSERT ... SELECT: every concrete
    field but the key takes the value a ``bulk_create`` of ``instance`` would write (one
    typed parameter), except those in ``varying``, which take the SQL expression given."""
    from django.db import connection

    names, exprs, params = [], [], []
    for field in instance._meta.concrete_fields:
        if field.primary_key:
            continue
        names.append(connection.ops.quote_name(field.column))
        if field.name in varying:
            exprs.append(varying[field.name])
            continue
        value = field.get_db_prep_save(field.pre_save(instance, add=True), connection)
        exprs.append(f"%s::{field.db_type(connection)}")
        params.append(value)
    return names, exprs, params


def seed(fake_url: str) -> dict[int, tuple[int, str]]:
    """PARTNERS partners with PER_PARTNER placed orders each (one device, Ordered), all due
    for a poll; the fake holds each order at a fixed status. The orders, their lines and
    devices are one set-based INSERT (test data, made fast: the same rows a bulk_create
    writes); the run itself goes through the services. Returns order id → (partner n,
    the status the fake reports)."""
    from django.db import connection, transaction
    from django.utils import timezone

    from devices.models import Device
    from orders.models import DispatchStatus, Order, OrderLine, order_number

    now = timezone.now()
    Order.objects.filter(partner__slug__startswith="poll-partner-", tracking_open=True).update(
        tracking_open=False
    )
    partners = _partners(fake_url)
    order_cols, order_exprs, order_params = _columns(
        Order(
            delivery_address="Pollgatan 1",
            dispatch_status=DispatchStatus.PLACED,
            placed_at=now,
            tracking_open=True,
            next_poll_at=now,
            poll_interval=60,
        ),
        {
            "company": "sp.company_id",
            "employee": "sp.employee_id",
            "partner": "sp.partner_id",
            "partner_ref": "'X-' || sp.n || '-' || g",
        },
    )
    line_cols, line_exprs, line_params = _columns(
        OrderLine(name="Laptop", category="laptop", unit_price=999, currency="EUR"),
        {"order": "o.id"},
    )
    device_cols, device_exprs, device_params = _columns(
        Device(name="Laptop", price=999, currency="EUR"),
        {
            "company": "o.company_id",
            "owner": "o.employee_id",
            "partner": "o.partner_id",
            "order": "o.id",
            "order_line": "l.id",
        },
    )
    values = ", ".join(["(%s, %s, %s, %s)"] * len(partners))
    sql = f"""
        WITH sp(n, partner_id, company_id, employee_id) AS (VALUES {values}),
        o AS (
            INSERT INTO {Order._meta.db_table} ({", ".join(order_cols)})
            SELECT {", ".join(order_exprs)} FROM sp CROSS JOIN generate_series(1, %s) g
            RETURNING id, company_id, employee_id, partner_id
        ),
        l AS (
            INSERT INTO {OrderLine._meta.db_table} ({", ".join(line_cols)})
            SELECT {", ".join(line_exprs)} FROM o
            RETURNING id, order_id
        )
        INSERT INTO {Device._meta.db_table} ({", ".join(device_cols)})
        SELECT {", ".join(device_exprs)} FROM l JOIN o ON o.id = l.order_id
        RETURNING id, order_id, partner_id
    """
    params = [v for row in partners for v in row]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, [*params, *order_params, PER_PARTNER, *line_params, *device_params])
        rows = sorted(cursor.fetchall())
    by_partner = {partner_id: n for n, partner_id, _, _ in partners}
    rng = random.Random(42)
    expected: dict[int, tuple[int, str]] = {}
    loads: dict[int, list] = {n: [] for n, *_ in partners}
    for device_id, order_id, partner_id in rows:
        status = rng.choice(FIRST_STATUSES)
        n = by_partner[partner_id]
        expected[order_id] = (n, status)
        loads[n].append(
            {
                "order_id": order_number(order_id),
                "items": [{"item_id": device_id}],
                "status": status,
            }
        )
    for n, load in loads.items():
        post(f"{fake_url}/_fake/load", {"key": f"poll-key-{n}", "orders": load})
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {Order._meta.db_table}")
        cursor.execute(f"ANALYZE {Device._meta.db_table}")
    return expected


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@section("polling")
def polling_run() -> None:
    from django.conf import settings
    from django.db import connection

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
    workers: list[subprocess.Popen] = []
    try:
        _wait_for(f"{fake_url}/_fake/stats")
        started = time.perf_counter()
        expected = seed(fake_url)
        took = time.perf_counter() - started
        print(f"seeded {len(expected)} placed orders over {PARTNERS} partners in {took:.0f} s")
        import redis

        counter = redis.Redis.from_url(redis_url)
        counter.delete("bench:ready", "bench:running", "celery")  # from an empty queue
        worker_env = {
            **env,
            "CELERY_TASK_ALWAYS_EAGER": "false",
            "BENCH_COUNTER_URL": redis_url,
            "DATABASE_CONN_MAX_AGE": "600",
        }
        for w in range(WORKERS):
            command = [
                sys.executable, "-m", "celery", "-A", "velory", "worker",
                "--concurrency", str(CONCURRENCY), "--pool", "prefork",
                "--hostname", f"poll{w}@%h",
                "--loglevel", os.environ.get("BENCH_WORKER_LOGLEVEL", "WARNING"),
                "--include", "tests.perf.worker_hooks",
                "--without-gossip", "--without-mingle", "--without-heartbeat",
            ]  # fmt: skip
            workers.append(
                subprocess.Popen(command, cwd=ROOT, env=worker_env, start_new_session=True)
            )
        _wait_for_workers(counter, WORKERS * CONCURRENCY)
        from velory.celery import app

        app.conf.task_always_eager = False
        app.conf.broker_url = redis_url
        first = _beat(app, counter, fake, fake_url, expected)
        moved = _move_on(fake_url, expected)
        # The first poll's mail (one e-mail per changed order) still waits in the queue, in
        # front of the next beat's polls: the outbox keeps it, the periodic job sends it; it
        # is taken off the queue here (and the tasks running end) so that the next beat
        # measures its own polls and mail.
        counter.delete("celery")
        _wait_until_idle(counter)
        later = _beat(app, counter, fake, fake_url, expected)
        print(
            table(
                _figures(first, later, moved, len(expected)),
                ["figure", "first poll: every order changes", "next beat: 10% change"],
            )
        )
        connection.close()
    finally:
        # The workers' main processes first (a warm shutdown lets their children finish),
        # then whatever is left of any process group.
        for proc in [*workers, fake]:
            proc.send_signal(signal.SIGTERM)
        for proc in [*workers, fake]:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)


def _run_orders(expected):
    """The run's orders (made by one INSERT: a range of ids holds them all)."""
    from orders.models import Order

    pks = sorted(expected)
    return Order.objects.filter(pk__gte=pks[0], pk__lte=pks[-1])


def _move_on(fake_url: str, expected: dict) -> int:
    """The next beat: every order of the run still in flight is due again, and the fake has
    moved one in ten of them one status on (a newer version). Returns how many moved."""
    from django.utils import timezone

    from devices.models import Device
    from orders.models import order_number

    nxt = dict(itertools.pairwise(STATUSES))
    rng = random.Random(7)
    open_ = set(_run_orders(expected).filter(tracking_open=True).values_list("pk", flat=True))
    moved = [pk for pk in sorted(open_) if expected[pk][1] in nxt and rng.random() < 0.1]
    loads: dict[int, list] = {}
    items = (
        dict(Device.objects.filter(order_id__in=moved).values_list("order_id", "pk"))
        if moved
        else {}
    )
    for pk in moved:
        n, status = expected[pk]
        expected[pk] = (n, nxt[status])
        loads.setdefault(n, []).append(
            {"order_id": order_number(pk), "items": [{"item_id": items[pk]}], "status": nxt[status]}
        )
    for n, load in loads.items():
        post(f"{fake_url}/_fake/load", {"key": f"poll-key-{n}", "orders": load})
    _run_orders(expected).filter(tracking_open=True).update(next_poll_at=timezone.now())
    return len(moved)


def _beat(app, counter, fake, fake_url: str, expected: dict) -> dict:
    """One periodic run (``poll_tracking``), until every due order of the run has been
    polled (or 180 s passed); what it took."""
    from django.db.models import Count
    from django.utils import timezone

    from devices.models import Device, DeviceEvent
    from partners.adapters.base import STATUS_MAP

    counter.delete("bench:sql", "bench:tasks", "bench:poll")
    run = _run_orders(expected)
    begun = timezone.now()
    due = run.filter(tracking_open=True).count()
    before = get(f"{fake_url}/_fake/stats")
    fake_cpu = _cpu_seconds(fake.pid)
    t0 = time.perf_counter()
    app.send_task("partners.tasks.poll_tracking")
    deadline = t0 + 180
    # Done when no due order of the run waits for its answer (a cheap query, asked twice
    # a second, so the watching steals no CPU from the run).
    waiting = run.filter(tracking_open=True).exclude(last_polled_at__gte=begun)
    marks = {}
    while time.perf_counter() < deadline:
        left = waiting.count()
        elapsed = time.perf_counter() - t0
        for share in (0.5, 0.9):
            if left <= due * (1 - share):
                marks.setdefault(share, elapsed)
        if not left:
            break
        time.sleep(0.5)
    wall = time.perf_counter() - t0
    fake_cpu = _cpu_seconds(fake.pid) - fake_cpu
    time.sleep(1)  # let the last task report its statements
    stats = get(f"{fake_url}/_fake/stats")
    statuses = dict(
        Device.objects.filter(order__in=run).values_list("order_id", "status").iterator()
    )
    wrong = sum(1 for pk, (_, status) in expected.items() if statuses.get(pk) != STATUS_MAP[status])
    # Applied twice: a device that took the same step twice (its timeline says so).
    double = (
        DeviceEvent.objects.filter(device__order__in=run)
        .values("device_id", "to_status")
        .annotate(n=Count("pk"))
        .filter(n__gt=1)
        .count()
    )
    polled = run.filter(last_polled_at__gte=begun).count()
    return {
        "due": due,
        "polled": polled,
        "wall": wall,
        "marks": marks,
        "fake_cpu": fake_cpu,
        "requests": stats["requests"] - before["requests"],
        "peak_rps": stats["peak_rps"],
        "responses": _delta(stats["responses"], before["responses"]),
        "misbehaved": _delta(stats["misbehaved"], before["misbehaved"]),
        "wrong": wrong,
        "double": double,
        "tasks": {k.decode(): int(v) for k, v in counter.hgetall("bench:tasks").items()},
        "sql": {k.decode(): int(v) for k, v in counter.hgetall("bench:sql").items()},
        "poll": {k.decode(): int(v) for k, v in counter.hgetall("bench:poll").items()},
    }


def _delta(after: dict, before: dict) -> dict:
    return {k: v - before.get(k, 0) for k, v in after.items() if v - before.get(k, 0)}


def _figures(first: dict, later: dict, moved: int, total: int) -> list[dict]:
    poll_names = ("partners.tasks.poll_tracking", "partners.tasks.poll_partner")
    processes = WORKERS * CONCURRENCY
    at_once = min(PARTNERS, processes)  # a polling task calls one partner

    def column(b: dict) -> dict:
        poll_sql = sum(b["sql"].get(name, 0) for name in poll_names)
        other_sql = sum(v for k, v in b["sql"].items() if k not in poll_names)
        batches = -(-b["poll"].get("polled", 0) // BATCH_SIZE) or 1
        changed = b["poll"].get("changed", 0)
        floor = b["due"] / (PARTNERS * RATE_PER_PARTNER * BATCH_SIZE)
        within = "yes" if b["wall"] <= BEAT_SECONDS and b["polled"] == b["due"] else "NO"
        return {
            "orders due, polled and applied": f"{b['due']}, {b['polled']}",
            "wall time": f"{b['wall']:.2f} s (within {BEAT_SECONDS} s: {within})",
            "50% / 90% applied at": " / ".join(
                f"{b['marks'].get(share, float('nan')):.1f} s" for share in (0.5, 0.9)
            ),
            "orders per second": f"{b['polled'] / b['wall']:.0f}",
            f"floor set by the rate limits: orders / ({PARTNERS} partners x "
            f"{RATE_PER_PARTNER}/s x {BATCH_SIZE} a call)": f"{floor:.2f} s",
            f"  the same with {processes} processes calling {at_once} partners at once": (
                f"{b['due'] / (at_once * RATE_PER_PARTNER * BATCH_SIZE):.2f} s"
            ),
            "Celery tasks": ", ".join(
                f"{k.rsplit('.', 1)[1]} {v}" for k, v in sorted(b["tasks"].items())
            ),
            "orders changed (tasks' reports)": changed,
            "status calls, orders failed for good": (
                f"{b['poll'].get('calls', 0)}, {b['poll'].get('failed', 0)}"
            ),
            "SQL statements (polls)": poll_sql,
            "SQL per batch of 100 / per changed order": (
                f"{poll_sql / batches:.1f} / {poll_sql / changed:.2f}" if changed else "-"
            ),
            "SQL statements (mail sent meanwhile)": other_sql,
            "requests to the fake": b["requests"],
            "peak requests/s at the fake (so far)": b["peak_rps"],
            "fake's CPU time": f"{b['fake_cpu']:.1f} s",
            "fake answers": ", ".join(f"{k}: {v}" for k, v in sorted(b["responses"].items())),
            "misbehaviour served": (
                ", ".join(f"{k}: {v}" for k, v in b["misbehaved"].items()) or "none"
            ),
            "steps applied twice (timeline)": b["double"],
            "orders in a wrong status": b["wrong"],
        }

    a, b = column(first), column(later)
    rows = [
        {
            "figure": name,
            "first poll: every order changes": a[name],
            "next beat: 10% change": b[name],
        }
        for name in a
    ]
    rows.insert(
        0,
        {
            "figure": "setting",
            "first poll: every order changes": f"{total} orders, {PARTNERS} partners, "
            f"{WORKERS} workers x concurrency {CONCURRENCY}",
            "next beat: 10% change": f"{moved} moved on at the fake",
        },
    )
    return rows


def _wait_for(url: str) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            get(url)
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up")


def _wait_for_workers(counter, processes: int) -> None:
    """Until every worker process has started (worker_hooks counts them), at most 30 s."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if int(counter.get("bench:ready") or 0) >= processes:
            return
        time.sleep(0.2)
    print(f"only {int(counter.get('bench:ready') or 0)} of {processes} worker processes came up")


def _wait_until_idle(counter) -> None:
    """Until no task runs on the workers (worker_hooks counts them), at most 60 s."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and int(counter.get("bench:running") or 0) > 0:
        time.sleep(0.2)
