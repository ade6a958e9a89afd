"""Single sign-on's settings on the company's page in the admin: who may set them, what is
checked, and that the client secret is write-only."""

import pytest
from django.urls import reverse

from companies import services as company_services
from companies.models import Company
from core.crypto import decrypt

pytestmark = pytest.mark.django_db


def change_url(company):
    return reverse("admin:companies_company_change", args=[company.pk])


def posted(client, company, **changes):
    """The company's page as shown, submitted with these changes."""
    form = client.get(change_url(company)).context["adminform"].form
    data = {}
    for name in form.fields:
        value = form[name].value()
        if isinstance(value, bool):
            if value:
                data[name] = "on"
        elif value is not None:
            data[name] = value
    for name, value in changes.items():
        if value is False:
            data.pop(name, None)
        else:
            data[name] = value
    return client.post(change_url(company), data)


SSO = {
    "sso_issuer": "https://login.acme.example/tenant",
    "sso_client_id": "velory",
    "sso_client_secret": "s3cret-from-the-provider",
    "sso_domains": "acme.example",
}


def test_the_company_admin_sets_single_sign_on_and_the_secret_is_never_shown(client, login, acme):
    login(acme.admin)
    page = client.get(change_url(acme.company)).content.decode()
    assert "Single sign-on" in page
    assert "http://testserver/accounts/oidc/callback/" in page  # what to register
    assert "Not set" in page

    response = posted(client, acme.company, **SSO)
    assert response.status_code == 302, response.context["adminform"].form.errors
    acme.company.refresh_from_db()
    assert acme.company.sso_issuer == SSO["sso_issuer"]
    assert acme.company.sso_domain_list == ["acme.example"]
    assert acme.company.sso_client_secret_encrypted != SSO["sso_client_secret"]
    assert decrypt(acme.company.sso_client_secret_encrypted) == SSO["sso_client_secret"]

    page = client.get(change_url(acme.company)).content.decode()
    assert SSO["sso_client_secret"] not in page
    assert acme.company.sso_client_secret_encrypted not in page
    assert "Set on " in page

    # Saving again without typing a secret keeps it.
    assert posted(client, acme.company, sso_client_id="velory-2").status_code == 302
    acme.company.refresh_from_db()
    assert decrypt(acme.company.sso_client_secret_encrypted) == SSO["sso_client_secret"]


@pytest.mark.parametrize(
    ("issuer", "ok"),
    [
        ("https://login.example.com/v2.0", True),
        ("http://127.0.0.1:8767/o", True),
        ("http://localhost:8767/o", True),
        ("http://login.example.com/", False),
        ("ftp://login.example.com/", False),
        ("https://login.example.com/?tenant=1", False),
    ],
)
def test_the_issuer_is_an_https_url(client, login, acme, issuer, ok):
    login(acme.admin)
    response = posted(client, acme.company, **{**SSO, "sso_issuer": issuer})
    assert (response.status_code == 302) is ok
    if not ok:
        assert "sso_issuer" in response.context["adminform"].form.errors


@pytest.mark.parametrize("domains", ["not a domain", "acme", "acme.example, @@x", "-acme.example"])
def test_domains_look_like_domains(client, login, acme, domains):
    login(acme.admin)
    response = posted(client, acme.company, **{**SSO, "sso_domains": domains})
    assert response.status_code == 200
    assert "sso_domains" in response.context["adminform"].form.errors


def test_a_domain_of_another_company_cannot_be_claimed(client, login, acme, globex):
    company_services.company_update_policy(
        company=globex.company, actor=None, sso_domains="globex.example"
    )
    login(acme.admin)
    response = posted(client, acme.company, **{**SSO, "sso_domains": "globex.example"})
    errors = response.context["adminform"].form.errors["sso_domains"]
    assert "already used by another company" in errors[0]


def test_a_company_admin_adds_only_their_own_peoples_domain(client, login, acme, superuser):
    login(acme.admin)
    response = posted(client, acme.company, **{**SSO, "sso_domains": "unrelated.example"})
    errors = response.context["adminform"].form.errors["sso_domains"]
    assert "only a domain of your own company's people" in errors[0]
    login(superuser)  # a superuser may (the company's people are added afterwards)
    assert (
        posted(client, acme.company, **{**SSO, "sso_domains": "unrelated.example"}).status_code
        == 302
    )


def test_passwords_are_switched_off_only_once_the_provider_is_set_up(client, login, acme):
    login(acme.admin)
    response = posted(client, acme.company, sso_password_allowed=False)
    assert "sso_password_allowed" in response.context["adminform"].form.errors
    assert posted(client, acme.company, **SSO, sso_password_allowed=False).status_code == 302
    assert not Company.objects.get(pk=acme.company.pk).sso_password_allowed


def test_partner_staff_see_no_single_sign_on(client, login, acme):
    login(acme.partner_staff)
    response = client.get(change_url(acme.company))
    assert response.status_code in (200, 403, 404)
    assert "Single sign-on" not in response.content.decode()
    assert "sso_client_secret" not in response.content.decode()
