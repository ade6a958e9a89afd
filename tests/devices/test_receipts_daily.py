"""The daily receipt job: an employee is reminded to mark a delivered device received 2 and
5 days after delivery (once each, in one e-mail a day), and where the company's policy says
so the system receives it some days after delivery. The job is run with the clock moved
(``today``), as the lease-end job's tests do."""

from datetime import timedelta

import pytest
from django.utils import timezone

from companies.services import company_update_policy
from devices import lifecycle
from devices.models import DeviceEvent, DeviceNotice, DeviceStatus
from leasing.models import Lease
from notifications.models import Notification
from tests.conftest import make_tenant
from tests.helpers import device_in, mail

S = DeviceStatus
pytestmark = pytest.mark.django_db


def delivered(tenant, **kwargs):
    return device_in(tenant, S.DELIVERED, **kwargs)


def days_after_delivery(n: int):
    return timezone.localdate() + timedelta(days=n)


def run(day: int) -> dict:
    return lifecycle.receipts_daily(today=days_after_delivery(day))


def auto_receive_after(tenant, days):
    company_update_policy(company=tenant.company, actor=tenant.admin, auto_receive_after_days=days)


def reminders():
    return Notification.objects.filter(kind="receipt_reminder")


# --- Reminders ----------------------------------------------------------------------------------


def test_no_reminder_before_the_second_day_after_delivery(acme):
    delivered(acme)
    assert run(1)["reminded"] == 0
    assert not reminders().exists()


def test_the_employee_is_reminded_on_the_second_day_once(acme):
    device = delivered(acme)
    assert run(2)["reminded"] == 1
    assert run(2)["reminded"] == 0  # run twice the same day: nothing sent twice
    assert run(3)["reminded"] == 0
    sent = mail(kind="receipt_reminder")
    assert sent.recipient == acme.employee
    assert device.name in sent.subject
    assert f"/me/devices/{device.pk}/" in sent.body_text
    assert '"Mark as received"' in sent.body_text


def test_the_employee_is_reminded_again_on_the_fifth_day_once(acme):
    delivered(acme)
    run(2)
    assert run(5)["reminded"] == 1
    assert run(5)["reminded"] == 0
    assert run(6)["reminded"] == 0
    assert reminders().count() == 2
    assert DeviceNotice.objects.filter(kind__startswith="receipt_reminder").count() == 2


def test_a_day_the_job_missed_is_caught_up_with_one_reminder(acme):
    delivered(acme)
    assert run(6)["reminded"] == 1  # the fifth day's, not both
    assert run(7)["reminded"] == 0
    assert reminders().count() == 1


def test_no_reminder_once_the_employee_marked_it_received(acme):
    device = delivered(acme)
    run(2)
    lifecycle.device_mark_received(device_id=device.pk, actor=acme.employee)
    assert run(5)["reminded"] == 0
    assert reminders().count() == 1


def test_one_reminder_a_day_lists_all_the_employees_devices_waiting(acme):
    first = delivered(acme, name="ThinkPad T14")
    second = delivered(acme, name="Dell Monitor")
    assert run(2) == {"auto_received": 0, "reminded": 2, "reminder_mails": 1}
    sent = mail(kind="receipt_reminder")
    assert "ThinkPad T14" in sent.body_text and "Dell Monitor" in sent.body_text
    assert f"/me/devices/{first.pk}/" in sent.body_text
    assert f"/me/devices/{second.pk}/" in sent.body_text


def test_each_employee_gets_their_own_reminder(acme):
    delivered(acme)
    delivered(acme, employee=acme.colleague)
    assert run(2)["reminder_mails"] == 2
    assert {n.recipient for n in reminders()} == {acme.employee, acme.colleague}


def test_the_reminder_says_when_the_policy_receives_it(acme):
    auto_receive_after(acme, 7)
    delivered(acme)
    run(2)
    when = days_after_delivery(7)
    assert f"marked received for you on {when:%-d %B %Y}" in mail(kind="receipt_reminder").body_text


# --- Received by the company's policy -----------------------------------------------------------


def test_the_system_receives_the_device_on_the_policys_day(acme):
    auto_receive_after(acme, 7)
    device = delivered(acme)
    assert run(6)["auto_received"] == 0
    assert run(7)["auto_received"] == 1
    device.refresh_from_db()
    assert device.status == S.RECEIVED
    assert device.received_on == timezone.localdate(device.delivered_at)  # it came that day
    event = DeviceEvent.objects.filter(device=device).first()
    assert event.transition == "mark_received" and event.to_status == S.RECEIVED
    assert event.actor is None and event.actor_name == "Velory"  # the system
    assert event.source == "system" and "7 days after delivery" in event.note


def test_the_employee_is_told_the_device_was_received_for_them(acme):
    auto_receive_after(acme, 3)
    device = delivered(acme)
    run(3)
    run(3)
    sent = mail(kind="device_received_automatically")  # exactly one
    assert sent.recipient == acme.employee
    assert device.name in sent.subject and f"/me/devices/{device.pk}/" in sent.body_text


def test_a_device_received_by_the_policy_is_not_reminded(acme):
    auto_receive_after(acme, 5)
    delivered(acme)
    run(2)
    assert run(5) == {"auto_received": 1, "reminded": 0, "reminder_mails": 0}
    assert reminders().count() == 1  # only the second day's


def test_a_company_without_the_policy_never_receives_by_itself(acme):
    device = delivered(acme)
    assert run(90)["auto_received"] == 0
    device.refresh_from_db()
    assert device.status == S.DELIVERED


def test_another_companys_policy_does_not_apply(acme):
    auto_receive_after(acme, 3)
    other = make_tenant("initech")
    theirs = delivered(other)
    ours = delivered(acme)
    assert run(10)["auto_received"] == 1
    theirs.refresh_from_db()
    ours.refresh_from_db()
    assert (ours.status, theirs.status) == (S.RECEIVED, S.DELIVERED)
    assert mail(kind="receipt_reminder").recipient == other.employee


def test_a_device_delivered_before_the_policy_was_set_is_received_on_the_next_run(acme):
    device = delivered(acme)
    run(2)
    auto_receive_after(acme, 4)  # set on the third day
    assert run(8)["auto_received"] == 1
    device.refresh_from_db()
    assert device.status == S.RECEIVED


def test_a_device_the_employee_received_first_is_left_as_it_is(acme):
    auto_receive_after(acme, 3)
    device = delivered(acme)
    lifecycle.device_mark_received(device_id=device.pk, actor=acme.employee)
    assert run(3)["auto_received"] == 0
    assert DeviceEvent.objects.filter(device=device, transition="mark_received").count() == 1


def test_a_leased_device_received_by_the_policy_gets_its_lease_from_the_delivery_day(acme):
    auto_receive_after(acme, 3)
    device = delivered(acme, leased=True)
    run(3)
    lease = Lease.objects.get(device=device)
    assert lease.starts_on == timezone.localdate(device.delivered_at)


# --- The job ------------------------------------------------------------------------------------


def test_the_receipt_job_is_in_the_beat_schedule_and_runs_as_a_task(acme):
    from devices import tasks
    from velory.celery import app

    assert app.conf.beat_schedule["receipts-daily"]["task"] == tasks.receipts_daily.name
    delivered(acme)
    assert tasks.receipts_daily.run() == {"auto_received": 0, "reminded": 0, "reminder_mails": 0}
