"""Hole 4: no export of the project lets what people typed run as a spreadsheet formula.

Before the fix the payroll export used a plain csv.writer: a serial number
``=HYPERLINK(...)`` typed by an employee landed as a live formula in the admin's sheet.
This walks every export action of every admin, with hostile text in every field it shows."""

import csv
import io

import pytest
from django.contrib import admin
from django.utils import timezone

from core.tenant_admin import TenantAdmin
from devices.models import Device, DeviceStatus
from leasing import services as leasing
from leasing.models import Buyout
from orders.models import Order
from people.models import OffboardingItem
from people.services import offboarding
from people.services import provisioning as people
from tests.helpers import device_in

S = DeviceStatus
HOSTILE = ['=HYPERLINK("http://evil.example","x")', "+1+1", "-2+3", "@SUM(A1)", "\t=1", "\r=1"]
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def export_actions():
    return sorted(
        (model._meta.label, name)
        for model, model_admin in admin.site._registry.items()
        if isinstance(model_admin, TenantAdmin)
        for name in (model_admin.actions or [])
        if isinstance(name, str) and name.startswith("export")
    )


def test_the_exports_walked_are_all_there_are():
    assert export_actions() == [
        ("devices.Device", "export_csv"),
        ("leasing.Buyout", "export_payroll"),
        ("orders.Order", "export_csv"),
        ("people.OffboardingCase", "export_payroll"),
    ]


@pytest.fixture
def hostile_data(acme):
    acme.employee.full_name = HOSTILE[0]
    acme.employee.save()
    acme.company.buyout_payment = "salary"
    acme.company.save()
    device = device_in(acme, S.ACTIVE, leased=True, name=HOSTILE[1], note=HOSTILE[2])
    Device.objects.filter(pk=device.pk).update(serial_number=HOSTILE[0])
    Order.objects.filter(pk=device.order_id).update(delivery_address=HOSTILE[3])
    leasing.lease_choose(device_id=device.pk, actor=acme.employee, choice="buyout")
    leasing.buyout_pay_by_salary(device_id=device.pk, actor=acme.employee)
    # a leaver's owned phone, bought by salary deduction (the offboarding payroll export)
    phone = device_in(acme, S.ACTIVE, name=HOSTILE[4])
    Device.objects.filter(pk=phone.pk).update(serial_number=HOSTILE[0], price="500.00")
    people.person_set_exit_date(
        user_id=acme.employee.pk, exit_date=timezone.localdate(), actor=acme.admin
    )
    item = OffboardingItem.objects.get(device=phone)
    offboarding.offboarding_choose(item_id=item.pk, choice="buyout", actor=acme.employee)
    offboarding.offboarding_pay_by_salary(item_id=item.pk, actor=acme.employee)
    return device


def body(response) -> str:
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content).decode()
    return response.content.decode()


@pytest.mark.parametrize(("label", "action"), export_actions())
def test_every_export_writes_hostile_text_as_text(hostile_data, acme, login, label, action):
    app, model = label.lower().split(".")
    model_cls = admin.site._registry and {m._meta.label: m for m in admin.site._registry}[label]
    ids = list(model_cls._default_manager.values_list("pk", flat=True))
    assert ids
    response = login(acme.admin).post(
        f"/admin/{app}/{model}/", {"action": action, "_selected_action": ids}
    )
    assert response["Content-Type"].startswith("text/csv"), response.status_code
    rows = list(csv.reader(io.StringIO(body(response))))
    cells = [cell for row in rows[1:] for cell in row]
    assert cells
    assert any(HOSTILE[0] in cell for cell in cells)  # the text is there, as text
    assert not [c for c in cells if c.startswith(FORMULA_STARTS)]
    assert Buyout.objects.exists()
