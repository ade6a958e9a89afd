"""“Do you still have these devices?”: asked every few months where the company wants it,
reminded with the clock moved, answered in one click on Your Details, problems reported to
the company admin; and the leaver's item in Your Details' action inbox."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from devices.models import DeviceStatus
from notifications.models import Notification
from people.models import Attestation
from people.services import attestation
from people.services import provisioning as people
from tests.helpers import device_in

S = DeviceStatus


def today():
    return timezone.localdate()


def asking(acme, months=6):
    acme.company.attestation_months = months
    acme.company.save()


def test_holders_are_asked_once_and_reminded_on_schedule(acme, globex):
    asking(acme)
    device_in(acme, S.ACTIVE)
    device_in(globex, S.ACTIVE)  # Globex does not ask
    report = attestation.attestations_daily(today=today())
    assert report.asked == 1
    assert list(Attestation.objects.values_list("employee_id", flat=True)) == [acme.employee.pk]
    assert attestation.attestations_daily(today=today()).asked == 0  # one open at a time
    asked = Notification.objects.filter(kind="attestation_asked", recipient=acme.employee)
    assert asked.count() == 1
    for day in (6, 7, 7, 14):
        attestation.attestations_daily(today=today() + timedelta(days=day))
    assert Notification.objects.filter(kind="attestation_reminder").count() == 2


def test_yes_in_one_click_on_your_details(acme, login):
    asking(acme)
    device = device_in(acme, S.ACTIVE, name="ThinkPad X1")
    attestation.attestations_daily(today=today())
    client = login(acme.employee)
    page = client.get("/me/").content.decode()
    assert "Do you still have these devices?" in page and "ThinkPad X1" in page
    assert "@@CSRF@@" not in page  # the cached part's form has this request's token
    answer = client.post("/me/attest/", {"answer": "yes"}, follow=True)
    assert "your devices are confirmed" in answer.content.decode()
    done = Attestation.objects.get()
    assert done.answered_at and done.problems == 0
    assert list(done.answers.values_list("device_id", "answer")) == [(device.pk, "have")]
    assert "Do you still have these devices?" not in client.get("/me/").content.decode()
    # asked again only after the company's months
    assert attestation.attestations_daily(today=today() + timedelta(days=30)).asked == 0
    assert attestation.attestations_daily(today=today() + timedelta(days=200)).asked == 1


def test_a_reported_device_tells_the_company_admin(acme, login):
    asking(acme)
    phone = device_in(acme, S.ACTIVE, name="iPhone 15")
    attestation.attestations_daily(today=today())
    client = login(acme.employee)
    client.post("/me/attest/", {f"device-{phone.pk}": "stolen", f"note-{phone.pk}": "On a bus"})
    done = Attestation.objects.get()
    assert done.problems == 1 and done.answers.get().answer == "stolen"
    told = Notification.objects.get(kind="attestation_problem", recipient=acme.admin)
    assert "iPhone 15" in told.body_text and "On a bus" in told.body_text
    report = login(acme.admin).get("/admin/people/attestation/?answered=problems")
    assert report.status_code == 200 and acme.employee.full_name in report.content.decode()


def test_the_leavers_case_is_in_the_action_inbox(acme, login):
    device_in(acme, S.ACTIVE)
    people.person_set_exit_date(
        user_id=acme.employee.pk, exit_date=today() + timedelta(days=10), actor=acme.admin
    )
    page = login(acme.employee).get("/me/").content.decode()
    assert "Your last day is" in page and "Choose for your devices" in page
