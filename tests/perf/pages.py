"""Your Details, the device page and the order page under load: gunicorn (one worker,
persistent database connections) on 127.0.0.1, loaded by wrk from a second process,
beside a bare view behind the same middleware, in the same run.

The load generator, chosen by VELORY_BENCH_LOADGEN:

    (unset) or auto   wrk; when it is missing and the bench runs as root on a machine with
                      apt-get, the section first installs it (DEBIAN_FRONTEND=noninteractive
                      apt-get install -y wrk, with apt-get update first only if that fails);
                      when that cannot be done, the Python generator below, said so aloud
    wrk               wrk, installed as above when missing; the section fails without it
    python            tests/perf/loadgen.py (closed loop, the same connections and duration,
                      one thread per connection, in a second process) even when wrk is there

The figures name the generator that produced them: the Python one is slower than wrk, so
its rates run a little low (the bare view's most) and are not comparable with wrk runs.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from tests.perf.bench import section, table

ROOT = Path(__file__).resolve().parents[2]
SIZES = (0, 1, 5, 50, 200)
DURATION = int(os.environ.get("BENCH_SECONDS", "5"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
CONNECTIONS = 4
# gunicorn on one core, wrk on the other: the load generator never steals the server's CPU.
SERVER_CPU, CLIENT_CPU = "1", "0"

LOADGEN_ENV = "VELORY_BENCH_LOADGEN"
APT_TIMEOUT = 300  # seconds for each apt-get step

LUA = """
done = function(summary, latency, requests)
  io.write(string.format("P50=%d P95=%d\\n", latency:percentile(50), latency:percentile(95)))
end
"""


def seed() -> dict:
    """Employees with 0, 1, 5, 50 and 200 devices (one company, one partner)."""
    from django.contrib.sessions.backends.db import SessionStore
    from django.db import transaction

    from companies import services as company_services
    from companies.models import Company, Partner, User
    from core.tenancy import SYSTEM
    from devices import lifecycle
    from devices.models import Device, Source
    from orders import services as orders

    with transaction.atomic():
        company, _ = Company.objects.get_or_create(slug="bench", defaults={"name": "Bench AB"})
        partner, _ = Partner.objects.get_or_create(
            slug="bench-partner",
            defaults={
                "name": "Bench Partner",
                "support_email": "p@bench.example",
                "offers_tracking": True,
            },
        )
        partner.companies.add(company)
    users = {}
    # Each size in English, and 50 devices read in Swedish (translation must not cost them).
    for size, language in [*((size, "") for size in SIZES), (50, "sv")]:
        email = f"emp{size}{'-' + language if language else ''}@bench.example"
        user = User.objects.filter(email=email).first()
        if user is None:
            user = company_services.user_create(
                email=email, full_name=f"Employee {size}", company=company
            )
            if language:
                company_services.user_language_set(user=user, language=language)
        have = Device.objects.filter(owner=user).count()
        while have < size:
            batch = min(10, size - have)
            order = orders.order_create(
                employee_id=user.pk,
                partner_id=partner.pk,
                lines=[orders.LineSpec(f"Laptop {have}", "laptop", 1299, "EUR", quantity=batch)],
                delivery_address="Benchgatan 1",
                actor=SYSTEM,
            )
            ids = list(order.devices.values_list("pk", flat=True))
            # a realistic mix: some shipped, some delivered, the rest preparing
            lifecycle.devices_advance(
                device_ids=ids, transition="start_preparing", actor=SYSTEM, source=Source.POLL
            )
            if have % 30 < 20:
                lifecycle.devices_ship(
                    device_ids=ids[: batch // 2 + 1],
                    actor=SYSTEM,
                    source=Source.POLL,
                    carrier="PostNord",
                    tracking_number=f"PN{order.pk}",
                )
            have += batch
        session = SessionStore()
        session["_auth_user_id"] = str(user.pk)
        session["_auth_user_backend"] = "companies.backends.EmailBackend"
        session["_auth_user_hash"] = user.get_session_auth_hash()
        session.create()
        users[f"{size}-{language}" if language else size] = (user, session.session_key)
    return users


def count_queries(users) -> list[dict]:
    from django.core.cache import cache
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from devices.models import Device

    rows = []
    for size, (user, key) in users.items():
        client = Client()
        client.cookies["sessionid"] = key
        cache.clear()
        with CaptureQueriesContext(connection) as me:
            assert client.get("/me/").status_code == 200
        with CaptureQueriesContext(connection) as me_cached:
            assert client.get("/me/").status_code == 200
        device = Device.objects.filter(owner=user).first()
        device_q = ""
        if device:
            with CaptureQueriesContext(connection) as page:
                assert client.get(f"/me/devices/{device.pk}/").status_code == 200
            device_q = len(page)
        rows.append(
            {
                "devices": size,
                "/me/ queries (first view)": len(me),
                "/me/ queries (cached)": len(me_cached),
                "device page queries": device_q,
            }
        )
    return rows


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_gunicorn(port: int, **extra_env: str) -> subprocess.Popen:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "velory.settings.bench",
        "DATABASE_CONN_MAX_AGE": "600",
        **extra_env,
    }
    proc = subprocess.Popen(
        [
            *taskset(SERVER_CPU),
            sys.executable,
            "-m",
            "gunicorn",
            "velory.wsgi:application",
            "--workers",
            "1",
            "--bind",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
        start_new_session=True,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
            return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("gunicorn did not come up")


def choose_generator() -> str:
    """'wrk' or 'python', per VELORY_BENCH_LOADGEN (see the module docstring)."""
    choice = os.environ.get(LOADGEN_ENV, "").strip().lower() or "auto"
    if choice not in ("auto", "wrk", "python"):
        raise SystemExit(f"{LOADGEN_ENV}={choice!r}: choose auto, wrk or python")
    if choice == "python":
        print(f"{LOADGEN_ENV}=python: loading with the Python generator (tests/perf/loadgen.py)")
        return "python"
    if shutil.which("wrk"):
        return "wrk"
    why = install_wrk()
    if why is None:
        return "wrk"
    if choice == "wrk":
        raise SystemExit(f"{LOADGEN_ENV}=wrk but wrk is not installed and {why}")
    print(f"wrk is not installed and {why}: loading with the Python generator instead")
    return "python"


def install_wrk() -> str | None:
    """Install wrk with apt-get; None when it is there afterwards, else why not."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return "the bench is not running as root to install it (apt-get install -y wrk)"
    apt = shutil.which("apt-get")
    if apt is None:
        return "there is no apt-get to install it with"
    print("wrk is not installed: installing it (apt-get install -y wrk)", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = [apt, "install", "-y", "-q", "--no-install-recommends", "wrk"]

    def apt_get(cmd: list[str]) -> str | None:
        try:
            done = subprocess.run(
                cmd,
                env=env,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=APT_TIMEOUT,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"{' '.join(cmd[1:3])} failed: {exc}"
        if done.returncode != 0:
            tail = (done.stderr.strip() or done.stdout.strip()).splitlines()[-1:] or [""]
            return f"{' '.join(cmd[1:3])} exited {done.returncode}: {tail[0]}"
        return None

    failed = apt_get(install)
    if failed:
        # On a fresh machine the package lists are empty: refresh them once, then retry.
        failed = apt_get([apt, "update", "-q"]) or apt_get(install)
    if failed:
        return f"installing it failed ({failed})"
    if not shutil.which("wrk"):
        return "apt-get installed no wrk on the PATH"
    return None


def generator_label(generator: str) -> str:
    if generator == "python":
        return "the Python load generator (tests/perf/loadgen.py), not wrk"
    try:
        version = subprocess.run(
            ["wrk", "--version"], capture_output=True, text=True, timeout=10, check=False
        ).stdout.split()
        return f"wrk {version[1]}" if len(version) > 1 else "wrk"
    except (OSError, subprocess.TimeoutExpired):
        return "wrk"


def load(generator: str, url: str, cookie: str | None, script: str) -> dict:
    return wrk(url, cookie, script) if generator == "wrk" else python_load(url, cookie)


def python_load(url: str, cookie: str | None) -> dict:
    headers = ["-H", f"Cookie: sessionid={cookie}"] if cookie else []
    base = [sys.executable, "-m", "tests.perf.loadgen", *headers, url]
    # warm up as for wrk (one connection, one second), then measure from a second process
    subprocess.run([*base, "-c1", "-d1"], cwd=ROOT, capture_output=True, check=False)
    cmd = [*taskset(CLIENT_CPU), *base, f"-c{CONNECTIONS}", f"-d{DURATION}"]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"the Python load generator failed on {url}:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def wrk(url: str, cookie: str | None, script: str) -> dict:
    headers = ["-H", f"Cookie: sessionid={cookie}"] if cookie else []
    # warm up (templates compiled, connection open), then measure
    subprocess.run(["wrk", "-t1", "-c1", "-d1s", *headers, url], capture_output=True, check=False)
    cmd = [
        *taskset(CLIENT_CPU),
        "wrk",
        "-t1",
        f"-c{CONNECTIONS}",
        f"-d{DURATION}s",
        "-s",
        script,
        *headers,
        url,
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p50, p95 = (int(x) for x in re.search(r"P50=(\d+) P95=(\d+)", out).groups())
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "rps": rps,
        "p50_ms": p50 / 1000,
        "p95_ms": p95 / 1000,
        "errors": int(non2xx.group(1)) if non2xx else 0,
    }


@section("pages")
def pages() -> None:
    generator = choose_generator()
    users = seed()
    print(
        table(
            count_queries(users),
            [
                "devices",
                "/me/ queries (first view)",
                "/me/ queries (cached)",
                "device page queries",
            ],
        )
    )
    port, cold_port = free_port(), free_port()
    proc = start_gunicorn(port)
    cold = start_gunicorn(cold_port, VELORY_PAGE_CACHE="false")
    base, cold_base = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{cold_port}"
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(LUA)
        script = f.name
    from devices.models import Device

    targets = {"bare view": (f"{base}/bench/bare/", None)}
    for size in (5, 50, 200):
        targets[f"/me/ ({size} devices)"] = (f"{base}/me/", users[size][1])
    for size in (50, 200):
        targets[f"/me/ ({size}, cache off)"] = (f"{cold_base}/me/", users[size][1])
    targets["/me/ (50, Swedish)"] = (f"{base}/me/", users["50-sv"][1])
    targets["/me/ (50, Swedish, cache off)"] = (f"{cold_base}/me/", users["50-sv"][1])
    user, key = users[50]
    device = Device.objects.filter(owner=user).first()
    targets["device page"] = (f"{base}/me/devices/{device.pk}/", key)
    targets["order page"] = (f"{base}/me/orders/{device.order_id}/", key)
    runs = {name: [] for name in targets}
    try:
        # Rounds alternate the pages so that a noisy neighbour hits them all alike.
        for _ in range(ROUNDS):
            for name, (url, cookie) in targets.items():
                runs[name].append(load(generator, url, cookie, script))
    finally:
        for server in (proc, cold):
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(10)
        os.unlink(script)
    results = {name: median_run(r) for name, r in runs.items()}
    bare = results["bare view"]
    rows = [
        {"page": name, **fmt(r), "% of bare": "" if name == "bare view" else pct(r, bare)}
        for name, r in results.items()
    ]
    print()
    print(table(rows, ["page", "rps", "p50_ms", "p95_ms", "errors", "% of bare"]))
    me50, me200 = results["/me/ (50 devices)"], results["/me/ (200 devices)"]
    print(
        f"\nmedian of {ROUNDS} rounds of {DURATION} s, {CONNECTIONS} connections, gunicorn "
        f"1 sync worker, loaded by {generator_label(generator)}.\n/me/ with 50 devices: "
        f"{pct(me50, bare)} of the bare view's rate (target ≥ 20%), "
        f"{pct(results['/me/ (50, cache off)'], bare)} without its cache (target ≥ 8%); in "
        f"Swedish {pct(results['/me/ (50, Swedish)'], bare)} and "
        f"{pct(results['/me/ (50, Swedish, cache off)'], bare)} without its cache; "
        f"200 devices: {me200['rps'] / me50['rps']:.0%} of the rate with 50 (target ≥ 50%); "
        f"device page {pct(results['device page'], bare)}, order page "
        f"{pct(results['order page'], bare)} (targets ≥ 10%)"
    )
    if generator == "python":
        print(
            "the Python generator is slower than wrk (80-88% of wrk's rate on a trivial app, "
            "95-98% on a ~1 ms page, see tests/perf/loadgen.py): the bare view's rate reads "
            f"low and shares of it high; it used {bare['client_cpu']:.0%} of a core there"
        )


def taskset(cpu: str) -> list[str]:
    return ["taskset", "-c", cpu] if shutil.which("taskset") and (os.cpu_count() or 1) > 1 else []


def median_run(runs: list[dict]) -> dict:
    """The run with the median rate (latencies from that same run)."""
    return sorted(runs, key=lambda r: r["rps"])[len(runs) // 2]


def fmt(r: dict) -> dict:
    return {
        "rps": f"{r['rps']:.0f}",
        "p50_ms": f"{r['p50_ms']:.1f}",
        "p95_ms": f"{r['p95_ms']:.1f}",
        "errors": r["errors"],
    }


def pct(r: dict, bare: dict) -> str:
    return f"{r['rps'] / bare['rps']:.1%}"
