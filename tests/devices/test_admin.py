"""Registering hardware bought outside Velory, in the admin."""

import pytest

from devices.models import Device

pytestmark = pytest.mark.django_db

URL = "/admin/devices/device/register/"


def test_company_admin_registers_hardware_that_shows_in_the_profile(login, acme):
    client = login(acme.admin)
    form = client.get(URL)
    assert form.status_code == 200
    options = form.content.decode()
    assert acme.employee.email in options or acme.employee.full_name in options
    response = client.post(
        URL,
        {
            "owner": acme.employee.pk,
            "name": "Lenovo ThinkPad T14",
            "category": "laptop",
            "serial_number": "PF-1",
            "status": "active",
            "received_on": "2025-01-10",
        },
    )
    device = Device.objects.get(name="Lenovo ThinkPad T14")
    assert response.status_code == 302
    assert device.registered_manually and device.owner == acme.employee
    profile = login(acme.employee).get("/me/").content.decode()
    assert "Lenovo ThinkPad T14" in profile and "Registered manually" in profile


def test_employees_of_another_company_are_not_offered_nor_accepted(login, acme, globex):
    client = login(acme.admin)
    assert f'value="{globex.employee.pk}"' not in client.get(URL).content.decode()
    response = client.post(
        URL, {"owner": globex.employee.pk, "name": "X", "category": "laptop", "status": "active"}
    )
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    assert not Device.objects.exists()


@pytest.mark.parametrize("role", ["partner_staff", "employee"])
def test_only_company_admins_register(login, acme, role):
    response = login(getattr(acme, role)).get(URL)
    assert response.status_code == 403


def test_each_order_names_its_employee_and_another_employees_order_is_refused(login, acme):
    from tests.factories import UserFactory
    from tests.helpers import place_order

    colleague = UserFactory(email="another.one@acme.example", company=acme.company)
    own = place_order(acme)
    theirs = place_order(acme, employee=colleague)
    client = login(acme.admin)
    page = client.get(URL).content.decode()
    assert f'data-owner="{acme.employee.pk}" value="{own.pk}"' in page or (
        f'value="{own.pk}" data-owner="{acme.employee.pk}"' in page
    )
    assert f"{theirs.number} — {colleague.full_name}" in page
    response = client.post(
        URL,
        {
            "owner": acme.employee.pk,
            "name": "Dock",
            "category": "accessory",
            "status": "active",
            "order": theirs.pk,
        },
    )
    assert response.status_code == 200
    assert f"{theirs.number} is not one of {acme.employee.full_name}" in response.content.decode()
    assert not Device.objects.filter(name="Dock").exists()
