"""The console's one search box: devices by serial number, orders by number, people by
name or e-mail, each only within the user's own scope, in a fixed number of queries."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from backoffice.search import console_search
from devices.models import Device
from tests.helpers import device_in, place_order

pytestmark = pytest.mark.django_db


def serial(device, number):
    Device.objects.filter(pk=device.pk).update(serial_number=number)


def test_a_serial_number_finds_the_device_in_the_users_scope_only(acme, globex):
    serial(device_in(acme, "received"), "C02XK1ZZJGH5")
    serial(device_in(globex, "received"), "C02XK1ZZJGH6")
    found = console_search(acme.admin, "c02xk1zz")
    assert [d["serial"] for d in found.devices] == ["C02XK1ZZJGH5"]
    assert [d["serial"] for d in console_search(acme.partner_staff, "C02XK").devices] == [
        "C02XK1ZZJGH5"
    ]
    assert console_search(globex.admin, "C02XK1ZZJGH5").devices == []


def test_an_order_number_finds_the_order_in_any_spelling(acme, globex):
    order = place_order(acme)
    for spelling in (order.number, order.number.lower(), f"{order.pk:06d}"):
        assert [o["number"] for o in console_search(acme.admin, spelling).orders] == [order.number]
    assert console_search(globex.admin, order.number).orders == []


def test_people_by_name_or_email_for_company_admins_not_partners(acme, globex):
    assert [p["email"] for p in console_search(acme.admin, "Erin").people] == [acme.employee.email]
    assert [p["email"] for p in console_search(acme.admin, "emp@acme").people] == [
        acme.employee.email
    ]
    assert console_search(globex.admin, "emp@acme").people == []
    assert console_search(acme.partner_staff, "Erin").people == []


def test_the_search_page_costs_the_same_queries_however_many_rows(acme, login):
    client = login(acme.admin)
    for i in range(2):
        serial(device_in(acme, "received"), f"SN-A{i}")
    client.get("/admin/search/?q=SN-A")
    with CaptureQueriesContext(connection) as few:
        page = client.get("/admin/search/?q=SN-A")
    assert page.status_code == 200 and "SN-A1" in page.content.decode()
    for i in range(8):
        serial(device_in(acme, "received"), f"SN-B{i}")
    with CaptureQueriesContext(connection) as many:
        client.get("/admin/search/?q=SN-")
    assert len(many) == len(few)


def test_an_employee_cannot_use_the_console_search(acme, login):
    assert login(acme.employee).get("/admin/search/?q=x").status_code == 403


def test_a_changelist_search_is_counted_up_to_its_cap_and_says_more_than(acme, login, monkeypatch):
    from backoffice.admin.devices import DeviceAdmin

    for _ in range(4):
        place_order(acme, name="MacBook Air", items=2)  # 8 matching devices
    monkeypatch.setattr(DeviceAdmin, "search_count_cap", 5)
    monkeypatch.setattr(DeviceAdmin, "list_per_page", 3)
    client = login(acme.admin)
    body = client.get("/admin/devices/device/?q=MacBook").content.decode()
    assert "More than 5 results" in body and "More than 5 devices" in body
    assert body.count('class="action-select"') == 3  # the first page, as always
    few = client.get("/admin/devices/device/?q=MacBook&p=2").content.decode()
    assert few.count('class="action-select"') == 3
    monkeypatch.setattr(DeviceAdmin, "search_count_cap", 100)
    exact = client.get("/admin/devices/device/?q=MacBook").content.decode()
    assert "More than" not in exact and "8 results" in exact
