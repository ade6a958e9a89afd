"""Leased hardware: leases open on receipt, the return goes out from the right party and
is confirmed by the partner, the buyout is paid by card or salary, lease ends are announced
once per threshold, and a leased device leaves the fleet only after its settlement."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from budgets.models import CardPayment
from companies.services import company_update_policy
from devices import lifecycle
from devices.engine import TransitionRefused
from devices.models import DeviceStatus
from leasing import selectors
from leasing import services as leasing
from leasing.models import Buyout, Lease, LeaseNotice, LeasingArrangement, ReturnSender
from notifications.models import Notification
from orders import services as orders
from tests.helpers import (
    DECLINED,
    VISA,
    budget_for,
    device_in,
    mail,
    pay_buyout,
    pay_checkout,
    processor,
)

S = DeviceStatus


def leased_device(tenant, status=S.ACTIVE, **kwargs):
    return device_in(tenant, status, leased=True, **kwargs)


def arrange(tenant, sender=ReturnSender.LEASING_COMPANY, **extra):
    return LeasingArrangement.objects.create(
        company=tenant.company,
        leasing_company=tenant.company.leasing_company,
        partner=tenant.partner,
        return_instructions_from=sender,
        **extra,
    )


def ends_in(device, days: int) -> Lease:
    """Test set-up: move the lease's end to ``days`` from today."""
    lease = Lease.objects.get(device=device)
    lease.starts_on = timezone.localdate() - timedelta(days=1000)
    lease.ends_on = timezone.localdate() + timedelta(days=days)
    lease.save()
    return lease


# --- 1. Leases ---------------------------------------------------------------------------------


def test_a_lease_opens_when_a_leased_device_is_received(acme, login):
    device = leased_device(acme, S.RECEIVED)
    lease = Lease.objects.get(device=device)
    assert lease.leasing_company == acme.company.leasing_company
    assert lease.partner == acme.partner
    assert lease.monthly_price == Decimal("40.00") and lease.currency == "EUR"
    assert lease.starts_on == device.received_on
    assert (lease.ends_on - lease.starts_on).days in range(1090, 1100)  # 36 months
    page = login(acme.employee).get("/me/").content.decode()
    assert f"Lease ends {lease.ends_on:%-d %B %Y}" in page
    device_page = login(acme.employee).get(f"/me/devices/{device.pk}/").content.decode()
    assert "Lease ends" in device_page and acme.company.leasing_company.name in device_page


def test_a_bought_device_gets_no_lease(acme):
    device = device_in(acme, S.RECEIVED)
    assert not Lease.objects.filter(device=device).exists()


def test_auto_receive_on_delivery_opens_the_lease_too(globex):
    device = leased_device(globex, S.SHIPPED)
    lifecycle.devices_deliver(device_ids=[device.pk], actor=globex.partner_staff, source="admin")
    device.refresh_from_db()
    assert device.status == S.RECEIVED  # auto-received by the system
    assert Lease.objects.filter(device=device, status="active").exists()


def test_manual_registration_of_a_leased_device_opens_its_lease(acme):
    device = lifecycle.device_register_manually(
        actor=acme.admin,
        owner_id=acme.employee.pk,
        name="MacBook Air",
        category="laptop",
        leased=True,
        lease_months=24,
        monthly_price=Decimal("55.00"),
    )
    lease = device.lease
    assert device.is_leased and lease.monthly_price == Decimal("55.00")
    assert lease.leasing_company == acme.company.leasing_company


# --- 2. Who sends the return e-mail ---------------------------------------------------------


@pytest.mark.parametrize("sender", [ReturnSender.PARTNER, ReturnSender.LEASING_COMPANY])
def test_return_instructions_come_from_the_arranged_party(acme, sender):
    arrange(acme, sender, return_steps="Drop it at the nearest post office.")
    device = leased_device(acme)
    leasing.lease_choose(device_id=device.pk, actor=acme.employee, choice="return")
    device.refresh_from_db()
    assert device.status == S.PROCESSING_TRADE_IN
    lease = Lease.objects.get(device=device)
    # due the company's grace days (14 by default) after the lease ends, not after the click
    assert lease.return_due_on == lease.ends_on + timedelta(days=14)
    sent = mail(kind="lease_return_instructions", recipient=acme.employee)
    if sender == ReturnSender.PARTNER:
        name, email = acme.partner.name, acme.partner.support_email
    else:
        financier = acme.company.leasing_company
        name, email = financier.name, financier.contact_email
    assert sent.from_email.startswith(f'"{name} via Velory"') or sent.from_email.startswith(
        f"{name} via Velory"
    )
    assert sent.reply_to == email
    assert "Drop it at the nearest post office." in sent.body_text
    assert sent.body_text.rstrip().endswith("(sent through Velory)")
    assert f"Kind regards,\n{name}" in sent.body_text and email in sent.body_text


def test_return_instructions_reach_the_inbox_signed_by_the_party(acme, smtp, after_commit):
    arrange(acme, ReturnSender.LEASING_COMPANY)
    device = leased_device(acme)
    with after_commit():
        leasing.lease_choose(device_id=device.pk, actor=acme.employee, choice="return")
    [message] = [m for m in smtp.parsed() if "How to return" in m["Subject"]]
    assert acme.company.leasing_company.name in message["From"]
    assert message["Reply-To"] == acme.company.leasing_company.contact_email


# --- 3. Replacing a leased device ------------------------------------------------------------


def leased_product(tenant, **extra):
    from tests.helpers import product_for

    return product_for(tenant, leased=True, **extra)


def request_replacement(tenant, product, **kwargs):
    from budgets.models import Budget

    if not Budget.objects.filter(employee=tenant.employee).exists():
        budget_for(tenant, "5000.00")
    return orders.request_submit(
        employee=tenant.employee,
        product_id=product.pk,
        delivery_address="Storgatan 1",
        **kwargs,
    )


def test_a_leased_request_asks_what_happens_to_the_old_leased_device(acme):
    old = leased_device(acme)
    product = leased_product(acme)
    with pytest.raises(ValidationError, match="return it or buy it out"):
        request_replacement(acme, product)
    request = request_replacement(acme, product, replacement_choice="return")
    assert request.replaces_device == old and request.replacement_choice == "return"


def test_a_request_without_a_leased_device_to_replace_asks_nothing(acme):
    device_in(acme, S.ACTIVE)  # bought, not leased
    request = request_replacement(acme, leased_product(acme))
    assert request.replaces_device is None


def test_approval_starts_the_return_of_the_replaced_device(acme):
    arrange(acme, ReturnSender.PARTNER)
    old = leased_device(acme)
    request = request_replacement(acme, leased_product(acme), replacement_choice="return")
    assert old.__class__.objects.get(pk=old.pk).status == S.ACTIVE  # nothing before approval
    approved = orders.request_approve(request_id=request.pk, actor=acme.admin)
    old.refresh_from_db()
    assert old.status == S.PROCESSING_TRADE_IN
    event = old.events.first()
    assert event.actor is None and approved.order.number in event.note
    assert mail(kind="lease_return_instructions").reply_to == acme.partner.support_email


def test_approval_puts_the_replaced_device_up_for_buyout(acme):
    old = leased_device(acme)
    request = request_replacement(acme, leased_product(acme), replacement_choice="buyout")
    orders.request_approve(request_id=request.pk, actor=acme.admin)
    old.refresh_from_db()
    assert old.status == S.PENDING_BUYOUT
    buyout = Buyout.objects.get(lease__device=old)
    assert buyout.status == "pending" and buyout.price > 0
    assert f"€{buyout.price:,}" in mail(kind="lease_buyout_offer").body_text


def test_buyout_of_the_replaced_device_is_refused_where_policy_forbids(globex):
    leased_device(globex)
    with pytest.raises(ValidationError, match="does not allow buyouts"):
        request_replacement(globex, leased_product(globex), replacement_choice="buyout")


def test_the_request_form_offers_buyout_only_where_policy_allows(acme, globex, login):
    leased_device(acme)
    leased_device(globex)
    budget_for(acme)
    budget_for(globex)
    page = login(acme.employee).get(f"/catalogue/{leased_product(acme).pk}/").content.decode()
    assert "What happens to it" in page and 'value="buyout"' in page
    page = login(globex.employee).get(f"/catalogue/{leased_product(globex).pk}/").content.decode()
    assert "What happens to it" in page and 'value="buyout"' not in page


# --- 4. Return -----------------------------------------------------------------------------------


def test_the_partner_confirms_the_return_and_the_lease_closes(acme):
    device = leased_device(acme)
    leasing.lease_choose(device_id=device.pk, actor=acme.employee, choice="return")
    [refused] = leasing.trade_ins_confirm(device_ids=[device.pk], actor=acme.employee)
    assert refused.result == "refused"  # the employee cannot say it arrived
    [outcome] = lifecycle.devices_apply(
        transition="confirm_trade_in", device_ids=[device.pk], actor=acme.partner_staff,
        source="admin",
    )  # fmt: skip
    assert outcome.changed
    device.refresh_from_db()
    lease = Lease.objects.get(device=device)
    assert device.status == S.TRADED_IN
    assert lease.status == "closed" and lease.outcome == "returned"
    assert mail(kind="lease_returned").recipient == acme.employee


def test_return_reminders_go_before_and_after_the_deadline_once_each(acme):
    arrange(acme)
    company_update_policy(company=acme.company, actor=acme.admin, return_grace_days=10)
    device = leased_device(acme)
    ends_in(device, 0)  # due 10 days after the lease's end, today
    leasing.lease_choose(device_id=device.pk, actor=acme.employee, choice="return")
    today = timezone.localdate()
    assert leasing.leases_daily(today)["return_reminders"] == 0  # 10 days left
    assert leasing.leases_daily(today + timedelta(days=4))["return_reminders"] == 1
    assert leasing.leases_daily(today + timedelta(days=5))["return_reminders"] == 0
    assert Notification.objects.filter(kind="lease_return_reminder").count() == 1
    late = today + timedelta(days=11)
    assert leasing.leases_daily(late)["returns_overdue"] == 1
    assert leasing.leases_daily(late)["returns_overdue"] == 0
    assert Notification.objects.filter(kind="lease_return_overdue").count() == 1
    assert mail(kind="lease_return_overdue_admin").recipient == acme.admin


def test_company_admin_sees_overdue_returns(acme, globex, login):
    device = leased_device(acme)
    leasing.lease_choose(device_id=device.pk, actor=acme.employee, choice="return")
    Lease.objects.filter(device=device).update(return_due_on=timezone.localdate() - timedelta(1))
    assert selectors.returns_overdue_count(acme.admin) == 1
    assert selectors.returns_overdue_count(globex.admin) == 0
    page = login(acme.admin).get("/admin/leasing/lease/?overdue=yes").content.decode()
    assert "1 return overdue" in page and device.name in page


# --- 5. Buyout -----------------------------------------------------------------------------------


def start_buyout(tenant):
    device = leased_device(tenant)
    leasing.lease_choose(device_id=device.pk, actor=tenant.employee, choice="buyout")
    return device


def test_buyout_paid_by_card_makes_the_device_the_employees(acme):
    device = start_buyout(acme)
    buyout = pay_buyout(device, acme.employee)
    device.refresh_from_db()
    assert buyout.status == "paid" and buyout.method == "card"
    assert device.status == S.BOUGHT_OUT
    lease = Lease.objects.get(device=device)
    assert lease.status == "closed" and lease.outcome == "bought_out"
    payment = CardPayment.objects.get()
    assert payment.status == "succeeded" and payment.amount == buyout.price
    assert payment.capture_method == "automatic"
    assert "•••• 4242" in device.events.first().note
    assert mail(kind="lease_buyout_paid").recipient == acme.employee


def test_a_declined_card_changes_nothing_and_a_new_card_then_pays(acme):
    device = start_buyout(acme)
    payment = leasing.buyout_checkout(device_id=device.pk, actor=acme.employee)
    pay_checkout(payment, DECLINED)  # declined on the processor's page
    assert payment.status == "pending" and "declined" in payment.error
    device.refresh_from_db()
    assert device.status == S.PENDING_BUYOUT
    assert not CardPayment.objects.filter(status="succeeded").exists()
    pay_checkout(payment, VISA)  # another card on the same page
    assert CardPayment.objects.filter(status="succeeded").count() == 1
    device.refresh_from_db()
    assert device.status == S.BOUGHT_OUT


def test_paying_twice_charges_once(acme):
    device = start_buyout(acme)
    first = leasing.buyout_checkout(device_id=device.pk, actor=acme.employee)
    again = leasing.buyout_checkout(device_id=device.pk, actor=acme.employee)
    assert again.pk == first.pk and again.checkout_session_id == first.checkout_session_id
    pay_checkout(first, VISA)
    with pytest.raises(leasing.BuyoutRefused, match="already bought out"):
        leasing.buyout_checkout(device_id=device.pk, actor=acme.employee)
    assert CardPayment.objects.count() == 1


def test_a_processor_that_is_down_charges_nothing_and_the_employee_pays_once_it_is_back(acme):
    device = start_buyout(acme)
    processor().down = True
    with pytest.raises(leasing.BuyoutRefused, match="Nothing was charged"):
        leasing.buyout_checkout(device_id=device.pk, actor=acme.employee)
    processor().down = False
    device.refresh_from_db()
    assert device.status == S.PENDING_BUYOUT
    assert not CardPayment.objects.filter(status="succeeded").exists()
    buyout = pay_buyout(device, acme.employee)
    device.refresh_from_db()
    assert buyout.status == "paid" and device.status == S.BOUGHT_OUT
    assert CardPayment.objects.get().status == "succeeded"  # the same payment, once


def test_a_payment_velory_did_not_hear_of_is_completed_by_the_sweeper_not_charged_again(acme):
    from budgets.payments import get_gateway, to_minor

    device = start_buyout(acme)
    payment = leasing.buyout_checkout(device_id=device.pk, actor=acme.employee)
    # Paid on the processor's page; the return and the webhook never reach Velory.
    pay_checkout(payment, VISA, report=False)
    assert orders.payments_sweep()["changed"] == 0  # too young to ask about yet
    device.refresh_from_db()
    assert device.status == S.PENDING_BUYOUT
    CardPayment.objects.update(created_at=timezone.now() - timedelta(minutes=3))
    assert orders.payments_sweep()["changed"] == 1
    device.refresh_from_db()
    payment.refresh_from_db()
    assert device.status == S.BOUGHT_OUT and payment.status == "succeeded"
    assert CardPayment.objects.count() == 1
    assert get_gateway().intent_get(payment.charge_id).amount_received == to_minor(payment.amount)
    assert orders.payments_sweep()["changed"] == 0  # a second sweep changes nothing


def test_withdrawing_a_buyout_during_its_checkout_closes_the_checkout(acme, after_commit):
    device = start_buyout(acme)
    payment = leasing.buyout_checkout(device_id=device.pk, actor=acme.employee)
    with after_commit():
        leasing.buyout_withdraw(device_id=device.pk, actor=acme.employee)
    payment.refresh_from_db()
    device.refresh_from_db()
    assert device.status == S.ACTIVE and payment.status == "voided"
    result = pay_checkout(payment, VISA)  # the page is closed: nothing can be paid
    payment.refresh_from_db()
    assert payment.status == "voided" and result.redirect is None
    assert not CardPayment.objects.filter(status="succeeded").exists()


def test_the_employee_withdraws_a_buyout_before_paying(acme):
    device = start_buyout(acme)
    leasing.buyout_withdraw(device_id=device.pk, actor=acme.employee)
    device.refresh_from_db()
    assert device.status == S.ACTIVE
    assert Buyout.objects.get().status == "withdrawn"
    assert Lease.objects.get(device=device).choice == ""
    with pytest.raises(leasing.BuyoutRefused, match="no buyout waiting"):
        leasing.buyout_checkout(device_id=device.pk, actor=acme.employee)


def test_salary_deduction_is_recorded_for_the_payroll_export(acme, login):
    acme.company.buyout_payment = "salary"
    acme.company.save()
    device = start_buyout(acme)
    with pytest.raises(leasing.BuyoutRefused, match="salary deduction"):
        leasing.buyout_checkout(device_id=device.pk, actor=acme.employee)
    buyout = leasing.buyout_pay_by_salary(device_id=device.pk, actor=acme.employee)
    device.refresh_from_db()
    assert device.status == S.BOUGHT_OUT and buyout.method == "salary"
    assert not CardPayment.objects.exists()
    response = login(acme.admin).post(
        "/admin/leasing/buyout/",
        {"action": "export_payroll", "_selected_action": [buyout.pk]},
    )
    body = b"".join(response.streaming_content).decode()
    assert response["Content-Type"].startswith("text/csv")
    assert acme.employee.email in body and str(buyout.price) in body
    assert Buyout.objects.get().payroll_exported_at is not None


def test_buyout_is_refused_where_the_policy_forbids_it(globex):
    device = leased_device(globex)
    with pytest.raises(TransitionRefused, match="does not allow buyouts"):
        leasing.lease_choose(device_id=device.pk, actor=globex.employee, choice="buyout")
    with pytest.raises(TransitionRefused, match="does not allow buyouts"):
        leasing.lease_choose(device_id=device.pk, actor=globex.admin, choice="buyout")
    device.refresh_from_db()
    assert device.status == S.ACTIVE and not Buyout.objects.exists()


def test_return_or_buyout_of_a_device_that_is_not_leased_or_not_in_use_is_refused(acme):
    bought = device_in(acme, S.ACTIVE)
    with pytest.raises(TransitionRefused, match="not leased"):
        leasing.lease_choose(device_id=bought.pk, actor=acme.employee, choice="return")
    device = leased_device(acme)
    leasing.lease_choose(device_id=device.pk, actor=acme.employee, choice="return")
    with pytest.raises(TransitionRefused, match="Processed for trade in"):
        leasing.lease_choose(device_id=device.pk, actor=acme.employee, choice="buyout")
    device.refresh_from_db()
    assert device.status == S.PROCESSING_TRADE_IN


def test_asking_twice_changes_nothing_the_second_time(acme):
    device = leased_device(acme)
    leasing.lease_choose(device_id=device.pk, actor=acme.employee, choice="buyout")
    again = leasing.lease_choose(device_id=device.pk, actor=acme.employee, choice="buyout")
    assert not again.changed and Buyout.objects.count() == 1
    assert Notification.objects.filter(kind="lease_buyout_offer").count() == 1


def test_another_employees_device_is_not_found(acme, globex):
    device = leased_device(acme)
    from devices.models import Device

    for stranger in (acme.colleague, globex.employee):
        with pytest.raises(Device.DoesNotExist):
            leasing.lease_choose(device_id=device.pk, actor=stranger, choice="return")


# --- 6. Lease end --------------------------------------------------------------------------------


def test_lease_end_notices_go_once_per_threshold_even_when_the_job_runs_twice(acme):
    device = leased_device(acme)
    lease = ends_in(device, 100)
    today = timezone.localdate()
    assert leasing.leases_daily(today)["end_notices"] == 0
    day = today + timedelta(days=10)  # 90 days left
    assert leasing.leases_daily(day)["end_notices"] == 1
    assert leasing.leases_daily(day)["end_notices"] == 0
    assert leasing.leases_daily(day + timedelta(days=1))["end_notices"] == 0
    assert leasing.leases_daily(today + timedelta(days=40))["end_notices"] == 1  # 60
    assert leasing.leases_daily(today + timedelta(days=70))["end_notices"] == 1  # 30
    assert leasing.leases_daily(today + timedelta(days=71))["end_notices"] == 0
    sent = Notification.objects.filter(kind="lease_end_notice", recipient=acme.employee)
    assert sent.count() == 3
    assert set(LeaseNotice.objects.filter(lease=lease).values_list("kind", flat=True)) == {
        "end_90",
        "end_60",
        "end_30",
    }
    assert Notification.objects.filter(kind="lease_end_admin", recipient=acme.admin).count() == 3


def test_a_lease_found_late_gets_only_the_nearest_notice(acme):
    device = leased_device(acme)
    ends_in(device, 25)
    leasing.leases_daily()
    assert list(LeaseNotice.objects.values_list("kind", flat=True)) == ["end_30"]
    notice = mail(kind="lease_end_notice")
    assert f"/me/devices/{device.pk}/lease/" in notice.body_text


def test_a_chosen_lease_gets_no_more_notices(acme):
    device = leased_device(acme)
    ends_in(device, 50)
    leasing.lease_choose(device_id=device.pk, actor=acme.employee, choice="buyout")
    assert leasing.leases_daily()["end_notices"] == 0


def test_the_employee_sees_the_unanswered_notice_on_your_details(acme, login):
    device = leased_device(acme)
    ends_in(device, 45)
    leasing.leases_daily()
    page = login(acme.employee).get("/me/").content.decode()
    assert 'data-testid="lease-due"' in page and f"/me/devices/{device.pk}/lease/" in page
    leasing.lease_choose(device_id=device.pk, actor=acme.employee, choice="return")
    assert 'data-testid="lease-due"' not in login(acme.employee).get("/me/").content.decode()


def test_a_lease_past_its_end_with_no_choice_is_escalated_once(acme):
    device = leased_device(acme)
    ends_in(device, -1)
    assert leasing.leases_daily()["escalated"] == 1
    assert leasing.leases_daily()["escalated"] == 0
    escalation = mail(kind="lease_escalated")
    assert escalation.recipient == acme.admin and device.name in escalation.subject


def test_forecast_counts_leases_ending_per_month_for_twelve_months(acme, globex, login):
    for days in (5, 40, 40, 200, 500):
        ends_in(leased_device(acme), days)
    ends_in(leased_device(globex), 40)
    months = selectors.lease_forecast(acme.admin)
    assert len(months) == 12 and sum(m["count"] for m in months) == 4  # 500 days is beyond
    assert (
        selectors.lease_forecast(globex.admin)[0]["count"]
        + selectors.lease_forecast(globex.admin)[1]["count"]
        + selectors.lease_forecast(globex.admin)[2]["count"]
        == 1
    )
    page = login(acme.admin).get("/admin/leasing/lease/forecast/")
    assert page.status_code == 200 and "Leases ending per month" in page.content.decode()


# --- 7. Removed ----------------------------------------------------------------------------------


def test_a_leased_device_is_removed_only_after_its_settlement(acme):
    device = leased_device(acme)
    with pytest.raises(TransitionRefused, match="settlement"):
        lifecycle.device_remove(device_id=device.pk, actor=acme.admin, reason="Stolen from car")
    lease = Lease.objects.get(device=device)
    leasing.lease_record_settlement(
        lease_id=lease.pk, actor=acme.admin, amount="450.00", reference="NL-77"
    )
    outcome = lifecycle.device_remove(
        device_id=device.pk, actor=acme.admin, reason="Stolen from car", kind="stolen"
    )
    assert outcome.changed
    device.refresh_from_db()
    lease.refresh_from_db()
    assert device.status == S.REMOVED and "Stolen: Stolen from car" in device.events.first().note
    assert lease.status == "closed" and lease.outcome == "removed"
    assert lease.settlement_amount == Decimal("450.00")


def test_removal_needs_a_reason_and_a_company_admin(acme):
    device = device_in(acme, S.ACTIVE)
    with pytest.raises(ValidationError):
        lifecycle.device_remove(device_id=device.pk, actor=acme.admin, reason=" ")
    with pytest.raises(TransitionRefused):
        lifecycle.device_remove(device_id=device.pk, actor=acme.employee, reason="lost it")
    with pytest.raises(TransitionRefused):
        leasing.lease_record_settlement(
            lease_id=Lease.objects.get(device=leased_device(acme)).pk,
            actor=acme.partner_staff,
            amount="1",
        )
    assert lifecycle.device_remove(device_id=device.pk, actor=acme.admin, reason="Sold").changed


# --- The portal pages ------------------------------------------------------------------------


def test_portal_return_flow(acme, login):
    arrange(acme, ReturnSender.LEASING_COMPANY)
    device = leased_device(acme)
    client = login(acme.employee)
    page = client.get(f"/me/devices/{device.pk}/lease/").content.decode()
    assert "Return the device" in page and "Buy out for" in page
    response = client.post(f"/me/devices/{device.pk}/lease/", {"choice": "return"})
    assert response.status_code == 302
    page = client.get(f"/me/devices/{device.pk}/").content.decode()
    assert "Processed for trade in" in page and "Return by" in page
    assert acme.company.leasing_company.contact_email in page


def test_portal_buyout_flow_with_a_declined_then_a_good_card(acme, login):
    device = leased_device(acme)
    client = login(acme.employee)
    response = client.post(f"/me/devices/{device.pk}/lease/", {"choice": "buyout"})
    assert response["Location"] == f"/me/devices/{device.pk}/buyout/"
    page = client.get(f"/me/devices/{device.pk}/buyout/").content.decode()
    assert "card_number" not in page and "cc-number" not in page
    response = client.post(f"/me/devices/{device.pk}/buyout/")
    payment = CardPayment.objects.get()
    assert response.status_code == 302 and response["Location"] == payment.checkout_url
    # On the processor's page: declined first (the page says so, nothing is charged) ...
    declined = pay_checkout(payment, DECLINED, report=False)
    assert declined.redirect is None and "declined" in (declined.error or "")
    # ... then a good card, and the processor sends the employee back to Velory.
    paid = pay_checkout(payment, "4242 4242 4242 4242", report=False)
    back = client.get(paid.redirect.removeprefix("http://127.0.0.1:8000"))
    assert back.status_code == 302 and back["Location"] == f"/me/devices/{device.pk}/"
    page = client.get(f"/me/devices/{device.pk}/").content.decode()
    assert "Bought out by employee" in page
    assert CardPayment.objects.get().status == "succeeded"


def test_the_lease_pages_of_someone_elses_device_are_404(acme, login):
    device = leased_device(acme)
    client = login(acme.colleague)
    for url in ("lease/", "buyout/"):
        assert client.get(f"/me/devices/{device.pk}/{url}").status_code == 404
    assert client.post(f"/me/devices/{device.pk}/lease/", {"choice": "return"}).status_code == 404
    assert client.post(f"/me/devices/{device.pk}/buyout/withdraw/").status_code == 404
    device.refresh_from_db()
    assert device.status == S.ACTIVE


def test_admin_transition_buttons_go_through_the_leasing_use_cases(acme):
    device = leased_device(acme)
    [outcome] = lifecycle.devices_apply(
        transition="start_trade_in", device_ids=[device.pk], actor=acme.admin, source="admin"
    )
    assert outcome.changed and Lease.objects.get(device=device).choice == "return"
    assert Notification.objects.filter(kind="lease_return_instructions").exists()
    other = leased_device(acme)
    [outcome] = lifecycle.devices_apply(
        transition="remove", device_ids=[other.pk], actor=acme.admin, source="admin", note="Lost"
    )
    assert outcome.result == "refused" and "settlement" in outcome.message


def test_returns_wait_in_the_partners_work_queue_and_are_confirmed_in_bulk(acme, login):
    devices = [leased_device(acme) for _ in range(2)]
    for device in devices:
        leasing.lease_choose(device_id=device.pk, actor=acme.employee, choice="return")
    client = login(acme.partner_staff)
    page = client.get(
        "/admin/orders/workqueuedevice/?status__exact=processing_trade_in"
    ).content.decode()
    assert page.count("Processed for trade in") >= 2
    response = client.post(
        "/admin/orders/workqueuedevice/",
        {"action": "transition_confirm_trade_in", "_selected_action": [d.pk for d in devices]},
        follow=True,
    )
    assert response.status_code == 200
    assert Lease.objects.filter(device__in=devices, outcome="returned").count() == 2


@pytest.mark.parametrize("kind", ["end", "escalate", "return"])
def test_the_daily_job_costs_the_same_statements_for_2_or_20_leases(acme, kind):
    """Set-based: a lock, a read of the notices sent, and bulk writes per part."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def run(n):
        devices = [leased_device(acme) for _ in range(n)]
        for device in devices:
            if kind == "return":
                leasing.lease_choose(device_id=device.pk, actor=acme.employee, choice="return")
        days = {"end": 20, "escalate": -3, "return": 0}[kind]
        for device in devices:
            ends_in(device, days)
        if kind == "return":
            Lease.objects.filter(device__in=devices).update(return_due_on=timezone.localdate())
        with CaptureQueriesContext(connection) as ctx:
            report = leasing.leases_daily()
        assert sum(report.values()) == n
        Lease.objects.filter(device__in=devices).update(status="closed")  # out of the next run
        return len(ctx.captured_queries)

    assert run(2) == run(20)


def test_the_device_admin_page_shows_the_lease_and_lease_buttons_only_when_leased(acme, login):
    leased = leased_device(acme)
    bought = device_in(acme, S.ACTIVE)
    client = login(acme.admin)
    page = client.get(f"/admin/devices/device/{leased.pk}/change/").content.decode()
    assert "Start trade-in / return" in page and "Request buyout" in page
    assert acme.company.leasing_company.name in page  # the lease inline
    page = client.get(f"/admin/devices/device/{bought.pk}/change/").content.decode()
    assert "Start trade-in / return" not in page and "Request buyout" not in page
    assert "Remove" in page


def test_an_admin_cannot_complete_a_buyout_whose_card_payment_is_under_way(acme):
    device = start_buyout(acme)
    payment = leasing.buyout_checkout(device_id=device.pk, actor=acme.employee)
    pay_checkout(payment, VISA, report=False)  # paid; Velory has not heard yet
    [outcome] = lifecycle.devices_apply(
        transition="complete_buyout", device_ids=[device.pk], actor=acme.admin, source="admin"
    )
    assert outcome.result == "refused" and "being processed" in outcome.message
    device.refresh_from_db()
    assert device.status == S.PENDING_BUYOUT


def test_only_company_admins_export_payroll_and_each_deduction_once(acme, login):
    acme.company.buyout_payment = "salary"
    acme.company.save()
    device = start_buyout(acme)
    buyout = leasing.buyout_pay_by_salary(device_id=device.pk, actor=acme.employee)
    with pytest.raises(TransitionRefused):
        leasing.buyouts_for_payroll(actor=acme.partner_staff, buyout_ids=[buyout.pk])
    page = login(acme.partner_staff).get("/admin/leasing/buyout/").content.decode()
    assert "export_payroll" not in page
    assert len(leasing.buyouts_for_payroll(actor=acme.admin, buyout_ids=[buyout.pk])) == 1
    assert leasing.buyouts_for_payroll(actor=acme.admin, buyout_ids=[buyout.pk]) == []


def test_approval_goes_on_when_the_replaced_device_has_moved_on(acme):
    old = leased_device(acme)
    request = request_replacement(acme, leased_product(acme), replacement_choice="return")
    leasing.lease_choose(device_id=old.pk, actor=acme.employee, choice="buyout")
    pay_buyout(old, acme.employee)
    approved = orders.request_approve(request_id=request.pk, actor=acme.admin)
    assert approved.status == "approved"
    old.refresh_from_db()
    assert old.status == S.BOUGHT_OUT
    assert approved.order.events.filter(message__contains="left as it is").exists()


def test_a_leased_device_lost_before_receipt_also_needs_its_settlement(acme):
    device = leased_device(acme, S.DELIVERED)
    with pytest.raises(TransitionRefused, match="settlement"):
        lifecycle.device_remove(device_id=device.pk, actor=acme.admin, reason="Lost in transit")
    lease = Lease.objects.get(device=device)  # opened so the settlement can be recorded
    leasing.lease_record_settlement(lease_id=lease.pk, actor=acme.admin, amount="0")
    assert lifecycle.device_remove(device_id=device.pk, actor=acme.admin, reason="Lost").changed


def test_leases_carry_their_buyout_price_for_the_forecast(acme):
    arrange(acme, residual_percent=Decimal("20"))
    device = leased_device(acme)
    lease = ends_in(device, 10)
    assert lease.buyout_price == Decimal("240.00")  # 20% of 1200.00
    [month] = [m for m in selectors.lease_forecast(acme.admin) if m["count"]]
    assert month["buyout"] == [(Decimal("240.00"), "EUR")]
    assert str(month["buyout"][0][0]) == "240.00" and str(month["monthly"][0][0]) == "40.00"


def test_a_second_run_that_finds_new_leases_sends_its_own_digest(acme):
    first, second = leased_device(acme), leased_device(acme)
    ends_in(first, 20)
    leasing.leases_daily()
    ends_in(second, 20)
    leasing.leases_daily()
    digests = Notification.objects.filter(kind="lease_end_admin", recipient=acme.admin)
    assert digests.count() == 2


def test_partner_staff_opening_a_leased_product_get_no_error(acme, login):
    page = login(acme.partner_staff).get(f"/catalogue/{leased_product(acme).pk}/")
    assert page.status_code in (200, 302, 403, 404)


def test_plain_text_mail_shows_names_and_links_as_written(acme):
    acme.partner.name = "Smith & O'Neill"
    acme.partner.save()
    arrange(acme, ReturnSender.PARTNER, return_steps="Print https://x.example/label?a=1&b=2")
    device = leased_device(acme)
    leasing.lease_choose(device_id=device.pk, actor=acme.employee, choice="return")
    sent = mail(kind="lease_return_instructions")
    assert "Smith & O'Neill" in sent.body_text and "label?a=1&b=2" in sent.body_text
    assert "&amp;" not in sent.body_text and "&#x27;" not in sent.body_text


def test_leased_hardware_registered_by_hand_goes_back_through_the_arranged_reseller(acme):
    arrange(acme, ReturnSender.PARTNER)
    device = lifecycle.device_register_manually(
        actor=acme.admin,
        owner_id=acme.employee.pk,
        name="MacBook Air",
        category="laptop",
        leased=True,
        lease_months=24,
        monthly_price=Decimal("55.00"),
    )
    assert device.partner == acme.partner and device.lease.partner == acme.partner
    leasing.lease_choose(device_id=device.pk, actor=acme.employee, choice="return")
    [outcome] = leasing.trade_ins_confirm(device_ids=[device.pk], actor=acme.partner_staff)
    assert outcome.changed


def test_an_arrangement_refuses_a_residual_over_100_percent(acme):
    arrangement = LeasingArrangement(
        company=acme.company,
        leasing_company=acme.company.leasing_company,
        residual_percent=Decimal("150"),
        return_days=0,
    )
    with pytest.raises(ValidationError) as error:
        arrangement.full_clean()
    assert {"residual_percent", "return_days"} <= set(error.value.message_dict)


def test_a_buyout_left_unpaid_past_the_lease_end_is_escalated_once(acme):
    device = start_buyout(acme)
    ends_in(device, -2)
    assert leasing.leases_daily()["escalated"] == 1
    assert leasing.leases_daily()["escalated"] == 0
    escalation = mail(kind="lease_escalated")
    assert "unpaid buyout" in escalation.subject and "has not been paid" in escalation.body_text
