"""In Chromium: Sam, who has no Velory password, signs in through Acme's identity
provider and out again.

The provider is the demo's own (``demo/idp``), run as its own process for this module on a
free port (``tests/idp.py``), with Velory's live server registered as its redirect URI.
Nothing is mocked: the browser follows every redirect between the two servers, so the
page's Content-Security-Policy (``form-action`` on the sign-out redirect) is tested too."""

import re

import pytest
from playwright.sync_api import expect

from companies import services as company_services
from companies.models import Company, User
from demo.data import seed_demo
from demo.idp.config import DEMO, velory_client
from tests.conftest import free_port
from tests.idp import PASSWORD, LocalIdP

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SECRET = "velory-e2e-secret"


@pytest.fixture(scope="module")
def idp(live_server, tmp_path_factory):
    conf = {
        "clients": [velory_client("velory-e2e", SECRET, sites=[live_server.url])],
        "users": DEMO["users"],
    }
    server = LocalIdP(tmp_path_factory.mktemp("idp-e2e"), free_port(), conf).start()
    yield server
    server.stop()


def acme_signs_in_at(idp) -> None:
    seed_demo()
    company_services.company_update_policy(
        company=Company.objects.get(slug="acme"),
        actor=None,
        sso_issuer=idp.issuer,
        sso_client_id="velory-e2e",
        sso_client_secret=SECRET,
    )


def test_sam_signs_in_through_the_provider_and_out_again(page, live_server, idp, axe):
    acme_signs_in_at(idp)
    sam = User.objects.get(email="sam@acme.example")
    assert not sam.has_usable_password()

    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("E-mail").fill("sam@acme.example")
    page.get_by_role("button", name="Continue").click()
    sso = page.get_by_role("link", name="Continue with single sign-on")
    expect(sso).to_be_visible()
    axe.check(page, "sign-in: single sign-on step")
    sso.click()

    # The provider's own page, the address filled in from Velory's login_hint.
    expect(page).to_have_url(re.compile(rf"^{re.escape(idp.url)}/login/"))
    expect(page.get_by_label("E-mail")).to_have_value("sam@acme.example")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()

    expect(page).to_have_url(re.compile(rf"^{re.escape(live_server.url)}/me/$"))
    expect(page.get_by_role("heading", name="Your Details")).to_be_visible()
    expect(page.locator("details.user-menu summary")).to_contain_text("Sam Sso")
    sam.refresh_from_db()
    assert sam.sso_subject

    # Signing out goes through the provider (RP-initiated logout) and back.
    page.locator("details.user-menu summary").click()
    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(re.compile(rf"^{re.escape(live_server.url)}/accounts/signed-out/$"))
    expect(page.get_by_role("heading", name="You are signed out")).to_be_visible()

    # Signed out at the provider too: signing in again asks for the password there.
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("E-mail").fill("sam@acme.example")
    page.get_by_role("button", name="Continue").click()
    page.get_by_role("link", name="Continue with single sign-on").click()
    expect(page).to_have_url(re.compile(rf"^{re.escape(idp.url)}/login/"))
    axe.assert_clean()


def test_a_refused_sign_in_says_why_on_the_sign_in_page(page, live_server, idp):
    """Ben signs in at the provider, but his Velory account has been closed: back on
    Velory's sign-in page, the refusal says so."""
    acme_signs_in_at(idp)
    User.objects.filter(email="ben@acme.example").update(is_active=False)
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("E-mail").fill("ben@acme.example")
    page.get_by_role("button", name="Continue").click()
    page.get_by_role("link", name="Continue with single sign-on").click()
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(rf"^{re.escape(live_server.url)}/accounts/login/$"))
    expect(page.get_by_role("status")).to_contain_text("is not active")
