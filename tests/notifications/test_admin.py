import pytest

from tests.factories import NotificationFactory

pytestmark = pytest.mark.django_db

URL = "/admin/notifications/notification/"


def test_company_admin_reads_mail_sent_to_their_people_only(login, acme, globex):
    mine = NotificationFactory(recipient=acme.employee, subject="Your laptop has shipped")
    theirs = NotificationFactory(recipient=globex.employee, subject="Globex secret")
    client = login(acme.admin)
    body = client.get(URL).content.decode()
    assert "Your laptop has shipped" in body and "Globex secret" not in body
    assert client.get(f"{URL}{mine.pk}/change/").status_code == 200
    assert client.get(f"{URL}{theirs.pk}/change/").status_code == 404


def test_mail_in_the_admin_is_read_only(login, acme):
    row = NotificationFactory(recipient=acme.employee)
    client = login(acme.admin)
    response = client.post(f"{URL}{row.pk}/change/", {"subject": "changed"})
    assert response.status_code == 403
    row.refresh_from_db()
    assert row.subject == "Hello"


def test_partner_staff_and_employees_cannot_read_customer_mail(login, acme):
    NotificationFactory(recipient=acme.employee)
    assert login(acme.partner_staff).get(URL).status_code == 403
    assert login(acme.employee).get(URL).status_code == 403
