"""Shared fixtures: two tenants with every role, a real SMTP server, and Chromium."""

import os
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.db import connection

from core.tenancy import Role
from tests.factories import (
    PASSWORD,
    CompanyFactory,
    LeasingCompanyFactory,
    PartnerFactory,
    SuperuserFactory,
    UserFactory,
)


def pytest_collection_modifyitems(config, items):
    """PostgreSQL-only tests (real row locks, concurrent transactions) cannot mean anything
    on SQLite; CI always runs the suite on PostgreSQL, where they all run."""
    from django.conf import settings

    if settings.DATABASES["default"]["ENGINE"].endswith("postgresql"):
        return
    reason = "needs PostgreSQL (set DATABASE_URL); CI runs it there"
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="session")
def sandbox_processor():
    """The sandbox card processor over real HTTP on 127.0.0.1 (one for the run). Its
    webhooks wait in a queue: a test delivers them to Velory's endpoint when it wants."""
    from budgets.payments.processor import ProcessorConfig, SandboxProcessor
    from tests import helpers

    server = SandboxProcessor(
        ProcessorConfig(
            api_key="sk_test_velory_tests",
            webhook_secret="whsec_velory_tests",
            webhook_url=None,
        )
    )
    server.start()
    helpers.PROCESSOR["server"] = server
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def _card_processor(sandbox_processor, settings):
    """Every test's card payments go to the sandbox processor, the same API as Stripe's."""
    settings.STRIPE_API_BASE = sandbox_processor.url
    settings.STRIPE_SECRET_KEY = "sk_test_velory_tests"
    settings.STRIPE_WEBHOOK_SECRET = "whsec_velory_tests"
    sandbox_processor.down = False
    # SQLite gives the same ids again after a test's rollback (PostgreSQL's sequences do
    # not), so one test's payment keys would replay another's answers.
    sandbox_processor.ledger.forget_idempotency()
    yield sandbox_processor


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Each test starts with an empty cache, as it starts with an empty database."""
    from django.core.cache import cache

    from companies.backends import forget_cached_permissions
    from core.cache import CACHE_BREAKER
    from core.jobs import BROKER_BREAKER
    from portal.views import HARDWARE

    cache.clear()
    HARDWARE.clear()  # Your Details' sections kept in this process
    forget_cached_permissions()
    # A breaker another test tripped (a dead Redis or broker) is not this test's.
    CACHE_BREAKER.reset()
    BROKER_BREAKER.reset()
    yield


@dataclass
class Tenant:
    company: object
    partner: object
    employee: object
    colleague: object
    admin: object
    partner_staff: object
    extra: dict = field(default_factory=dict)


def make_tenant(slug: str, *, tracking: bool = True, auto_receive: bool = False, buyout=True):
    lease = LeasingCompanyFactory(name=f"{slug.title()} Lease")
    company = CompanyFactory(
        slug=slug,
        name=f"{slug.title()} Corp",
        auto_receive_on_delivery=auto_receive,
        buyout_allowed=buyout,
        leasing_company=lease,
    )
    partner = PartnerFactory(
        slug=f"{slug}-partner",
        name=f"{slug.title()} Partner",
        offers_tracking=tracking,
        companies=[company],
    )
    return Tenant(
        company=company,
        partner=partner,
        employee=UserFactory(
            email=f"emp@{slug}.example", full_name="Erin Employee", company=company
        ),
        colleague=UserFactory(
            email=f"colleague@{slug}.example", full_name="Cole League", company=company
        ),
        admin=UserFactory(
            email=f"admin@{slug}.example",
            full_name="Ada Admin",
            company=company,
            role=Role.COMPANY_ADMIN,
        ),
        partner_staff=UserFactory(
            email=f"staff@{slug}-partner.example",
            full_name="Pat Partner",
            role=Role.PARTNER_STAFF,
            company=None,
            partner=partner,
        ),
    )


@pytest.fixture
def acme(db):
    return make_tenant("acme", tracking=True, auto_receive=False, buyout=True)


@pytest.fixture
def globex(db):
    return make_tenant("globex", tracking=False, auto_receive=True, buyout=False)


@pytest.fixture
def after_commit(django_capture_on_commit_callbacks):
    """Run what services schedule after commit (mail, refunds), as a real commit would."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


@pytest.fixture
def superuser(db):
    return SuperuserFactory()


@pytest.fixture
def password():
    return PASSWORD


@pytest.fixture
def login(client):
    def _login(user):
        client.force_login(user, backend="companies.backends.EmailBackend")
        return client

    return _login


# --- Real SMTP ---------------------------------------------------------------------------------


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SMTPSink:
    """An aiosmtpd server on 127.0.0.1 that keeps what it receives (or refuses it)."""

    def __init__(self):
        from aiosmtpd.controller import Controller

        self.messages = []
        self.refuse = False
        self._lock = threading.Lock()
        sink = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                if sink.refuse:
                    return "550 Mailbox unavailable (test refusal)"
                with sink._lock:
                    sink.messages.append(envelope)
                return "250 OK"

        self.port = free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)

    def start(self):
        self.controller.start()
        return self

    def stop(self):
        self.controller.stop()

    def parsed(self):
        from email import message_from_bytes

        return [message_from_bytes(e.original_content) for e in self.messages]


@pytest.fixture
def smtp(settings):
    sink = SMTPSink().start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = sink.port
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_HOST_USER = ""
    settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_TIMEOUT = 5
    yield sink
    sink.stop()


@pytest.fixture
def is_postgres():
    return connection.vendor == "postgresql"


# --- Chromium ----------------------------------------------------------------------------------

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--disable-dev-shm-usage",
]


@pytest.fixture(scope="session")
def browser():
    # Playwright's sync API runs an event loop in this thread; Django's ORM (used by the
    # test to set data up) refuses to run beside one unless told it is safe, which it is
    # here: the loop only drives the browser.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    context.set_default_timeout(10_000)
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def sign_in(page, live_server):
    def _sign_in(email, password=PASSWORD):
        page.goto(f"{live_server.url}/accounts/login/")
        page.get_by_label("E-mail").fill(email)
        page.get_by_role("button", name="Continue").click()  # e-mail first, then password
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Sign in").click()
        return page

    return _sign_in


# --- The fake distributor ----------------------------------------------------------------------


class Clock:
    """A clock the test moves by hand (the fake distributor's progression follows it)."""

    def __init__(self):
        import time

        self.now = time.time()

    def __call__(self):
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def fake_distributor(clock):
    """The bundled fake distributor over real HTTP on 127.0.0.1 (one step every 10 s of
    the test clock)."""
    from partners.fake import FakeConfig, FakeDistributor

    fake = FakeDistributor(FakeConfig(step_seconds=10, clock=clock, seed=7)).start()
    yield fake
    fake.stop()


def connect(partner, fake, *, key="test-key", timeout=2.0, rate=50):
    """Point ``partner`` at the fake distributor's API."""
    from partners.models import Adapter, DistributorConnection

    connection, _ = DistributorConnection.objects.get_or_create(partner=partner)
    connection.adapter = Adapter.HTTP
    connection.base_url = fake.url
    connection.timeout_seconds = timeout
    connection.rate_per_second = rate
    connection.set_api_key(key)
    connection.save()
    partner.offers_tracking = True
    partner.save()
    return connection


# --- A partner that answers what a test says ------------------------------------------------


class Canned:
    """Serves ``answer`` (status, headers, body bytes) to every request."""

    def __init__(self):
        self.answer = (200, {}, b"{}")
        self.sequence = []  # answers given first, one per request, before ``answer``
        self.requests = 0
        canned = self

        class Handler(BaseHTTPRequestHandler):
            def _reply(self):
                canned.requests += 1
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                status, headers, body = canned.sequence.pop(0) if canned.sequence else canned.answer
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _reply

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def canned():
    server = Canned()
    yield server
    server.stop()
