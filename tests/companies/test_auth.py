"""Sign-in, lockout, password reset, and who may use which part of the site."""

import pytest
from django.core import mail as django_mail
from django.urls import reverse

from notifications.models import Notification
from notifications.services import notification_send
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db

LOGIN = "/accounts/login/"


def post_login(client, email, password):
    return client.post(LOGIN, {"username": email, "password": password})


def test_sign_in_with_email_any_case(client, acme):
    response = post_login(client, "EMP@Acme.Example", PASSWORD)
    assert response.status_code == 302
    assert client.get(response["Location"])["Location"] == reverse("me")


@pytest.mark.parametrize("who", ["admin", "partner_staff"])
def test_admins_and_partner_staff_land_on_their_dashboard(client, acme, who):
    """Sign-in takes a company admin or partner staff to the console's dashboard, where
    what waits on them is counted; an employee goes to Your Details."""
    response = post_login(client, getattr(acme, who).email, PASSWORD)
    landing = client.get(response["Location"])
    assert landing["Location"] == reverse("admin:index")
    page = client.get(landing["Location"]).content.decode()
    assert 'data-testid="inbox"' in page


def test_wrong_password_and_unknown_email_get_the_same_message(client, acme):
    wrong = post_login(client, acme.employee.email, "nope")
    unknown = post_login(client, "nobody@acme.example", "nope")
    assert wrong.status_code == unknown.status_code == 200
    message = "That e-mail and password do not match an account."
    assert message in wrong.content.decode()
    assert message in unknown.content.decode()
    assert wrong.context["form"].errors == unknown.context["form"].errors


def test_lockout_after_repeated_failures_with_a_clear_message(client, acme, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        post_login(client, acme.employee.email, "wrong")
    response = post_login(client, acme.employee.email, PASSWORD)  # even the right password
    assert response.status_code == 429
    assert "Too many failed sign-ins" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_lockout_is_per_account_not_global(client, acme, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        post_login(client, acme.employee.email, "wrong")
    assert post_login(client, acme.colleague.email, PASSWORD).status_code == 302


def test_logout_is_a_post_and_ends_the_session(client, login, acme):
    login(acme.employee)
    response = client.post(reverse("logout"))
    assert response.status_code == 200
    assert "You are signed out" in response.content.decode()
    assert client.get(reverse("me")).status_code == 302


@pytest.mark.parametrize("url", ["/", "/me/", "/support/", "/accounts/password-change/"])
def test_every_portal_page_requires_login(client, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith(LOGIN + "?next=")


def test_login_page_and_health_need_no_login(client, db):
    assert client.get(LOGIN).status_code == 200
    assert client.get("/healthz").json() == {"status": "ok"}


def test_employee_cannot_use_admin(login, acme):
    client = login(acme.employee)
    response = client.get("/admin/")
    assert response.status_code == 403
    assert "The admin is for company admins and partners" in response.content.decode()
    assert client.get("/admin/companies/user/").status_code == 403


@pytest.mark.parametrize("role", ["admin", "partner_staff"])
def test_company_admin_and_partner_staff_can_use_admin(login, acme, role):
    client = login(getattr(acme, role))
    response = client.get("/admin/")
    assert response.status_code == 200
    assert "Companies" in response.content.decode()


def test_anonymous_admin_goes_to_the_one_login(client, db):
    response = client.get("/admin/companies/company/")
    assert response.status_code == 302
    assert LOGIN in response["Location"]


def test_password_reset_goes_through_the_outbox(client, acme):
    response = client.post(reverse("password_reset"), {"email": acme.employee.email})
    assert response.status_code == 302
    row = Notification.objects.get(recipient=acme.employee, kind="password_reset")
    assert "one-time link, sent only to the recipient" in row.body_text  # never stored
    assert "/accounts/reset/" not in row.body_text + row.body_html


def test_password_reset_for_unknown_email_looks_the_same_and_sends_nothing(client, db):
    response = client.post(reverse("password_reset"), {"email": "nobody@nowhere.example"})
    assert response.status_code == 302
    assert response["Location"] == reverse("password_reset_done")
    assert not Notification.objects.exists()


def test_password_reset_link_sets_a_new_password(client, acme):
    client.post(reverse("password_reset"), {"email": acme.employee.email})
    row = Notification.objects.get(kind="password_reset")
    assert notification_send(row.pk) == "sent"
    body = django_mail.outbox[-1].body  # the link exists only in the message sent
    link = next(line for line in body.splitlines() if "/accounts/reset/" in line).strip()
    path = link.split("127.0.0.1:8000", 1)[1]
    form_page = client.get(path, follow=True)
    assert form_page.status_code == 200
    response = client.post(
        form_page.redirect_chain[-1][0],
        {"new_password1": "a-much-better-pass-42", "new_password2": "a-much-better-pass-42"},
    )
    assert response.status_code == 302
    assert post_login(client, acme.employee.email, "a-much-better-pass-42").status_code == 302


def test_unknown_url_gets_the_friendly_404(login, acme):
    response = login(acme.employee).get("/no/such/page/")
    assert response.status_code == 404
    assert "We could not find that page" in response.content.decode()
