"""Anna reads Velory in Swedish (the demo's choice on her profile), switches to English in
her profile menu and back: the page, its statuses and her next visit follow her choice."""

import re

import pytest
from playwright.sync_api import expect

from companies.models import User
from demo.data import seed_demo
from tests.e2e.signin import signed_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def switch_to(page, language_label: str, name: str, button: str):
    """Open the profile menu and choose ``name`` in the language list (its label and
    button in the language the page is in now)."""
    page.locator("summary").filter(has=page.locator(".avatar")).click()
    page.get_by_label(language_label).select_option(label=name)
    page.get_by_role("button", name=button).click()


def test_anna_reads_her_statuses_in_swedish_and_switches(browser, live_server, settings, axe):
    settings.DEMO_PROFILE_LANGUAGES = True
    seed_demo()
    anna = signed_in(browser, live_server, "anna@acme.example")
    expect(anna).to_have_url(re.compile("/me/$"))
    expect(anna.locator("html")).to_have_attribute("lang", "sv")
    expect(anna.get_by_role("heading", name="Mina uppgifter", exact=True)).to_be_visible()
    page_text = anna.locator("main")
    # Her statuses, as the glossary names them in Swedish.
    for status in ("Levererad", "Skickad", "Förbereds", "Ej påbörjad", "Aktiv"):
        expect(page_text.get_by_text(status, exact=True).first).to_be_visible()
    # Money in Swedish: "554,00 €" (a no-break space before the sign).
    expect(anna.get_by_test_id("budget-available").first).to_have_text(
        re.compile(r"^[\d ]+,\d\d\s€$")
    )
    axe.check(anna, "Your Details in Swedish")

    switch_to(anna, "Språk", "English", "Ändra")
    expect(anna.locator("html")).to_have_attribute("lang", "en-gb")
    expect(anna.get_by_role("status").first).to_contain_text("Velory is now in English.")
    expect(anna.get_by_role("heading", name="Your Details", exact=True)).to_be_visible()
    for status in ("Delivered", "Shipped", "Preparing", "Not started", "Active"):
        expect(page_text.get_by_text(status, exact=True).first).to_be_visible()
    expect(anna.get_by_test_id("budget-available").first).to_have_text(
        re.compile(r"^€[\d,]+\.\d\d$")
    )
    assert User.objects.get(email="anna@acme.example").language == "en-gb"  # saved on her profile

    # Her choice follows her to the device page, then back to Swedish.
    anna.get_by_role("link", name="View device").first.click()
    expect(anna.locator("html")).to_have_attribute("lang", "en-gb")
    switch_to(anna, "Language", "Svenska", "Change")
    expect(anna.locator("html")).to_have_attribute("lang", "sv")
    expect(anna.get_by_role("status").first).to_contain_text("Språket är nu Svenska.")
    expect(anna.get_by_role("link", name="Mina uppgifter").first).to_be_visible()
    axe.check(anna, "device page in Swedish")
    anna.context.close()
    axe.assert_clean()
