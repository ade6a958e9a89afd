import pytest

pytestmark = pytest.mark.django_db


def test_support_shows_company_admins_and_partner_contacts(login, acme, globex):
    body = login(acme.employee).get("/support/").content.decode()
    assert acme.admin.full_name in body and acme.admin.email in body
    assert acme.partner.name in body and acme.partner.support_email in body
    assert acme.company.support_email in body
    assert acme.company.leasing_company.contact_email in body
    assert globex.partner.name not in body
    assert globex.admin.email not in body


def test_support_says_when_partner_has_no_tracking(login, globex):
    body = login(globex.employee).get("/support/").content.decode()
    assert "does not share tracking numbers" in body


def test_support_page_costs_a_fixed_number_of_queries(login, acme, django_assert_num_queries):
    client = login(acme.employee)
    # session, user (+company, partner), admins, partners, leasing company
    with django_assert_num_queries(5):
        client.get("/support/")


def test_shell_shows_company_name_and_navigation(login, acme):
    body = login(acme.employee).get("/me/").content.decode()
    assert acme.company.name in body
    assert "Your Details" in body and "Support" in body and "Log out" in body
    assert 'href="/admin/"' not in body  # employees get no admin link
    assert 'href="/admin/"' in login(acme.admin).get("/me/").content.decode()
