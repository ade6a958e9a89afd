"""Single sign-on with OpenID Connect, against a real provider over HTTP.

The provider is the demo's (``demo/idp``: django-oauth-toolkit with OpenID Connect),
started once for this module as its own process on a free port (``tests/idp.py``), with
the people and applications below. Velory's side runs in the test client; the person's
browser at the provider is an httpx client with its own cookies. Velory fetches the
provider's discovery document and keys and exchanges the code at its token endpoint over
HTTP, as in production: nothing in the flow is mocked (the one substitution, in the
audience test, is explained there)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
import pytest
from django.contrib.auth import authenticate
from django.test import Client, RequestFactory
from django.urls import reverse
from mozilla_django_oidc.utils import generate_code_challenge

from companies import services as company_services
from companies import sso
from companies.models import User
from companies.oidc import CompanyOIDCBackend
from companies.sso_session import SESSION_KEY
from demo.idp.config import person, velory_client
from tests.conftest import free_port
from tests.factories import PASSWORD, UserFactory
from tests.idp import PASSWORD as IDP_PASSWORD
from tests.idp import Browser, LocalIdP, path_of

pytestmark = pytest.mark.django_db

LOGIN = "/accounts/login/"
SITE = "http://testserver"  # the test client's host: the redirect URIs registered for it
SECRET = "velory-test-secret"
EXPIRED_SECRET = "velory-expired-secret"
OTHER_SECRET = "other-app-secret"
OTHER_REDIRECT = "http://other.example/callback/"


def provider_config(*, mover_email="mover@acme.example") -> dict:
    return {
        "clients": [
            velory_client("velory-test", SECRET, sites=[SITE]),
            # Tokens that are expired when issued: a lifetime below zero, beyond Velory's
            # clock-skew allowance (see test_an_expired_id_token_is_refused).
            velory_client(
                "velory-expired",
                EXPIRED_SECRET,
                sites=[SITE],
                id_token_seconds=-(sso.CLOCK_SKEW_SECONDS + 60),
            ),
            # Another application registered at the same provider (not Velory).
            {
                "client_id": "other-app",
                "client_secret": OTHER_SECRET,
                "name": "Another application",
                "redirect_uris": [OTHER_REDIRECT],
            },
        ],
        "users": [
            person("erin", "emp@acme.example", "Erin", "Employee"),
            person("cole", "colleague@acme.example", "Cole", "League"),
            person("mover", mover_email, "Mo", "Ver"),
            person("greta", "emp@globex.example", "Greta", "Globex"),
            person("stray", "stray@acme.example", "Stray", "Person"),
            person(
                "unverified", "unverified@acme.example", "Una", "Verified", email_verified=False
            ),
            person("nobody", "nobody@acme.example", "No", "Body"),
            person("sam", "sam@acme.example", "Sam", "Sso"),
        ],
    }


@pytest.fixture(scope="module")
def idp(tmp_path_factory):
    server = LocalIdP(tmp_path_factory.mktemp("idp"), free_port(), provider_config()).start()
    yield server
    server.stop()


@pytest.fixture
def person_browser():
    browser = Browser()
    yield browser
    browser.close()


@pytest.fixture
def sso_acme(acme, idp):
    """Acme's single sign-on through the provider, set up as its IT admin would."""
    company_services.company_update_policy(
        company=acme.company,
        actor=acme.admin,
        sso_issuer=idp.issuer,
        sso_client_id="velory-test",
        sso_client_secret=SECRET,
        sso_domains="acme.example",
    )
    acme.company.refresh_from_db()
    return acme


def start(client, email: str) -> str:
    """Velory's sign-in page: the address, then "Continue with single sign-on". Returns
    the provider's authorization URL Velory redirects to."""
    page = client.post(LOGIN, {"username": email})
    assert page.status_code == 200
    assert "Continue with single sign-on" in page.content.decode()
    response = client.get(page.context["sso_url"])
    assert response.status_code == 302, response.content
    return response["Location"]


def sign_in(client, browser, email: str, *, password: str = IDP_PASSWORD):
    """The whole flow; returns Velory's answer to the callback and the callback URL."""
    callback = browser.sign_in(start(client, email), email, password)
    assert callback.startswith(f"{SITE}/accounts/oidc/callback/"), callback
    return client.get(path_of(callback)), callback


def refusal(client, response) -> str:
    """The message on the sign-in page a refused callback sends the person back to."""
    assert response.status_code == 302
    assert response["Location"] == reverse("login")
    page = client.get(response["Location"])
    return " ".join(str(m) for m in page.context["messages"])


def signed_in_user(client):
    return client.session.get("_auth_user_id")


# --- Signing in and out ----------------------------------------------------------------------


def test_sign_in_through_the_provider_lands_on_your_details(client, sso_acme, idp, person_browser):
    authorize = start(client, "emp@acme.example")
    parts = urlsplit(authorize)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert authorize.startswith(f"{idp.issuer}/authorize/")
    assert query["client_id"] == "velory-test"
    assert query["redirect_uri"] == f"{SITE}/accounts/oidc/callback/"
    assert query["response_type"] == "code"
    assert set(query["scope"].split()) == {"openid", "email", "profile"}
    assert query["code_challenge_method"] == "S256" and query["code_challenge"]
    assert query["state"] and query["nonce"] and query["state"] != query["nonce"]
    assert query["login_hint"] == "emp@acme.example"

    callback = person_browser.sign_in(authorize, "emp@acme.example")
    response = client.get(path_of(callback))
    assert response.status_code == 302
    landing = client.get(response["Location"])
    assert landing["Location"] == reverse("me")
    page = client.get(reverse("me"))
    assert page.status_code == 200
    assert "Erin Employee" in page.content.decode()

    erin = sso_acme.employee
    erin.refresh_from_db()
    assert signed_in_user(client) == str(erin.pk)
    assert erin.sso_subject  # linked: the provider's subject is recorded
    assert client.session[SESSION_KEY]["company"] == sso_acme.company.pk


def test_signing_out_ends_the_session_at_the_provider_too(client, sso_acme, idp, person_browser):
    sign_in(client, person_browser, "emp@acme.example")
    page = client.get(reverse("me"))
    # The sign-out button's answer redirects to the provider: the page's CSP allows it.
    form_action = next(
        part for part in page["Content-Security-Policy"].split(";") if "form-action" in part
    )
    assert idp.url in form_action

    response = client.post(reverse("logout"))
    assert response.status_code == 302
    end_session = response["Location"]
    assert end_session.startswith(f"{idp.issuer}/logout/")
    query = {k: v[0] for k, v in parse_qs(urlsplit(end_session).query).items()}
    assert query["client_id"] == "velory-test"
    assert query["post_logout_redirect_uri"] == f"{SITE}/accounts/signed-out/"
    assert query["id_token_hint"].count(".") == 2
    assert client.get(reverse("me")).status_code == 302  # Velory's session has ended

    at_provider = person_browser.follow(end_session)
    assert at_provider.status_code == 302
    assert at_provider.headers["location"] == f"{SITE}/accounts/signed-out/"
    signed_out = client.get(path_of(at_provider.headers["location"]))
    assert "You are signed out" in signed_out.content.decode()

    # The provider's session has ended too: a new sign-in asks for the password again.
    again = person_browser.http.get(start(client, "emp@acme.example"))
    assert again.status_code == 302 and "/login/" in again.headers["location"]


def test_a_password_session_signs_out_at_velory_only(client, sso_acme):
    client.post(LOGIN, {"username": "emp@acme.example", "password": PASSWORD})
    response = client.post(reverse("logout"))
    assert response.status_code == 200
    assert "You are signed out" in response.content.decode()


# --- What the ID token must be -----------------------------------------------------------------


def test_a_token_for_another_audience_is_refused(
    client, sso_acme, idp, person_browser, monkeypatch
):
    """A real ID token the provider issued to *another* application registered with it
    ("other-app"), for this very sign-in's nonce, is refused: its audience is not Acme's
    client ID. Nothing is linked or created.

    How the token is had: the person's browser runs other-app's own authorization at the
    provider with the nonce of Velory's sign-in (it is in the authorization URL, for anyone
    who sees it), and other-app exchanges its code with its own credentials: a genuine
    token, signed by the provider, with aud = other-app. A real provider never sends that
    token to Velory's token request, so the test puts it in the one place an attacker would
    need to (the token endpoint's answer, as a compromised proxy could): Velory's real
    exchange with the provider runs, and its answer's id_token is swapped for other-app's.
    Every check after that is Velory's own, unchanged."""
    authorize = start(client, "emp@acme.example")
    nonce = parse_qs(urlsplit(authorize).query)["nonce"][0]
    callback = person_browser.sign_in(authorize, "emp@acme.example")

    verifier = "v" * 64
    other = person_browser.http.get(
        f"{idp.issuer}/authorize/",
        params={
            "client_id": "other-app",
            "response_type": "code",
            "scope": "openid email",
            "redirect_uri": OTHER_REDIRECT,
            "nonce": nonce,
            "state": "other",
            "code_challenge": sso_challenge(verifier),
            "code_challenge_method": "S256",
        },
    )
    code = parse_qs(urlsplit(other.headers["location"]).query)["code"][0]
    tokens = httpx.post(
        f"{idp.issuer}/token/",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": OTHER_REDIRECT,
            "client_id": "other-app",
            "client_secret": OTHER_SECRET,
            "code_verifier": verifier,
        },
    ).json()
    foreign = tokens["id_token"]
    assert sso_unverified_claims(foreign)["aud"] == "other-app"
    assert sso_unverified_claims(foreign)["nonce"] == nonce

    real_exchange = CompanyOIDCBackend.get_token

    def swapped(self, payload):
        answer = real_exchange(self, payload)  # Velory's real exchange with the provider
        return {**answer, "id_token": foreign}

    monkeypatch.setattr(CompanyOIDCBackend, "get_token", swapped)
    message = refusal(client, client.get(path_of(callback)))
    assert "meant for another application" in message
    assert signed_in_user(client) is None
    sso_acme.employee.refresh_from_db()
    assert sso_acme.employee.sso_subject == ""


def test_an_expired_id_token_is_refused(client, sso_acme, idp, person_browser):
    """The provider issues this application's ID tokens already expired: it was started
    with a lifetime below zero for "velory-expired", more than Velory's 60 seconds of clock
    skew (as a provider whose clock runs minutes behind would). The token is real and
    correctly signed; Velory compares its exp with its own clock and refuses it."""
    company_services.company_update_policy(
        company=sso_acme.company,
        actor=sso_acme.admin,
        sso_client_id="velory-expired",
        sso_client_secret=EXPIRED_SECRET,
    )
    response, _ = sign_in(client, person_browser, "emp@acme.example")
    assert "it had expired" in refusal(client, response)
    assert signed_in_user(client) is None
    sso_acme.employee.refresh_from_db()
    assert sso_acme.employee.sso_subject == ""


# --- Who may be matched ---------------------------------------------------------------------------


def test_an_address_of_another_companys_domain_is_refused(
    client, sso_acme, globex, idp, person_browser
):
    """Acme's provider vouches for emp@globex.example (Globex's person, a domain that is
    not Acme's): refused, and Globex's person is never linked to Acme's provider."""
    authorize = start(client, "emp@acme.example")  # the flow starts as Acme's
    callback = person_browser.sign_in(authorize, "emp@globex.example")
    message = refusal(client, client.get(path_of(callback)))
    assert "emp@globex.example is not an address of Acme Corp's single sign-on" in message
    assert signed_in_user(client) is None
    globex.employee.refresh_from_db()
    assert globex.employee.sso_subject == ""


def test_an_address_that_exists_only_in_another_company_is_refused(
    client, sso_acme, globex, idp, person_browser
):
    """stray@acme.example is at Acme's domain, but its Velory account is Globex's: never
    matched across companies."""
    stray = UserFactory(email="stray@acme.example", full_name="Stray", company=globex.company)
    response, _ = sign_in(client, person_browser, "stray@acme.example")
    message = refusal(client, response)
    assert "Acme Corp has no Velory account for stray@acme.example" in message
    assert "Ask your IT admin to add you" in message
    stray.refresh_from_db()
    assert stray.sso_subject == ""
    assert signed_in_user(client) is None


def test_sign_in_creates_no_account(client, sso_acme, idp, person_browser):
    before = User.objects.count()
    response, _ = sign_in(client, person_browser, "nobody@acme.example")
    assert "Ask your IT admin to add you" in refusal(client, response)
    assert User.objects.count() == before


def test_an_unverified_address_is_never_matched(client, sso_acme, idp, person_browser):
    unverified = UserFactory(email="unverified@acme.example", company=sso_acme.company)
    response, _ = sign_in(client, person_browser, "unverified@acme.example")
    assert "did not confirm your e-mail address" in refusal(client, response)
    unverified.refresh_from_db()
    assert unverified.sso_subject == ""


def test_an_inactive_person_is_refused(client, sso_acme, idp, person_browser):
    User.objects.filter(pk=sso_acme.employee.pk).update(is_active=False)
    response, _ = sign_in(client, person_browser, "emp@acme.example")
    assert "not active" in refusal(client, response)
    assert signed_in_user(client) is None
    sso_acme.employee.refresh_from_db()
    assert sso_acme.employee.sso_subject == ""


def test_matched_by_verified_address_first_then_by_subject_after_it_changes(
    client, sso_acme, idp, person_browser
):
    idp.reseed(provider_config())  # the provider's mover has their first address
    mover = UserFactory(email="mover@acme.example", full_name="Mo Ver", company=sso_acme.company)
    response, _ = sign_in(client, person_browser, "mover@acme.example")
    assert response.status_code == 302 and response["Location"] != reverse("login")
    mover.refresh_from_db()
    subject = mover.sso_subject
    assert subject and signed_in_user(client) == str(mover.pk)
    client.post(reverse("logout"))

    # The provider's admin changes the person's address; Velory still has the old one.
    idp.reseed(provider_config(mover_email="mo.ver@acme.example"))
    try:
        other_browser = Browser()
        response, _ = sign_in(client, other_browser, "mo.ver@acme.example")
        other_browser.close()
        assert response.status_code == 302 and response["Location"] != reverse("login")
        assert signed_in_user(client) == str(mover.pk)  # the same person, by subject
        mover.refresh_from_db()
        assert mover.sso_subject == subject and mover.email == "mover@acme.example"
    finally:
        idp.reseed(provider_config())


# --- The state ---------------------------------------------------------------------------------


def test_a_forged_state_is_refused(client, sso_acme, idp):
    start(client, "emp@acme.example")
    response = client.get(reverse("oidc_callback"), {"code": "anything", "state": "forged"})
    assert "Start again" in refusal(client, response)
    assert signed_in_user(client) is None


def test_a_replayed_callback_is_refused(client, sso_acme, idp, person_browser):
    _, callback = sign_in(client, person_browser, "emp@acme.example")
    assert signed_in_user(client) == str(sso_acme.employee.pk)
    client.post(reverse("logout"))
    replay = client.get(path_of(callback))
    assert "used already" in refusal(client, replay)
    assert signed_in_user(client) is None


def test_a_callback_from_another_browser_is_refused(client, sso_acme, idp, person_browser):
    """Someone's callback URL (code and state) opened in another browser, as a forced
    sign-in would: the state belongs to the first browser's session only."""
    authorize = start(client, "emp@acme.example")
    callback = person_browser.sign_in(authorize, "emp@acme.example")
    other = Client()
    response = other.get(path_of(callback))
    assert response.status_code == 302 and response["Location"] == reverse("login")
    assert "_auth_user_id" not in other.session
    sso_acme.employee.refresh_from_db()
    assert sso_acme.employee.sso_subject == ""


def test_an_error_from_the_provider_is_shown(client, sso_acme, idp):
    authorize = start(client, "emp@acme.example")
    state = parse_qs(urlsplit(authorize).query)["state"][0]
    response = client.get(
        reverse("oidc_callback"),
        {"error": "access_denied", "error_description": "The user cancelled", "state": state},
    )
    assert "did not sign you in (The user cancelled)" in refusal(client, response)


def test_the_callback_needs_a_sign_in_started_here(client, db):
    response = client.get(reverse("oidc_callback"))
    assert response.status_code == 302 and response["Location"] == reverse("login")


# --- Passwords beside single sign-on -------------------------------------------------------------


def test_the_sign_in_page_asks_for_the_address_first(client, sso_acme, globex):
    first = client.get(LOGIN).content.decode()
    assert 'name="username"' in first and 'name="password"' not in first
    sso_step = client.post(LOGIN, {"username": "Emp@Acme.example"}).content.decode()
    assert "Continue with single sign-on" in sso_step
    assert 'name="password"' in sso_step  # Acme still allows passwords
    password_step = client.post(LOGIN, {"username": "emp@globex.example"}).content.decode()
    assert "Continue with single sign-on" not in password_step
    assert 'name="password"' in password_step


def test_password_sign_in_is_refused_when_the_company_allows_only_sso(client, sso_acme):
    company_services.company_update_policy(
        company=sso_acme.company, actor=sso_acme.admin, sso_password_allowed=False
    )
    step = client.post(LOGIN, {"username": "emp@acme.example"}).content.decode()
    assert "Continue with single sign-on" in step and 'name="password"' not in step

    response = client.post(LOGIN, {"username": "emp@acme.example", "password": PASSWORD})
    assert response.status_code == 200
    page = response.content.decode()
    assert "signs in with single sign-on only" in page
    assert "Continue with single sign-on" in page
    assert signed_in_user(client) is None
    # In the backend too, whatever form or client sends the password.
    request = RequestFactory().post(LOGIN)
    assert authenticate(request, username="emp@acme.example", password=PASSWORD) is None


def test_password_off_needs_the_provider_set_up_first(acme):
    with pytest.raises(Exception, match="only once single sign-on is set up"):
        company_services.company_update_policy(
            company=acme.company, actor=acme.admin, sso_password_allowed=False
        )


def test_a_person_without_a_password_is_pointed_to_single_sign_on(client, sso_acme):
    company_services.user_create(
        email="sam@acme.example", full_name="Sam Sso", company=sso_acme.company
    )
    response = client.post(LOGIN, {"username": "sam@acme.example", "password": "anything-at-all"})
    page = response.content.decode()
    assert "If you have no Velory password, sign in with Acme Corp" in page
    assert "Continue with single sign-on" in page


def test_the_sso_only_person_signs_in_through_the_provider(client, sso_acme, idp, person_browser):
    sam = company_services.user_create(
        email="sam@acme.example", full_name="Sam Sso", company=sso_acme.company
    )
    assert not sam.has_usable_password()
    response, _ = sign_in(client, person_browser, "sam@acme.example")
    assert response.status_code == 302 and response["Location"] != reverse("login")
    assert signed_in_user(client) == str(sam.pk)


def sso_challenge(verifier: str) -> str:
    return generate_code_challenge(verifier, "S256")


def sso_unverified_claims(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})
