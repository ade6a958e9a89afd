"""In Chromium: a demo user signs in and sees the page shell."""

import re

import pytest
from playwright.sync_api import expect

from demo.data import DEMO_PASSWORD, seed_demo
from tests.e2e.signin import signed_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_anna_signs_in_and_sees_the_shell(page, live_server, sign_in):
    seed_demo()
    sign_in("anna@acme.example", DEMO_PASSWORD)
    expect(page).to_have_url(re.compile(r"/me/$"))
    expect(page.get_by_role("heading", name="Your Details")).to_be_visible()
    expect(page.get_by_test_id("tenant-name")).to_have_text("Acme AB")
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="Your Details")).to_have_attribute("aria-current", "page")
    # The user menu opens with the keyboard and holds Support and Log out.
    page.locator("details.user-menu summary").focus()
    page.keyboard.press("Enter")
    menu = page.locator("details.user-menu")
    expect(menu.get_by_role("link", name="Support")).to_be_visible()
    menu.get_by_role("link", name="Support").click()
    expect(page.get_by_role("heading", name="Support", exact=True)).to_be_visible()
    expect(page.get_by_text("orders@nordic-it.example")).to_be_visible()
    page.locator("details.user-menu summary").click()
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("heading", name="You are signed out")).to_be_visible()


def test_wrong_password_shows_an_error_and_no_admin_for_employees(page, live_server, sign_in):
    seed_demo()
    sign_in("anna@acme.example", "not-the-password")
    expect(page.get_by_role("alert")).to_contain_text("do not match an account")
    sign_in("anna@acme.example", DEMO_PASSWORD)
    page.goto(f"{live_server.url}/admin/")
    expect(
        page.get_by_role("heading", name="The admin is for company admins and partners")
    ).to_be_visible()


def test_shell_is_usable_on_a_phone(browser, live_server):
    seed_demo()
    page = signed_in(
        browser, live_server, "olli@globex.example", width=375, height=740, is_mobile=True
    )
    expect(page.get_by_role("heading", name="Your Details")).to_be_visible()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 375, f"the page scrolls sideways on a phone ({width}px)"
    page.context.close()
