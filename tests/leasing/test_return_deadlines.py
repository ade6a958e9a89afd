"""Return deadlines follow the reason a leased device goes back: the lease's end, a leased
replacement's delivery or a leaver's exit, plus the company's return grace days; the choice
page and its confirmation say the deadline and why before the employee confirms, and Your
Details shows it."""

from datetime import date, timedelta

import pytest
from django.utils import timezone

from companies.services import company_update_policy
from devices.models import DeviceStatus
from leasing import services as leasing
from leasing.models import Lease, LeaseNotice, ReturnReason, return_deadline, return_due
from notifications.models import Notification
from orders import services as orders
from tests.helpers import bring_to, budget_for, device_in, mail, product_for

S = DeviceStatus
pytestmark = pytest.mark.django_db


def leased(tenant, status=S.ACTIVE):
    return device_in(tenant, status, leased=True)


def lease_ending(device, ends_on: date) -> Lease:
    """Test set-up: the lease of ``device`` ends on ``ends_on``."""
    lease = Lease.objects.get(device=device)
    lease.starts_on = ends_on - timedelta(days=1000)
    lease.ends_on = ends_on
    lease.save()
    return lease


def today():
    return timezone.localdate()


def grace(tenant, days):
    company_update_policy(company=tenant.company, actor=tenant.admin, return_grace_days=days)


def choose_return(tenant, device, **kwargs) -> Lease:
    leasing.lease_choose(device_id=device.pk, actor=tenant.employee, choice="return", **kwargs)
    return Lease.objects.get(device=device)


# --- The rule -----------------------------------------------------------------------------------


def test_a_return_at_the_lease_end_is_due_the_grace_days_after_the_lease_ends(acme):
    device = leased(acme)
    lease = lease_ending(device, today() + timedelta(days=45))
    lease = choose_return(acme, device)
    assert lease.return_due_on == lease.ends_on + timedelta(days=14)
    assert lease.return_reason == ReturnReason.LEASE_END


def test_the_grace_days_are_the_companys(acme):
    grace(acme, 30)
    device = leased(acme)
    lease = lease_ending(device, today() + timedelta(days=10))
    assert choose_return(acme, device).return_due_on == lease.ends_on + timedelta(days=30)


def test_a_lease_that_ended_long_ago_counts_the_grace_days_from_the_choice(acme):
    device = leased(acme)
    lease_ending(device, today() - timedelta(days=60))
    assert choose_return(acme, device).return_due_on == today() + timedelta(days=14)


def test_a_deadline_is_never_on_the_day_of_the_choice(acme):
    grace(acme, 0)
    device = leased(acme)
    lease = lease_ending(device, today() - timedelta(days=3))
    due = return_due(lease, acme.company, chosen_on=today())
    assert due.on == today() + timedelta(days=1) and due.from_choice


def test_a_leavers_return_is_due_the_grace_days_after_the_exit_date(acme):
    device = leased(acme)
    lease = lease_ending(device, today() + timedelta(days=400))
    exit_on = today() + timedelta(days=20)
    assert return_deadline(
        lease, acme.company, reason="leaver", on=exit_on, chosen_on=today()
    ) == exit_on + timedelta(days=14)


def test_a_leavers_return_needs_the_exit_date(acme):
    lease = lease_ending(leased(acme), today() + timedelta(days=400))
    with pytest.raises(ValueError, match="exit date"):
        return_deadline(lease, acme.company, reason="leaver")


def test_offboarding_chooses_a_leavers_return_with_the_exit_date(acme):
    from core.tenancy import SYSTEM

    device = leased(acme)
    lease_ending(device, today() + timedelta(days=400))
    exit_on = today() + timedelta(days=5)
    leasing.lease_choose(
        device_id=device.pk,
        actor=SYSTEM,
        choice="return",
        source="system",
        reason=ReturnReason.LEAVER,
        reason_on=exit_on,
    )
    lease = Lease.objects.get(device=device)
    assert lease.return_due_on == exit_on + timedelta(days=14)
    assert lease.return_reason == ReturnReason.LEAVER


def test_the_explanation_says_the_reason_in_words(acme):
    device = leased(acme)
    lease = lease_ending(device, date(today().year + 1, 1, 16))
    due = return_due(lease, acme.company, chosen_on=date(today().year, 12, 1))
    assert due.on == date(today().year + 1, 1, 30)
    assert due.explanation == f"14 days after your lease ends on 16 January {today().year + 1}"
    leaver = return_due(
        lease, acme.company, reason="leaver", on=date(2030, 3, 3), chosen_on=date(2030, 3, 1)
    )
    assert leaver.explanation == "14 days after your last day at the company, 3 March"


# --- A leased replacement -----------------------------------------------------------------------


def replace(tenant, old):
    budget_for(tenant, "5000.00")
    request = orders.request_submit(
        employee=tenant.employee,
        product_id=product_for(tenant, leased=True).pk,
        delivery_address="Storgatan 1",
        replacement_choice="return",
    )
    approved = orders.request_approve(request_id=request.pk, actor=tenant.admin)
    return approved.order.devices.get()


def test_a_replaced_device_keeps_the_lease_end_deadline_until_the_replacement_arrives(acme):
    old = leased(acme)
    lease = lease_ending(old, today() + timedelta(days=200))
    replace(acme, old)
    lease.refresh_from_db()
    assert lease.return_reason == ReturnReason.REPLACEMENT
    assert lease.return_due_on == lease.ends_on + timedelta(days=14)


def test_a_replaced_device_is_due_the_grace_days_after_the_replacement_is_delivered(acme):
    old = leased(acme)
    lease = lease_ending(old, today() + timedelta(days=200))
    new = replace(acme, old)
    bring_to(acme, new, S.DELIVERED)
    lease.refresh_from_db()
    assert lease.return_due_on == today() + timedelta(days=14)
    sent = mail(kind="lease_return_due")
    assert sent.recipient == acme.employee
    assert "14 days after your new device was delivered" in sent.body_text


def test_receiving_the_replacement_after_its_delivery_moves_nothing_again(acme):
    old = leased(acme)
    lease_ending(old, today() + timedelta(days=200))
    new = replace(acme, old)
    bring_to(acme, new, S.RECEIVED)
    assert Notification.objects.filter(kind="lease_return_due").count() == 1


def test_a_moved_deadline_is_reminded_again(acme):
    old = leased(acme)
    lease = lease_ending(old, today() - timedelta(days=10))  # due in 4 days for now
    new = replace(acme, old)
    assert leasing.leases_daily(today())["return_reminders"] == 1
    bring_to(acme, new, S.DELIVERED)  # now due in 14 days
    assert not LeaseNotice.objects.filter(lease=lease, kind="return_soon").exists()
    assert leasing.leases_daily(today() + timedelta(days=7))["return_reminders"] == 1


def test_a_device_not_replaced_is_not_moved_by_a_delivery(acme):
    device = leased(acme)
    lease = lease_ending(device, today() + timedelta(days=30))
    lease = choose_return(acme, device)
    due = lease.return_due_on
    device_in(acme, S.DELIVERED, leased=True)
    lease.refresh_from_db()
    assert lease.return_due_on == due


# --- The pages ----------------------------------------------------------------------------------


def long(value):
    return f"{value.day} {value:%B} {value.year}"


def test_the_confirmation_states_the_deadline_and_its_reason(acme, login):
    device = leased(acme)
    lease = lease_ending(device, today() + timedelta(days=40))
    page = login(acme.employee).get(f"/me/devices/{device.pk}/lease/?choice=return")
    page = page.content.decode()
    due = lease.ends_on + timedelta(days=14)
    assert f'data-testid="return-by">{long(due)}<' in page
    assert "14 days after your lease ends on" in page
    assert f"{lease.ends_on.day} {lease.ends_on:%B}" in page


def test_the_choice_page_states_the_deadline_before_choosing(acme, login):
    device = leased(acme)
    lease = lease_ending(device, today() + timedelta(days=40))
    page = login(acme.employee).get(f"/me/devices/{device.pk}/lease/").content.decode()
    assert f"Send it back by <strong>{long(lease.ends_on + timedelta(days=14))}</strong>" in page


def test_the_confirmation_of_a_lease_long_ended_counts_from_today(acme, login):
    device = leased(acme)
    lease_ending(device, today() - timedelta(days=90))
    page = login(acme.employee).get(f"/me/devices/{device.pk}/lease/?choice=return")
    page = page.content.decode()
    assert f'data-testid="return-by">{long(today() + timedelta(days=14))}<' in page
    assert "14 days from today, as your lease ended on" in page


def test_your_details_shows_the_new_deadline(acme, login):
    device = leased(acme)
    lease = lease_ending(device, today() + timedelta(days=40))
    client = login(acme.employee)
    client.post(f"/me/devices/{device.pk}/lease/", {"choice": "return"})
    page = client.get("/me/").content.decode()
    assert f"Return by {long(lease.ends_on + timedelta(days=14))}" in page
