"""A company at work over HTTP: 20 employees and 2 company admins clicking through the
portal and the admin at once, against gunicorn with 2 sync workers on PostgreSQL, first
with Redis up, then with Redis killed for a while in the middle.

Set-up (through the services): one company, 20 employees with a budget and a delivery
address, each with 25 devices already Delivered (5 from approved requests, so receiving
them spends budget, and an order of 20), one catalogue product, 2 company admins; a
session for each made with SessionStore. The section starts its own redis-server on a free
port (the cache and the Celery broker of the gunicorn workers; no Celery worker runs, so
mail and orders to place stay pending in their tables) and gunicorn with `--workers 2`,
persistent database connections, production settings (velory.settings.bench) and
CELERY_TASK_ALWAYS_EAGER=false, so tasks really go to that broker.

The load: one thread per person in the bench process, each with its own HTTP/1.1
connection (http.client; gunicorn's sync workers close it after each response, so it
connects again) and its own cookies, in a closed loop: a click, the response read in full,
0.2-0.5 s of thought, the next click. A POST's redirect is followed at once, as a browser
does, and counted as a request of its own. Every form is a real form POST with the CSRF
token read from the page it is on.

    employees   GET /me/ (and read from it the devices, the Mark as received and the
                Withdraw links), a device page, /catalogue/, the product page and
                POST a request for it, the Withdraw page and POST withdraw, the
                Mark as received form and POST it
    admins      the pending requests' changelist, a request's page, its Approve or
                Reject form and POST it (the redirect shows the order it made), and now
                and then an approved order's page, its Cancel order form and POST it

Two phases of BENCH_MIXED_SECONDS (default 60) each, after an unrecorded warm-up:
normal, then with the section's Redis killed (SIGKILL) in the middle for
BENCH_MIXED_OUTAGE seconds (default 30: down at 15 s, started again at 45 s). Per phase it
prints, per page: requests, errors (5xx, 4xx, a redirect to sign in, socket errors), POSTs
answered with the form again (a refusal shown to the user), p50/p95/p99 and max latency
(from the request's first byte to the response's last, the connect included) and the p95
of the time spent in a worker (gunicorn's access log, joined on an X-Bench-Id header), so
that a slow page tells apart from a wait for a free worker; then how busy the workers
were, the CPU each part used (gunicorn, this database's PostgreSQL backends, the load
generator, and everything else on the machine, such as another test run), and the
deadlocks PostgreSQL counted (pg_stat_database). For the outage, the same table for the
requests sent while Redis was down, and how many took over 1 s. Afterwards: whether every
budget's reserved, committed and spent equal its ledger, and whether what each page said
was done (a request sent, withdrawn, approved, rejected, an order cancelled, a device
received) is what the tables hold, with the mail and the orders still pending in theirs.
The last line says which targets were met: 0 errors, 0 deadlocks, p95 < 250 ms on every
page normally, no request over 1 s while Redis is down. gunicorn's log (with any
traceback) is kept in a temporary file, named at the end; BENCH_MIXED_HITS=path writes
every request (page, status, latency, time in the worker, when sent) there as JSON lines.
"""

from __future__ import annotations

import http.client
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from http.cookies import CookieError, SimpleCookie
from pathlib import Path
from urllib.parse import urlencode, urlsplit

from tests.perf.bench import section, table
from tests.perf.loadgen import percentile

ROOT = Path(__file__).resolve().parents[2]
SECONDS = float(os.environ.get("BENCH_MIXED_SECONDS", "60"))
OUTAGE = float(os.environ.get("BENCH_MIXED_OUTAGE", "30"))
HITS_FILE = os.environ.get("BENCH_MIXED_HITS", "")  # every request as a JSON line, if set
EMPLOYEES, ADMINS, WORKERS = 20, 2, 2
REQUESTED_DEVICES, ORDERED_DEVICES = 5, 20  # Delivered per employee at the start
ALLOWANCE, PRICE = Decimal("1000000.00"), Decimal("150.00")
THINK = (0.2, 0.5)  # seconds between one response and the next click
TIMEOUT = 30.0  # seconds a request may take before it counts as a socket error
P95_TARGET_MS, OUTAGE_LIMIT_S = 250.0, 1.0
WARM_UP_ROUNDS = 6
# gunicorn's access log: each request's X-Bench-Id and its time in the worker (µs), from
# the request read to the response written; the rest of a latency is the wait for a free
# worker (in the listen queue), the connect, and the client.
ACCESS_FORMAT = "%({x-bench-id}i)s %(D)s"

# What an employee does next, by weight (an action with nothing to act on is a /me/ view).
EMPLOYEE_ACTIONS = {
    "me": 30,
    "device": 20,
    "catalogue": 10,
    "request": 10,
    "withdraw": 8,
    "receive": 6,
}
APPROVE_SHARE, CANCEL_SHARE, CANCEL_TURN = 0.75, 0.35, 0.3

PAGES = [  # (method, path pattern, label), first match wins
    ("GET", r"/me/", "GET /me/"),
    ("GET", r"/me/devices/\d+/", "GET device page"),
    ("GET", r"/me/devices/\d+/receive/", "GET receive form"),
    ("POST", r"/me/devices/\d+/receive/", "POST mark received"),
    ("GET", r"/catalogue/", "GET /catalogue/"),
    ("GET", r"/catalogue/\d+/", "GET product page"),
    ("POST", r"/catalogue/\d+/", "POST request"),
    ("GET", r"/me/requests/\d+/withdraw/", "GET withdraw page"),
    ("POST", r"/me/requests/\d+/withdraw/", "POST withdraw"),
    ("GET", r"/admin/orders/productrequest/", "GET admin requests"),
    ("GET", r"/admin/orders/productrequest/\d+/change/", "GET admin request"),
    ("GET", r"/admin/orders/\w+/\d+/act/\w+/", "GET admin action form"),
    ("POST", r"/admin/orders/productrequest/\d+/act/approve/", "POST approve"),
    ("POST", r"/admin/orders/productrequest/\d+/act/reject/", "POST reject"),
    ("GET", r"/admin/orders/order/\d+/change/", "GET admin order"),
    ("POST", r"/admin/orders/order/\d+/act/cancel/", "POST cancel order"),
]
SIGN_IN = ("/accounts/login/", "/admin/login/")

CSRF_RE = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
DEVICE_RE = re.compile(r'href="/me/devices/(\d+)/"')
RECEIVE_RE = re.compile(r'href="/me/devices/(\d+)/receive/"')
WITHDRAW_RE = re.compile(r'href="/me/requests/(\d+)/withdraw/"')
ADMIN_REQUEST_RE = re.compile(r'href="/admin/orders/productrequest/(\d+)/change/')
ADMIN_ORDER_RE = re.compile(r'href="/admin/orders/order/(\d+)/change/"')
RECEIVED_ON_RE = re.compile(r'name="received_on" value="([^"]*)"')
TEXTAREA_RE = r'<textarea name="{}"[^>]*>\s*(.*?)</textarea>'


def label_for(method: str, path: str) -> str:
    path = urlsplit(path).path
    for m, pattern, label in PAGES:
        if m == method and re.fullmatch(pattern, path):
            return label
    return f"{method} {path}"


# --- Set-up ---------------------------------------------------------------------------------


@dataclass
class World:
    company: object
    product_id: int
    employees: list  # (user, session key)
    admins: list
    delivered: int
    started_at: object = None  # the first recorded request's time (aware datetime)


def seed() -> World:
    from django.contrib.sessions.backends.db import SessionStore

    from budgets.services import budget_create
    from companies import services as company_services
    from companies.models import Company, Partner
    from core.tenancy import SYSTEM, Role
    from devices import lifecycle
    from devices.models import Device, Source
    from orders import services as orders
    from orders.models import Product

    tag = f"{int(time.time())}{random.randrange(1000):03d}"
    company = Company.objects.create(slug=f"mixed-{tag}", name=f"Mixed {tag} AB")
    partner = Partner.objects.create(
        slug=f"mixed-p-{tag}", name=f"Mixed Partner {tag}", support_email="p@mixed.example"
    )
    partner.companies.add(company)
    admins = [
        company_services.user_create(
            email=f"admin{i}-{tag}@mixed.example",
            full_name=f"Mixed Admin {i}",
            role=Role.COMPANY_ADMIN,
            company=company,
        )
        for i in range(ADMINS)
    ]
    people = [
        company_services.user_create(
            email=f"e{i}-{tag}@mixed.example",
            full_name=f"Mixed Employee {i}",
            company=company,
            delivery_address=f"Mixedgatan {i + 1}\n111 22 Stockholm",
        )
        for i in range(EMPLOYEES)
    ]
    product = Product.objects.create(
        company=company,
        partner=partner,
        name="Mixed laptop",
        category="laptop",
        price=PRICE,
        currency="EUR",
    )
    order_ids = []
    for person in people:
        budget_create(employee=person, allowance=ALLOWANCE)
        for _ in range(REQUESTED_DEVICES):
            request = orders.request_submit(
                employee=person, product_id=product.pk, delivery_address=person.delivery_address
            )
            order_ids.append(
                orders.request_approve(request_id=request.pk, actor=admins[0]).order_id
            )
        order = orders.order_create(
            employee_id=person.pk,
            partner_id=partner.pk,
            lines=[
                orders.LineSpec("Mixed monitor", "monitor", Decimal("200"), "EUR", ORDERED_DEVICES)
            ],
            delivery_address=person.delivery_address,
            actor=SYSTEM,
        )
        order_ids.append(order.pk)
    for order_id in order_ids:
        ids = list(Device.objects.filter(order_id=order_id).values_list("pk", flat=True))
        lifecycle.devices_advance(
            device_ids=ids, transition="start_preparing", actor=SYSTEM, source=Source.POLL
        )
        lifecycle.devices_ship(
            device_ids=ids,
            actor=SYSTEM,
            source=Source.POLL,
            carrier="PostNord",
            tracking_number=f"PN{order_id:09d}SE",
        )
        lifecycle.devices_deliver(device_ids=ids, actor=SYSTEM, source=Source.POLL)
    delivered = Device.objects.filter(company=company, status="delivered").count()

    def signed_in(user):
        session = SessionStore()
        session["_auth_user_id"] = str(user.pk)
        session["_auth_user_backend"] = "companies.backends.EmailBackend"
        session["_auth_user_hash"] = user.get_session_auth_hash()
        session.create()
        return user, session.session_key

    return World(
        company=company,
        product_id=product.pk,
        employees=[signed_in(u) for u in people],
        admins=[signed_in(u) for u in admins],
        delivered=delivered,
    )


# --- Processes ------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_redis(port: int) -> subprocess.Popen:
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("the mixed section needs redis-server on the PATH")
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            return proc
        except OSError:
            time.sleep(0.05)
    stop(proc, signal.SIGKILL)
    raise RuntimeError("redis-server did not start")


def start_gunicorn(port: int, redis_port: int, log, access_log: str) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k not in ("CELERY_BROKER_URL", "REDIS_URL")}
    env.update(
        DJANGO_SETTINGS_MODULE="velory.settings.bench",
        DATABASE_CONN_MAX_AGE="600",
        REDIS_URL=f"redis://127.0.0.1:{redis_port}/0",  # the cache and the broker
        CELERY_TASK_ALWAYS_EAGER="false",
    )
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "velory.wsgi:application",
            "--workers",
            str(WORKERS),
            "--worker-class",
            "sync",
            "--bind",
            f"127.0.0.1:{port}",
            "--timeout",
            "60",
            "--log-level",
            "warning",
            "--access-logfile",
            access_log,
            "--access-logformat",
            ACCESS_FORMAT,
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=log,
        start_new_session=True,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
                return proc
        except OSError:
            time.sleep(0.2)
    stop(proc, signal.SIGKILL)
    raise RuntimeError("gunicorn did not come up")


def time_in_worker(access_log: str, hits: list[Hit]) -> None:
    """Give each hit the time gunicorn's worker spent on it."""
    spent = {}
    for line in Path(access_log).read_text(errors="replace").splitlines():
        request_id, _, micros = line.partition(" ")
        if micros.isdigit():
            spent[request_id] = int(micros) / 1e6
    for hit in hits:
        hit.in_worker = spent.get(hit.request_id)


TICK = os.sysconf("SC_CLK_TCK")


def process_ticks(pid: int) -> tuple[int, int]:
    """(process group, utime + stime) of a process, or (0, 0) once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0, 0
    return int(fields[2]), int(fields[11]) + int(fields[12])


def cpu_snapshot(gunicorn_pid: int) -> dict:
    """CPU ticks so far: gunicorn's process group, the PostgreSQL backends of this
    database, this process (the load generator), and the whole machine busy."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid()"
        )
        backends = {pid for (pid,) in cursor.fetchall()}
    gunicorn = 0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            group, ticks = process_ticks(int(entry.name))
            gunicorn += ticks if group == gunicorn_pid else 0
    times = os.times()
    with open("/proc/stat") as f:
        jiffies = [int(x) for x in f.readline().split()[1:9]]
    idle, iowait = jiffies[3], jiffies[4]  # user nice system idle iowait irq softirq steal
    return {
        "gunicorn": gunicorn,
        "backends": {pid: process_ticks(pid)[1] for pid in backends},
        "bench": (times.user + times.system) * TICK,
        "busy": sum(jiffies) - idle - iowait,
    }


# Above this share of a core, other processes (a test run, say) competed for the CPU.
BUSY_NEIGHBOUR = 0.2


@dataclass
class Cpu:
    line: str
    others: float  # what everything else used, as a share of one core


def cpu_use(before: dict, after: dict, seconds: float) -> Cpu:
    """Each part's share of one core over the phase, and what everything else used."""
    postgres = sum(
        ticks - before["backends"].get(pid, 0) for pid, ticks in after["backends"].items()
    )
    parts = {
        "gunicorn": after["gunicorn"] - before["gunicorn"],
        "PostgreSQL (this database)": postgres,
        "the load generator": after["bench"] - before["bench"],
    }
    parts["everything else"] = after["busy"] - before["busy"] - sum(parts.values())
    cores = os.cpu_count() or 1
    shares = ", ".join(f"{name} {ticks / TICK / seconds:.0%}" for name, ticks in parts.items())
    return Cpu(
        f"CPU (share of one core; the machine has {cores}): {shares}",
        parts["everything else"] / TICK / seconds,
    )


def stop(proc: subprocess.Popen | None, sig=signal.SIGTERM) -> None:
    """End a process started here, with its process group."""
    if proc is None or proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, sig)
        proc.wait(10)
    except ProcessLookupError:
        pass
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


# --- The people -----------------------------------------------------------------------------


@dataclass
class Hit:
    label: str
    status: int  # 0: the connection failed
    seconds: float
    sent_at: float  # wall clock (time.time())
    error: bool
    form_again: bool  # a POST answered with its form (a refusal), not a redirect
    request_id: str  # sent as X-Bench-Id, logged by gunicorn with the time in the worker
    in_worker: float | None = None  # seconds, from gunicorn's access log


class Browser:
    """One person's browser: a connection, cookies, and the log of what it sent."""

    def __init__(self, port: int, session_key: str, rng: random.Random, name: str):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
        self.cookies = {"sessionid": session_key}
        self.rng, self.name, self.sent = rng, name, 0
        self.hits: list[Hit] = []
        self.recording = True
        self.stop_at = 0.0

    def fetch(self, method: str, path: str, form: dict | None = None) -> tuple[int, str, str]:
        """One request; its status, body and Location. Logged."""
        self.sent += 1
        request_id = f"{self.name}.{self.sent}"
        headers = {
            "Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items()),
            "X-Bench-Id": request_id,
        }
        body = None
        if form is not None:
            body = urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        sent_at, began = time.time(), time.perf_counter()
        try:
            self.conn.request(method, path, body, headers)
            response = self.conn.getresponse()
            text = response.read().decode("utf-8", "replace")
        except (OSError, http.client.HTTPException):
            self.conn.close()  # the next request connects again
            self._log(method, path, 0, began, sent_at, "", request_id)
            return 0, "", ""
        location = response.getheader("Location", "")
        self._log(method, path, response.status, began, sent_at, location, request_id)
        for raw in response.headers.get_all("Set-Cookie") or []:
            self._keep_cookie(raw)
        return response.status, text, location

    def _log(self, method, path, status, began, sent_at, location, request_id) -> None:
        if not self.recording:
            return
        seconds = time.perf_counter() - began
        signed_out = status == 302 and location.startswith(SIGN_IN)
        self.hits.append(
            Hit(
                label=label_for(method, path),
                status=status,
                seconds=seconds,
                sent_at=sent_at,
                error=status == 0 or status >= 400 or signed_out,
                form_again=method == "POST" and status == 200,
                request_id=request_id,
            )
        )

    def _keep_cookie(self, raw: str) -> None:
        jar = SimpleCookie()
        try:
            jar.load(raw)
        except CookieError:
            return
        for name, morsel in jar.items():
            gone = morsel["max-age"] == "0" or "1970" in morsel["expires"]
            if gone:
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = morsel.value

    def click(self, method: str, path: str, form: dict | None = None) -> tuple[int, str]:
        """What a person's click does: the request, its redirect followed, then a pause to
        read. Returns the final status and page."""
        status, text, location = self.fetch(method, path, form)
        if status in (301, 302, 303) and location.startswith("/"):
            status, text, _ = self.fetch("GET", location)
        self.think()
        return status, text

    def submit(self, path: str, form: dict) -> tuple[int, str, str]:
        """Post a form and follow its redirect, then pause: the POST's status, and the
        status and text of the page shown after it (with the message saying what was
        done), or the form again."""
        posted, text, location = self.fetch("POST", path, form)
        status = posted
        if posted == 302 and location.startswith("/"):
            status, text, _ = self.fetch("GET", location)
        self.think()
        return posted, status, text

    def think(self) -> None:
        pause = self.rng.uniform(*THINK)
        time.sleep(max(0.0, min(pause, self.stop_at - time.monotonic())))

    def more(self) -> bool:
        return time.monotonic() < self.stop_at


def csrf(text: str) -> str | None:
    found = CSRF_RE.search(text)
    return found.group(1) if found else None


class Employee:
    def __init__(self, browser: Browser, product_id: int):
        self.b, self.product_id = browser, product_id
        self.devices: list[int] = []
        self.receivable: list[int] = []
        self.pending: list[int] = []
        self.counts = defaultdict(int)  # what the portal said was done

    def read_me(self, text: str) -> None:
        self.devices = sorted({int(x) for x in DEVICE_RE.findall(text)})
        self.receivable = sorted({int(x) for x in RECEIVE_RE.findall(text)})
        self.pending = sorted({int(x) for x in WITHDRAW_RE.findall(text)})

    def me(self) -> None:
        status, text = self.b.click("GET", "/me/")
        if status == 200:
            self.read_me(text)

    def run(self) -> None:
        rng = self.b.rng
        names, weights = zip(*EMPLOYEE_ACTIONS.items(), strict=True)
        if not self.devices:
            self.me()
        while self.b.more():
            getattr(self, rng.choices(names, weights)[0])()

    def device(self) -> None:
        if not self.devices:
            return self.me()
        self.b.click("GET", f"/me/devices/{self.b.rng.choice(self.devices)}/")

    def catalogue(self) -> None:
        self.b.click("GET", "/catalogue/")

    def request(self) -> None:
        path = f"/catalogue/{self.product_id}/"
        status, text = self.b.click("GET", path)
        token = csrf(text) if status == 200 else None
        if token is None or not self.b.more():
            return
        address = re.search(TEXTAREA_RE.format("delivery_address"), text, re.S)
        form = {
            "csrfmiddlewaretoken": token,
            "delivery_address": address.group(1).strip() if address else "Mixedgatan 1",
            "note": "",
        }
        posted, status, text = self.b.submit(path, form)
        self.counts["requested"] += posted == 302 and "is sent to your company admin" in text
        if status == 200 and posted == 302:
            self.read_me(text)

    def withdraw(self) -> None:
        if not self.pending:
            return self.me()
        request_id = self.b.rng.choice(self.pending)
        path = f"/me/requests/{request_id}/withdraw/"
        status, text = self.b.click("GET", path)
        token = csrf(text) if status == 200 else None
        if token is None or not self.b.more():
            return
        posted, status, text = self.b.submit(path, {"csrfmiddlewaretoken": token})
        self.counts["withdrawn"] += "is withdrawn; its budget is available again" in text
        if status == 200 and posted == 302:
            self.read_me(text)

    def receive(self) -> None:
        if not self.receivable:
            return self.me()
        device_id = self.receivable.pop(self.b.rng.randrange(len(self.receivable)))
        path = f"/me/devices/{device_id}/receive/"
        status, text = self.b.click("GET", path)
        token = csrf(text) if status == 200 else None
        if token is None or not self.b.more():
            return
        received_on = RECEIVED_ON_RE.search(text)
        form = {
            "csrfmiddlewaretoken": token,
            "serial_number": f"SN-MIXED-{device_id}",
            "received_on": received_on.group(1) if received_on else time.strftime("%Y-%m-%d"),
        }
        _posted, _status, text = self.b.submit(path, form)
        self.counts["received"] += "is marked as received" in text


class Admin:
    def __init__(self, browser: Browser):
        self.b = browser
        self.approved_orders: list[int] = []
        self.counts = defaultdict(int)

    def run(self) -> None:
        rng = self.b.rng
        while self.b.more():
            if self.approved_orders and rng.random() < CANCEL_TURN:
                self.cancel(self.approved_orders.pop(rng.randrange(len(self.approved_orders))))
            else:
                self.decide()

    def decide(self) -> None:
        status, text = self.b.click("GET", "/admin/orders/productrequest/?status__exact=pending")
        ids = sorted({int(x) for x in ADMIN_REQUEST_RE.findall(text)}) if status == 200 else []
        if not ids or not self.b.more():
            return
        request_id = self.b.rng.choice(ids[:20])  # one near the top of the list
        base = f"/admin/orders/productrequest/{request_id}"
        status, text = self.b.click("GET", f"{base}/change/")
        approve = self.b.rng.random() < APPROVE_SHARE
        action = "approve" if approve else "reject"
        if f"/act/{action}/" not in text or not self.b.more():
            return  # decided by someone else meanwhile, or withdrawn
        status, text = self.b.click("GET", f"{base}/act/{action}/")
        token = csrf(text) if status == 200 else None
        if token is None or not self.b.more():
            return
        form = {"csrfmiddlewaretoken": token}
        form.update({"note": ""} if approve else {"reason": "Not this quarter, sorry."})
        _posted, _status, text = self.b.submit(f"{base}/act/{action}/", form)
        if approve and "Approved. Order" in text:
            self.counts["approved"] += 1
            order = ADMIN_ORDER_RE.search(text)  # the request's page links its order
            if order and self.b.rng.random() < CANCEL_SHARE:
                self.approved_orders.append(int(order.group(1)))
        self.counts["rejected"] += not approve and "Rejected; the employee" in text
        self.counts["too late"] += "not available for this object now" in text

    def cancel(self, order_id: int) -> None:
        base = f"/admin/orders/order/{order_id}"
        status, text = self.b.click("GET", f"{base}/change/")
        if "/act/cancel/" not in text or not self.b.more():
            return
        status, text = self.b.click("GET", f"{base}/act/cancel/")
        token = csrf(text) if status == 200 else None
        if token is None or not self.b.more():
            return
        form = {"csrfmiddlewaretoken": token, "reason": "Ordered by mistake."}
        _posted, _status, text = self.b.submit(f"{base}/act/cancel/", form)
        self.counts["cancelled"] += bool(re.search(r"Cancel: done for [1-9]", text))


def people(world: World, port: int) -> tuple[list[Employee], list[Admin]]:
    employees = [
        Employee(Browser(port, key, random.Random(i), f"e{i}"), world.product_id)
        for i, (_user, key) in enumerate(world.employees)
    ]
    admins = [
        Admin(Browser(port, key, random.Random(1000 + i), f"a{i}"))
        for i, (_user, key) in enumerate(world.admins)
    ]
    return employees, admins


def run_for(actors: list, seconds: float) -> list[threading.Thread]:
    """Start everyone for ``seconds`` (each after a short random delay, as people do not
    click in step); returns the threads."""
    stop_at = time.monotonic() + seconds
    threads = []
    for actor in actors:
        actor.b.stop_at = stop_at

        def work(actor=actor):
            time.sleep(actor.b.rng.uniform(0, THINK[1]))
            actor.run()

        thread = threading.Thread(target=work, daemon=True)
        thread.start()
        threads.append(thread)
    return threads


def join(threads: list[threading.Thread]) -> None:
    for thread in threads:
        thread.join(TIMEOUT * 3)


def warm_up(port: int, world: World) -> None:
    """Each worker compiles its templates and opens its database connection before the
    figures count: a few rounds of every page, unrecorded."""
    employee = Browser(port, world.employees[0][1], random.Random(-1), "warm-e")
    admin = Browser(port, world.admins[0][1], random.Random(-2), "warm-a")
    for b in (employee, admin):
        b.recording, b.stop_at = False, float("inf")
    from devices.models import Device

    device = Device.objects.filter(owner=world.employees[0][0]).values_list("pk", flat=True)[0]
    for _ in range(WARM_UP_ROUNDS * WORKERS):
        for path in (
            "/me/",
            f"/me/devices/{device}/",
            f"/me/devices/{device}/receive/",
            "/catalogue/",
            f"/catalogue/{world.product_id}/",
        ):
            employee.fetch("GET", path)
        admin.fetch("GET", "/admin/orders/productrequest/?status__exact=pending")
        _, text, _ = admin.fetch("GET", "/admin/orders/order/")
        order = ADMIN_ORDER_RE.search(text)
        if order:
            admin.fetch("GET", f"/admin/orders/order/{order.group(1)}/change/")


# --- Figures --------------------------------------------------------------------------------


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f}"


def page_rows(hits: list[Hit]) -> list[dict]:
    order = {label: i for i, (_m, _p, label) in enumerate(PAGES)}
    by_label = defaultdict(list)
    for hit in hits:
        by_label[hit.label].append(hit)
    rows = []
    groups = sorted(by_label.items(), key=lambda kv: order.get(kv[0], len(order)))
    for label, group in [*groups, ("all", hits)]:
        times = sorted(h.seconds for h in group)
        in_worker = sorted(h.in_worker for h in group if h.in_worker is not None)
        posts = label.startswith("POST") or label == "all"
        rows.append(
            {
                "page": label,
                "requests": len(group),
                "errors": sum(h.error for h in group),
                "form again": sum(h.form_again for h in group) if posts else "",
                "p50 ms": ms(percentile(times, 50)),
                "p95 ms": ms(percentile(times, 95)),
                "p99 ms": ms(percentile(times, 99)),
                "max ms": ms(times[-1]) if times else "0",
                "in worker p95": ms(percentile(in_worker, 95)),
                "_p95": percentile(times, 95),
            }
        )
    return rows


COLUMNS = [
    "page",
    "requests",
    "errors",
    "form again",
    "p50 ms",
    "p95 ms",
    "p99 ms",
    "max ms",
    "in worker p95",
]


def waiting_line(hits: list[Hit], seconds: float) -> str:
    """Where the time went: in a worker, or before (the listen queue, the connect)."""
    known = [h for h in hits if h.in_worker is not None]
    inside = sorted(h.in_worker for h in known)
    outside = sorted(h.seconds - h.in_worker for h in known)
    busy = sum(inside) / (seconds * WORKERS)
    return (
        f"the {WORKERS} workers were busy {busy:.0%} of the time; "
        f"of each latency, in a worker: p50 {ms(percentile(inside, 50))} ms, p95 "
        f"{ms(percentile(inside, 95))} ms; waiting for a free worker, the connect and the "
        f"client: p50 {ms(percentile(outside, 50))} ms, p95 {ms(percentile(outside, 95))} ms "
        f"({len(known)} of {len(hits)} requests found in the access log)"
    )


def deadlocks() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()")
        return cursor.fetchone()[0]


def settled_deadlocks(before: int) -> int:
    """Deadlocks since ``before``: read once the workers have gone idle, because a backend
    hands its counters to pg_stat_database only then (within about a second)."""
    time.sleep(2)
    return deadlocks() - before


def show_errors(hits: list[Hit]) -> None:
    failed = [h for h in hits if h.error]
    if not failed:
        return
    by_kind = defaultdict(int)
    for h in failed:
        by_kind[(h.label, h.status or "socket error")] += 1
    print(
        "errors: "
        + ", ".join(f"{n} × {label} → {status}" for (label, status), n in by_kind.items())
    )


def phase(employees, admins, *, outage: tuple[float, float] | None, redis, gunicorn, access_log):
    """Run everyone for SECONDS; with ``outage`` (start, end in seconds into the phase)
    kill the section's Redis at its start and start it again at its end (``redis.proc``
    is then the new one). Returns the phase's hits, its deadlocks and the outage's
    wall-clock window and its CPU line."""
    for actor in (*employees, *admins):
        actor.b.hits = []
    before = deadlocks()
    cpu_before = cpu_snapshot(gunicorn.pid)
    started = time.monotonic()
    threads = run_for([*employees, *admins], SECONDS)
    window = None
    if outage:
        down_at, up_at = outage
        time.sleep(max(0.0, started + down_at - time.monotonic()))
        stop(redis.proc, signal.SIGKILL)
        killed = time.time()
        print(f"  Redis killed at {time.monotonic() - started:.1f} s", flush=True)
        time.sleep(max(0.0, started + up_at - time.monotonic()))
        redis.proc = start_redis(redis.port)
        window = (killed, time.time())
        print(f"  Redis started again at {time.monotonic() - started:.1f} s", flush=True)
    join(threads)
    cpu = cpu_use(cpu_before, cpu_snapshot(gunicorn.pid), time.monotonic() - started)
    hits = [h for actor in (*employees, *admins) for h in actor.b.hits]
    time_in_worker(access_log, hits)
    return hits, settled_deadlocks(before), window, cpu


@dataclass
class OwnRedis:
    port: int
    proc: subprocess.Popen | None = field(default=None)


LOG_RECORD = re.compile(
    r"^\d{4}-\d\d-\d\d [\d:,]+ (?P<level>[A-Z]+) (?P<message>.*)"  # Django's records
    r"|^\[[^]]+\] \[\d+\] \[(?P<glevel>[A-Z]+)\] (?P<gmessage>.*)"  # gunicorn's own
)


def gunicorn_log_summary(path: str) -> int:
    """Print what the workers logged, by message, and the first traceback of an ERROR
    record (a 500); the warnings' tracebacks (a publish that failed) only counted.
    Returns the number of ERROR and CRITICAL records."""
    lines = Path(path).read_text(errors="replace").splitlines()
    records = defaultdict(int)
    first_error = None
    errors = 0
    for i, line in enumerate(lines):
        found = LOG_RECORD.match(line)
        if not found:
            continue
        level = found["level"] or found["glevel"]
        message = re.sub(r"\d+", "N", found["message"] or found["gmessage"])[:100]
        records[f"{level} {message}"] += 1
        if level in ("ERROR", "CRITICAL"):
            errors += 1
            first_error = i if first_error is None else first_error
    tracebacks = sum("Traceback (most recent call last)" in line for line in lines)
    print(
        f"\ngunicorn log ({path}): {len(lines)} lines, {sum(records.values())} records "
        f"({errors} ERROR or CRITICAL), {tracebacks} tracebacks"
    )
    for message, n in sorted(records.items(), key=lambda kv: -kv[1])[:10]:
        print(f"  {n:5d} × {message}")
    if first_error is not None:
        print("  the first ERROR record:")
        print("\n".join("    " + line for line in lines[first_error : first_error + 60]))
    return errors


def integrity(world: World, employees: list[Employee], admins: list[Admin]) -> list[str]:
    """What the tables say after the run, against what the users were told. Returns the
    problems found (printed as they are checked)."""
    from budgets.models import Budget
    from devices.models import Device
    from notifications.models import Notification
    from orders.models import Order, ProductRequest, RequestStatus

    problems = []
    budgets = list(Budget.objects.filter(company=world.company))
    wrong = []
    for b in budgets:
        ledger = b.ledger_totals()
        cached = {"reserved": b.reserved, "committed": b.committed, "spent": b.spent}
        if any(cached[k] != ledger[k] for k in cached) or b.available < 0:
            wrong.append(f"{b.employee_id}: {cached} vs ledger {ledger}")
    print(
        f"budgets: {len(budgets) - len(wrong)} of {len(budgets)} have reserved, committed and "
        "spent equal to their ledger totals (and none overspent)"
    )
    problems += [f"budget {w}" for w in wrong]

    def told(key):
        return sum(a.counts[key] for a in (*employees, *admins))

    def compare(what: str, said: int, stored: int) -> str:
        if said != stored:
            problems.append(f"{what}: {said} confirmed on screen, {stored} in the tables")
        return f"{what} {said}/{stored}"

    since = world.started_at
    requests = ProductRequest.objects.filter(company=world.company, created_at__gte=since)
    by_status = defaultdict(int)
    for status in requests.values_list("status", flat=True):
        by_status[status] += 1
    orders = Order.objects.filter(company=world.company, created_at__gte=since)
    dispatch = defaultdict(int)
    for status in orders.values_list("dispatch_status", flat=True):
        dispatch[status] += 1
    approved = by_status[RequestStatus.APPROVED]
    orphans = requests.filter(status=RequestStatus.APPROVED, order__isnull=True).count()
    if orphans or len(orders) != approved:
        problems.append(f"{approved} approved requests, {len(orders)} orders, {orphans} without")
    checks = [
        compare("requests sent", told("requested"), sum(by_status.values())),
        compare("withdrawn", told("withdrawn"), by_status[RequestStatus.WITHDRAWN]),
        compare("approved", told("approved"), approved),
        compare("rejected", told("rejected"), by_status[RequestStatus.REJECTED]),
        compare(
            "orders cancelled",
            told("cancelled"),
            Device.objects.filter(order__in=orders, status="cancelled").count(),
        ),
        compare(
            "devices received",
            told("received"),
            Device.objects.filter(
                company=world.company, status="received", status_changed_at__gte=since
            ).count(),
        ),
    ]
    print(
        "done, as the page after the POST said / as the tables say: "
        + ", ".join(checks)
        + f"; {by_status[RequestStatus.PENDING]} requests still pending; "
        f"{told('too late')} decisions came too late (the request was withdrawn meanwhile)"
    )
    print(
        f"orders: {approved} approved requests have {len(orders)} orders ({orphans} without "
        "one); dispatch (no worker places them): "
        + ", ".join(f"{n} {s}" for s, n in sorted(dispatch.items()))
    )
    mail = defaultdict(int)
    for status in Notification.objects.filter(
        recipient__company=world.company, created_at__gte=since
    ).values_list("status", flat=True):
        mail[status] += 1
    print(
        "outbox: "
        + (", ".join(f"{n} {s}" for s, n in sorted(mail.items())) or "no mail")
        + " (no worker runs: the mail waits for the sender, none is lost or failed)"
    )
    if mail.get("failed"):
        problems.append(f"{mail['failed']} mails failed")
    return problems


# --- The section ----------------------------------------------------------------------------


@section("mixed")
def mixed() -> None:
    from django.utils import timezone

    started = time.perf_counter()
    world = seed()
    print(
        f"seeded in {time.perf_counter() - started:.1f} s: {EMPLOYEES} employees, {ADMINS} "
        f"company admins, {world.delivered} devices Delivered"
    )
    outage = min(OUTAGE, SECONDS)
    down_at = (SECONDS - outage) / 2
    redis = OwnRedis(free_port())
    gunicorn = None
    log = tempfile.NamedTemporaryFile(  # noqa: SIM115 (kept after the run, named at the end)
        "w", prefix="velory-mixed-gunicorn-", suffix=".log", delete=False
    )
    access_log = log.name.replace(".log", ".access.log")
    try:
        redis.proc = start_redis(redis.port)
        port = free_port()
        gunicorn = start_gunicorn(port, redis.port, log, access_log)
        warm_up(port, world)
        employees, admins = people(world, port)
        world.started_at = timezone.now()
        print(
            f"gunicorn {WORKERS} sync workers, PostgreSQL, its own Redis (cache and broker) on "
            f"port {redis.port}; {EMPLOYEES} employees and {ADMINS} admins, think time "
            f"{THINK[0]}-{THINK[1]} s\n",
            flush=True,
        )
        print(f"phase 1: {SECONDS:.0f} s, Redis up", flush=True)
        processes = {"redis": redis, "gunicorn": gunicorn, "access_log": access_log}
        normal, normal_deadlocks, _, cpu1 = phase(employees, admins, outage=None, **processes)
        rows = page_rows(normal)
        print(table(rows, COLUMNS))
        show_errors(normal)
        print(waiting_line(normal, SECONDS))
        print(cpu1.line)
        print(f"deadlocks (pg_stat_database): {normal_deadlocks}\n")

        print(
            f"phase 2: {SECONDS:.0f} s, Redis killed at {down_at:.0f} s and started again at "
            f"{down_at + outage:.0f} s",
            flush=True,
        )
        during, outage_deadlocks, window, cpu2 = phase(
            employees, admins, outage=(down_at, down_at + outage), **processes
        )
        down = [h for h in during if window[0] <= h.sent_at < window[1]]
        print("the whole phase:")
        print(table(page_rows(during), COLUMNS))
        show_errors(during)
        print(waiting_line(during, SECONDS))
        print(cpu2.line)
        print(f"\nsent while Redis was down ({window[1] - window[0]:.1f} s):")
        print(table(page_rows(down), COLUMNS))
        show_errors(down)
        print(waiting_line(down, window[1] - window[0]))
        slow = [h for h in down if h.seconds > OUTAGE_LIMIT_S]
        print(f"requests over {OUTAGE_LIMIT_S:.0f} s while Redis was down: {len(slow)}")
        print(f"deadlocks (pg_stat_database): {outage_deadlocks}\n")
    finally:
        stop(gunicorn)
        stop(redis.proc, signal.SIGKILL)
        log.close()
    problems = integrity(world, employees, admins)
    logged = gunicorn_log_summary(log.name)
    if HITS_FILE:
        with open(HITS_FILE, "w") as out:
            for name, hits in (("normal", normal), ("outage", during)):
                for hit in hits:
                    out.write(json.dumps({"phase": name, **asdict(hit)}) + "\n")
        print(f"every request: {HITS_FILE}")

    errors = sum(h.error for h in (*normal, *during))
    slow_pages = [
        f"{r['page']} {r['p95 ms']} ms over {r['requests']} requests, {r['in worker p95']} ms "
        "of it in the worker"
        + (" (so few that the p95 is the slowest)" if r["requests"] < 20 else "")
        for r in rows[:-1]  # the pages; the last row is all of them together
        if r["_p95"] * 1000 >= P95_TARGET_MS
    ]
    verdicts = [
        ("0 errors", errors == 0, f"{errors}; {logged} ERROR records in gunicorn's log"),
        (
            "0 deadlocks",
            normal_deadlocks + outage_deadlocks == 0,
            f"{normal_deadlocks + outage_deadlocks}",
        ),
        (
            f"p95 < {P95_TARGET_MS:.0f} ms per page normally",
            not slow_pages,
            "; ".join([*slow_pages, f"all pages together {rows[-1]['p95 ms']} ms"]),
        ),
        (
            f"no request over {OUTAGE_LIMIT_S:.0f} s while Redis is down",
            not slow,
            f"{len(slow)}, max {max((h.seconds for h in down), default=0) * 1000:.0f} ms",
        ),
        ("nothing lost, ledgers exact", not problems, "; ".join(problems) or "checked"),
    ]
    neighbours = max(cpu1.others, cpu2.others)
    print(
        "\ntargets: "
        + "; ".join(f"{name}: {'met' if ok else 'MISSED'} ({why})" for name, ok, why in verdicts)
        + (
            f"; NOTE other processes used up to {neighbours:.0%} of a core during the phases: "
            "these are not a quiet machine's figures"
            if neighbours > BUSY_NEIGHBOUR
            else ""
        )
    )
