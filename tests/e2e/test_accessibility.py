"""axe-core on every portal page (as the employee and signed out) at desktop and phone width,
and on the main console pages as a company admin and as partner staff, on the demo data.

Each test walks its pages in one signed-in browser context, checks each at both widths, and
fails at the end with every serious or critical violation it found (rule, impact, page,
nodes, help); minor and moderate ones are printed (``pytest -s``). See tests/e2e/axe.py."""

import re

import pytest
from django.contrib.auth.tokens import default_token_generator
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from playwright.sync_api import expect

from companies.models import User
from demo.data import seed_demo
from devices.models import Device
from orders.models import Product, ProductRequest
from tests.e2e.axe import AxeAudit
from tests.e2e.signin import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
WIDTHS = (("desktop", DESKTOP), ("phone", PHONE))


class Walk:
    """One browser context (one role), and an audit that checks each page at both widths."""

    def __init__(self, browser, live_server, role):
        self.base = live_server.url
        self.role = role
        self.context = browser.new_context(viewport=DESKTOP)
        self.context.set_default_timeout(10_000)
        self.page = self.context.new_page()
        self.audit = AxeAudit()
        self.checked = {name: 0 for name, _ in WIDTHS}

    def sign_in(self, email):
        sign_in(self.page, self.base, email)
        expect(self.page).not_to_have_url(re.compile("/accounts/login/"))

    def visit(self, name, path, *, status=200):
        response = self.page.goto(path if path.startswith("http") else self.base + path)
        assert response is not None
        assert response.status == status, f"{name}: {path} answered {response.status}"
        self.check(name)

    def check(self, name):
        """The page as it is now, at desktop and at phone width (the same document)."""
        for width, viewport in WIDTHS:
            self.page.set_viewport_size(viewport)
            self.audit.check(self.page, f"{self.role}, {width}: {name}")
            self.checked[width] += 1
        self.page.set_viewport_size(DESKTOP)

    def first_row(self, name, changelist):
        """Open the first row of a changelist (its link), after checking the list."""
        self.visit(f"{name} list", changelist)
        link = self.page.locator("#result_list tbody tr").first.locator("th a, td a").first
        href = link.get_attribute("href")
        assert href, f"{name}: the list at {changelist} has no row to open"
        self.visit(f"{name} page", href)

    def done(self):
        print(f"axe: {self.role}: pages checked per width: {self.checked}")
        self.audit.assert_clean()


@pytest.fixture
def walker(browser, live_server):
    """Makes a Walk per role; closes their contexts however the test ends."""
    walks = []

    def make(role):
        walks.append(Walk(browser, live_server, role))
        return walks[-1]

    yield make
    for walk in walks:
        walk.context.close()


def test_every_portal_page_signed_out(walker):
    seed_demo()
    walk = walker("signed out")
    page = walk.page
    walk.visit("sign-in", "/accounts/login/")
    page.get_by_label("E-mail").fill("anna@acme.example")
    page.get_by_role("button", name="Continue").click()
    walk.check("sign-in, the password or single sign-on")
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_be_visible()
    walk.check("sign-in with an error")

    walk.visit("password reset", "/accounts/password-reset/")
    page.get_by_label("E-mail").fill("anna@acme.example")
    page.get_by_role("button", name="Send the link").click()
    expect(page).to_have_url(re.compile("/accounts/password-reset/sent/$"))
    walk.check("password reset sent")

    anna = User.objects.get(email="anna@acme.example")
    uid = urlsafe_base64_encode(force_bytes(anna.pk))
    token = default_token_generator.make_token(anna)
    page.goto(f"{walk.base}/accounts/reset/{uid}/{token}/")  # redirects to set-password
    expect(page).to_have_url(re.compile("/set-password/$"))
    walk.check("choose a new password")
    walk.visit("password reset link expired", f"/accounts/reset/{uid}/not-a-token/")
    walk.visit("password reset complete", "/accounts/reset/done/")
    walk.visit("not found", "/no-such-page/", status=404)

    # Five wrong passwords for one address: the lockout page.
    for _ in range(5):
        page.goto(f"{walk.base}/accounts/login/")
        page.get_by_label("E-mail").fill("nobody@acme.example")
        page.get_by_role("button", name="Continue").click()
        page.get_by_label("Password").fill("wrong")
        page.get_by_role("button", name="Sign in").click()
    walk.check("locked out")
    walk.done()


def test_every_portal_page_as_the_employee(walker):
    seed_demo()
    anna = User.objects.get(email="anna@acme.example")
    devices = {d.name: d for d in Device.objects.filter(owner=anna)}
    laptop = devices["Lenovo ThinkPad X1 Carbon"]  # leased, its lease ending
    monitor = devices["Dell UltraSharp 27 4K"]  # delivered
    headset = devices["Jabra Evolve2 65"]  # shipped, tracked
    macbook = devices["MacBook Pro 14 M4"]  # preparing: its order is locked
    iphone = devices["iPhone 16"]  # not started: its order can change
    products = {p.name: p for p in Product.objects.filter(company=anna.company)}
    pending = ProductRequest.objects.get(employee=anna, status="pending")

    walk = walker("employee")
    walk.sign_in("anna@acme.example")
    page = walk.page
    walk.visit("Your Details", "/me/")
    walk.visit("device page (leased)", f"/me/devices/{laptop.pk}/")
    walk.visit("device page (delivered)", f"/me/devices/{monitor.pk}/")
    walk.visit("device page (shipped)", f"/me/devices/{headset.pk}/")
    walk.visit("mark as received", f"/me/devices/{monitor.pk}/receive/")
    walk.visit("order page (locked)", f"/me/orders/{macbook.order_id}/")
    walk.visit("order page (can change)", f"/me/orders/{iphone.order_id}/")
    walk.visit("order tracking", f"/me/orders/{headset.order_id}/track/")
    walk.visit("budget", "/me/budget/")
    walk.visit("catalogue", "/catalogue/")
    walk.visit("catalogue, one category", "/catalogue/?category=laptop")
    walk.visit("product page (card share)", f"/catalogue/{products['Samsung Galaxy Tab S9'].pk}/")
    walk.visit("product page (leased)", f"/catalogue/{products['Lenovo ThinkPad X1 Carbon'].pk}/")
    walk.visit("withdraw a request", f"/me/requests/{pending.pk}/withdraw/")
    walk.visit("support", "/support/")
    walk.visit("change password", "/accounts/password-change/")
    walk.visit("not found (a device that is not hers)", "/me/devices/999999/", status=404)
    walk.visit("not found (no such page)", "/no-such-page/", status=404)

    # The request flow: the form with an error, then sent.
    walk.visit("request form", f"/catalogue/{products['Apple Magic Keyboard'].pk}/")
    page.get_by_label("Delivery address").fill("")
    page.get_by_role("button", name=re.compile("request", re.I)).click()
    expect(page.locator(".errorlist, [role=alert]").first).to_be_visible()
    walk.check("request form with an error")
    page.get_by_label("Delivery address").fill("Anna Andersson\nStorgatan 1\n111 22 Stockholm")
    page.get_by_role("button", name=re.compile("request", re.I)).click()
    expect(page.get_by_role("status").first).to_contain_text("is sent to your company admin")
    walk.check("Your Details after a request")

    # The lease: its choice page, then a buyout waiting for payment.
    walk.visit("return confirmation", f"/me/devices/{laptop.pk}/lease/?choice=return")
    walk.visit("lease page (return or buy out)", f"/me/devices/{laptop.pk}/lease/")
    buy = re.compile(r"^Buy out for ")
    page.get_by_role("button", name=buy).or_(page.get_by_role("link", name=buy)).click()
    confirm = page.get_by_test_id("lease-confirm")  # a page that states what happens next
    expect(confirm.or_(page.get_by_test_id("device-status")).first).to_be_visible()
    if confirm.count():
        walk.check("buyout confirmation")
        page.get_by_role("button", name=re.compile(r"^Confirm buyout")).click()
    expect(page).to_have_url(re.compile(rf"/me/devices/{laptop.pk}/buyout/$"))
    expect(page.get_by_test_id("device-status")).to_have_text("Pending employee buyout")
    walk.check("buyout page (pay to complete)")
    walk.done()


def work_queues(walk):
    """The work queue pages the orders app lists for this user (by device, by order, ...)."""
    walk.page.goto(f"{walk.base}/admin/orders/")
    hrefs = walk.page.locator("#content-main a").evaluate_all("links => links.map(a => a.pathname)")
    return sorted({h for h in hrefs if re.fullmatch(r"/admin/orders/workqueue\w*/", h)})


def test_main_console_pages_as_company_admin(walker):
    seed_demo()
    acme = User.objects.get(email="anna@acme.example").company
    walk = walker("company admin")
    walk.sign_in("admin@acme.example")
    page = walk.page
    expect(page).to_have_url(re.compile("/admin/$"))
    walk.check("dashboard")
    walk.first_row("device", "/admin/devices/device/")
    walk.visit("register hardware", "/admin/devices/device/register/")
    walk.first_row("order", "/admin/orders/order/")
    iphone = Device.objects.get(name="iPhone 16")  # not started: it can be cancelled
    walk.visit("order page (not started)", f"/admin/orders/order/{iphone.order_id}/change/")
    page.get_by_test_id("action-cancel").click()
    expect(page.get_by_label("Reason")).to_be_visible()
    walk.check("cancel order form")
    walk.visit("request list (waiting)", "/admin/orders/productrequest/")
    pending = ProductRequest.objects.filter(employee__company=acme, status="pending").first()
    walk.visit("request page (waiting)", f"/admin/orders/productrequest/{pending.pk}/change/")
    page.get_by_test_id("action-reject").click()
    page.get_by_role("button", name="Reject").click()  # no reason given
    expect(page.locator(".errorlist")).to_be_visible()
    walk.check("reject form with an error")
    walk.visit("approve form", f"/admin/orders/productrequest/{pending.pk}/act/approve/")
    page.goto(f"{walk.base}/admin/orders/productrequest/")
    page.locator("#action-toggle").check()
    page.get_by_label("Action:").select_option("reject_selected")
    page.get_by_role("button", name="Go").click()
    expect(page.get_by_label("Reason")).to_be_visible()
    walk.check("bulk reject form")
    walk.first_row("request (all)", "/admin/orders/productrequest/?status__exact=approved")
    for queue in work_queues(walk):
        walk.visit(f"work queue {queue}", queue)
    walk.first_row("lease", "/admin/leasing/lease/")
    walk.visit("leases ending per month", "/admin/leasing/lease/forecast/")
    walk.first_row("budget (with its ledger)", "/admin/budgets/budget/")
    walk.first_row("user", "/admin/companies/user/")
    walk.visit("company (policy)", f"/admin/companies/company/{acme.pk}/change/")
    walk.visit("search, a person", "/admin/search/?q=anna")
    walk.visit("search, an order", "/admin/search/?q=VO-000001")
    walk.visit("search, nothing found", "/admin/search/?q=zzzz-nothing")
    walk.done()


def test_main_console_pages_as_partner_staff(walker):
    seed_demo()
    walk = walker("partner staff")
    walk.sign_in("staff@nordic-it.example")
    page = walk.page
    expect(page).to_have_url(re.compile("/admin/$"))
    walk.check("dashboard")
    queues = work_queues(walk)
    assert queues, "the partner's sidebar has no work queue"
    for queue in queues:
        walk.visit(f"work queue {queue}", queue)
    walk.first_row("device", "/admin/devices/device/")
    walk.first_row("order", "/admin/orders/order/")
    walk.first_row("lease", "/admin/leasing/lease/")
    macbook = Device.objects.get(name="MacBook Pro 14 M4")
    walk.visit("device page (preparing)", f"/admin/devices/device/{macbook.pk}/change/")
    page.get_by_test_id("action-ship").click()
    expect(page.get_by_label("Tracking number")).to_be_visible()
    walk.check("ship form")
    walk.visit("search, a serial number", f"/admin/search/?q={macbook.serial_number or 'C02'}")
    walk.visit("search, an order", "/admin/search/?q=VO-000004")
    walk.done()
