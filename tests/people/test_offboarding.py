"""A leaver's offboarding case: one item per device, chosen in one place, chased on a
schedule with the clock moved, escalated to the company admin, and ended in a definite
state per device; the account closes when everything is settled."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from companies.models import User
from devices.models import Device, DeviceStatus
from leasing.models import Lease
from leasing.services import trade_ins_confirm
from notifications.models import Notification
from people.models import OffboardingCase, OffboardingItem
from people.selectors import leaving_for, open_cases_for
from people.services import offboarding
from people.services import provisioning as people
from people.services.valuation import owned_value
from tests.helpers import device_in, pay_checkout

S = DeviceStatus


def today():
    return timezone.localdate()


def received_ago(device: Device, days: int, price="1200.00") -> Device:
    """Test set-up: the device was received ``days`` ago at ``price``."""
    Device.objects.filter(pk=device.pk).update(
        received_on=today() - timedelta(days=days), price=Decimal(price)
    )
    device.refresh_from_db()
    return device


@pytest.fixture
def leaver(acme):
    """Erin holds a leased laptop, an owned phone (a year old) and an owned headset."""
    laptop = device_in(acme, S.ACTIVE, leased=True, name="MacBook Air")
    phone = received_ago(device_in(acme, S.ACTIVE, name="iPhone 15"), 365, "900.00")
    headset = device_in(acme, S.RECEIVED, name="Jabra Evolve2")
    acme.company.buyout_payment = "card"
    acme.company.save()
    return acme, laptop, phone, headset


def open_case(acme, days_ahead=10):
    people.person_set_exit_date(
        user_id=acme.employee.pk, exit_date=today() + timedelta(days=days_ahead), actor=acme.admin
    )
    return OffboardingCase.objects.get(employee=acme.employee, status="open")


def item_of(case, device) -> OffboardingItem:
    return case.items.get(device=device)


def test_an_exit_date_opens_one_case_with_every_device_held(leaver):
    acme, laptop, phone, headset = leaver
    cancelled = device_in(acme, S.CANCELLED)
    case = open_case(acme)
    assert set(case.items.values_list("device_id", flat=True)) == {laptop.pk, phone.pk, headset.pk}
    assert cancelled.pk not in set(case.items.values_list("device_id", flat=True))
    assert Notification.objects.filter(kind="offboarding_opened", recipient=acme.employee).exists()
    # moving the date moves the case; nothing is duplicated
    people.person_set_exit_date(
        user_id=acme.employee.pk, exit_date=today() + timedelta(days=20), actor=acme.admin
    )
    assert OffboardingCase.objects.filter(employee=acme.employee).count() == 1
    case.refresh_from_db()
    assert case.exit_date == today() + timedelta(days=20) and case.items.count() == 3


def test_an_owned_device_is_priced_at_its_depreciated_value_on_the_exit_date(leaver):
    acme, _, phone, _ = leaver
    case = open_case(acme, days_ahead=0)
    # 900 over 36 months, a year used: two thirds left (within a cent or two of 600)
    value = owned_value(phone, case.exit_date)
    assert Decimal("595.00") <= value.amount <= Decimal("605.00")
    assert item_of(case, phone).price == value.amount
    old = received_ago(phone, 5 * 365, "900.00")
    assert owned_value(old, today()).amount == Decimal("90.00")  # the 10% floor


def test_the_whole_case_returned_bought_out_and_written_off_then_closed(leaver, after_commit):
    """The issue's person: a leased laptop (returned), an owned phone (bought at its value,
    by card), a lost headset (written off); then the account closes."""
    acme, laptop, phone, headset = leaver
    case = open_case(acme, days_ahead=5)
    employee = acme.employee
    # the laptop: returned, due the exit date plus the company's grace days
    offboarding.offboarding_choose(
        item_id=item_of(case, laptop).pk, choice="return", actor=employee
    )
    lease = Lease.objects.get(device=laptop)
    assert lease.return_due_on == case.exit_date + timedelta(days=acme.company.return_grace_days)
    # the phone: bought by card at the value shown
    price = item_of(case, phone).price
    offboarding.offboarding_choose(item_id=item_of(case, phone).pk, choice="buyout", actor=employee)
    with after_commit():
        payment = offboarding.offboarding_buyout_checkout(
            item_id=item_of(case, phone).pk, actor=employee
        )
    assert payment.amount == price and payment.capture_method == "automatic"
    pay_checkout(payment)
    # the headset: lost; the company admin writes it off
    offboarding.offboarding_write_off(
        item_id=item_of(case, headset).pk, actor=acme.admin, reason="Lost on a train", kind="lost"
    )
    # the partner confirms the laptop is back
    trade_ins_confirm(device_ids=[laptop.pk], actor=acme.partner_staff)
    report = offboarding.offboarding_daily(today=today())
    assert report.settled == 2 and report.closed == 0  # not before the exit date
    outcomes = {i.device_id: i.outcome for i in case.items.all()}
    assert outcomes == {laptop.pk: "returned", phone.pk: "bought_out", headset.pk: "written_off"}
    assert Device.objects.get(pk=phone.pk).status == S.BOUGHT_OUT
    # on the exit date it closes, and the account with it; nothing is deleted
    report = offboarding.offboarding_daily(today=case.exit_date)
    case.refresh_from_db()
    assert report.closed == 1 and case.status == "closed"
    employee.refresh_from_db()
    assert not employee.is_active and User.objects.filter(pk=employee.pk).exists()
    assert case.items.count() == 3
    assert Notification.objects.filter(kind="offboarding_closed", recipient=employee).exists()


def test_chasers_go_7_and_3_days_before_and_the_day_after_with_the_admin_told(leaver):
    acme, *_ = leaver
    case = open_case(acme, days_ahead=10)
    exit_date = case.exit_date

    def chasers():
        return Notification.objects.filter(kind="offboarding_chaser").count()

    offboarding.offboarding_daily(today=exit_date - timedelta(days=8))
    assert chasers() == 0
    offboarding.offboarding_daily(today=exit_date - timedelta(days=7))
    offboarding.offboarding_daily(today=exit_date - timedelta(days=7))  # run twice: once
    assert chasers() == 1
    offboarding.offboarding_daily(today=exit_date - timedelta(days=3))
    assert chasers() == 2
    offboarding.offboarding_daily(today=exit_date)
    assert chasers() == 2 and not Notification.objects.filter(kind="offboarding_escalated")
    offboarding.offboarding_daily(today=exit_date + timedelta(days=1))
    offboarding.offboarding_daily(today=exit_date + timedelta(days=2))
    assert chasers() == 3
    escalated = Notification.objects.filter(kind="offboarding_escalated")
    assert [n.recipient_id for n in escalated] == [acme.admin.pk]
    case.refresh_from_db()
    assert case.escalated_at is not None and case.is_open


def test_an_exit_date_in_the_past_opens_the_case_as_overdue(leaver):
    acme, *_ = leaver
    case = open_case(acme, days_ahead=-4)
    assert case.is_open
    offboarding.offboarding_daily(today=today())
    # one chaser (the latest), not three, and the admin is told at once
    assert Notification.objects.filter(kind="offboarding_chaser").count() == 1
    assert Notification.objects.filter(kind="offboarding_escalated").count() == 1
    leaving = leaving_for(acme.employee)
    assert leaving.overdue and leaving.return_by == case.exit_date + timedelta(days=14)


def test_a_buyout_is_refused_where_the_company_allows_none(globex):
    laptop = device_in(globex, S.ACTIVE, leased=True)
    people.person_set_exit_date(
        user_id=globex.employee.pk, exit_date=today() + timedelta(days=10), actor=globex.admin
    )
    case = OffboardingCase.objects.get(employee=globex.employee)
    with pytest.raises(offboarding.OffboardingRefused, match="does not allow buyouts"):
        offboarding.offboarding_choose(
            item_id=item_of(case, laptop).pk, choice="buyout", actor=globex.employee
        )
    assert Device.objects.get(pk=laptop.pk).status == S.ACTIVE
    assert not leaving_for(globex.employee).items[0].can_buy


def test_only_the_leaver_chooses_and_only_once(leaver, globex):
    acme, laptop, *_ = leaver
    case = open_case(acme)
    item = item_of(case, laptop)
    for stranger in (acme.colleague, globex.employee, acme.admin):
        with pytest.raises(OffboardingItem.DoesNotExist):
            offboarding.offboarding_choose(item_id=item.pk, choice="return", actor=stranger)
    offboarding.offboarding_choose(item_id=item.pk, choice="return", actor=acme.employee)
    offboarding.offboarding_choose(item_id=item.pk, choice="return", actor=acme.employee)
    with pytest.raises(offboarding.OffboardingRefused, match="ask your IT admin"):
        offboarding.offboarding_choose(item_id=item.pk, choice="buyout", actor=acme.employee)


def test_a_leased_device_is_written_off_only_with_the_lessors_settlement(leaver):
    acme, laptop, *_ = leaver
    case = open_case(acme)
    item = item_of(case, laptop)
    with pytest.raises(offboarding.OffboardingRefused, match="settlement"):
        offboarding.offboarding_write_off(item_id=item.pk, actor=acme.admin, reason="Stolen")
    offboarding.offboarding_write_off(
        item_id=item.pk, actor=acme.admin, reason="Stolen", kind="stolen", settlement="350.00"
    )
    item.refresh_from_db()
    assert item.outcome == "written_off" and item.settlement_amount == Decimal("350.00")
    assert Lease.objects.get(device=laptop).settlement_amount == Decimal("350.00")


def test_clearing_the_exit_date_cancels_an_untouched_case(leaver):
    acme, *_ = leaver
    case = open_case(acme)
    people.person_set_exit_date(user_id=acme.employee.pk, exit_date=None, actor=acme.admin)
    case.refresh_from_db()
    assert case.status == "cancelled"


def test_the_admin_sees_open_cases_and_what_blocks_them(leaver, django_assert_num_queries):
    acme, laptop, *_ = leaver
    case = open_case(acme)
    offboarding.offboarding_choose(
        item_id=item_of(case, laptop).pk, choice="return", actor=acme.employee
    )
    with django_assert_num_queries(2):
        total, rows = open_cases_for(acme.admin)
    assert total == 1 and rows[0].blocker == "2 devices without a choice"
    assert open_cases_for(acme.employee)[0] == 0 or rows  # scoped: the employee's own only


# --- The employee's page ---------------------------------------------------------------------


def test_the_leaver_chooses_on_one_page_with_the_price_and_deadline_shown_first(leaver, login):
    acme, laptop, phone, _ = leaver
    case = open_case(acme)
    client = login(acme.employee)
    page = client.get("/me/leaving/").content.decode()
    assert "Your last day at Acme Corp is" in page and "Buy it for" in page
    phone_item = item_of(case, phone)
    confirm = client.get(f"/me/leaving/{phone_item.pk}/choose/?choice=buyout").content.decode()
    assert phone_item.price is not None and f"{phone_item.price:,.2f}" in confirm
    assert Device.objects.get(pk=phone.pk).status == S.ACTIVE  # nothing done yet
    laptop_item = item_of(case, laptop)
    confirm = client.get(f"/me/leaving/{laptop_item.pk}/choose/?choice=return").content.decode()
    due = case.exit_date + timedelta(days=14)
    assert f"{due:%-d %B %Y}" in confirm
    done = client.post(f"/me/leaving/{laptop_item.pk}/choose/", {"choice": "return"}, follow=True)
    assert "is being returned" in done.content.decode()
    assert Device.objects.get(pk=laptop.pk).status == S.PROCESSING_TRADE_IN
    # someone else's case is a 404
    other = login(acme.colleague)
    assert other.get("/me/leaving/").status_code == 404
    assert (
        other.post(f"/me/leaving/{phone_item.pk}/choose/", {"choice": "buyout"}).status_code == 404
    )


def test_a_salary_deduction_is_settled_and_exported_to_payroll_once(leaver, login):
    acme, _, phone, _ = leaver
    acme.company.buyout_payment = "salary"
    acme.company.save()
    case = open_case(acme)
    item = item_of(case, phone)
    offboarding.offboarding_choose(item_id=item.pk, choice="buyout", actor=acme.employee)
    page = login(acme.employee).get(f"/me/leaving/{item.pk}/pay/").content.decode()
    assert "Accept the salary deduction" in page
    login(acme.employee).post(f"/me/leaving/{item.pk}/pay/")
    item.refresh_from_db()
    assert item.outcome == "bought_out" and Device.objects.get(pk=phone.pk).status == S.BOUGHT_OUT
    admin = login(acme.admin)
    export = admin.post(
        "/admin/people/offboardingcase/",
        {"action": "export_payroll", "_selected_action": [case.pk]},
    )
    body = b"".join(export.streaming_content).decode()
    assert "iPhone 15" in body and f"{item.price}" in body
    again = admin.post(
        "/admin/people/offboardingcase/",
        {"action": "export_payroll", "_selected_action": [case.pk]},
        follow=True,
    )
    assert "waiting for export" in again.content.decode()
