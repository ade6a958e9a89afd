"""The partner's work queue and the transition buttons: each row done or refused with its
reason, one refused row never stopping the others, everything through the services."""

import pytest

from devices.models import Device, DeviceEvent, DeviceStatus
from orders.models import Shipment
from tests.conftest import make_tenant
from tests.helpers import bring_to, device_in, place_order

pytestmark = pytest.mark.django_db
S = DeviceStatus
QUEUE = "/admin/orders/workqueuedevice/"


def post_action(client, action, ids, **extra):
    data = {"action": action, "_selected_action": [str(i) for i in ids], "index": "0", **extra}
    return client.post(QUEUE, data, follow=True)


def messages_of(response):
    return [str(m) for m in response.context["messages"]]


def test_queue_lists_what_waits_on_the_partner(login, acme, globex):
    waiting = device_in(acme, S.PREPARING)
    done = device_in(acme, S.DELIVERED)
    foreign = device_in(globex, S.PREPARING)
    body = login(acme.partner_staff).get(QUEUE).content.decode()
    assert f'value="{waiting.pk}"' in body
    assert f'value="{done.pk}"' not in body and f'value="{foreign.pk}"' not in body


def test_bulk_start_preparing_with_a_mix_of_allowed_and_refused(login, acme):
    ok = place_order(acme).devices.get()
    shipped = device_in(acme, S.SHIPPED)
    client = login(acme.partner_staff)
    response = post_action(client, "transition_start_preparing", [ok.pk, shipped.pk])
    text = " ".join(messages_of(response))
    assert "Start preparing: done for 1 of 2." in text
    assert "refused — " in text and "is Shipped" in text
    assert Device.objects.get(pk=ok.pk).status == S.PREPARING
    assert Device.objects.get(pk=shipped.pk).status == S.SHIPPED


def test_bulk_hold_asks_for_a_reason_first(login, acme):
    device = place_order(acme).devices.get()
    client = login(acme.partner_staff)
    page = post_action(client, "transition_put_on_hold", [device.pk])
    assert 'name="reason"' in page.content.decode()
    assert Device.objects.get(pk=device.pk).status == S.ORDERED
    empty = post_action(client, "transition_put_on_hold", [device.pk], apply="1", reason="")
    assert "This field is required" in empty.content.decode()
    post_action(
        client, "transition_put_on_hold", [device.pk], apply="1", reason="Waiting for colour choice"
    )
    device.refresh_from_db()
    assert device.status == S.ON_HOLD
    assert DeviceEvent.objects.filter(device=device).first().note == "Waiting for colour choice"


def test_bulk_ship_one_tracking_number_per_order_across_companies(login, acme):
    other = make_tenant("initech", tracking=True)
    acme.partner.companies.add(other.company)
    first = device_in(acme, S.PREPARING)
    second = device_in(acme, S.PREPARING)
    third = place_order(other, employee=other.employee)
    # the acme partner serves initech too: its staff ship for both companies
    third.partner = acme.partner
    third.save()
    Device.objects.filter(order=third).update(partner=acme.partner)
    third_device = bring_to(acme, third.devices.get(), S.PREPARING)
    client = login(acme.partner_staff)
    ids = [first.pk, second.pk, third_device.pk]
    form = post_action(client, "transition_ship", ids)
    html = form.content.decode()
    assert html.count('name="o') >= 3 * 4  # carrier, number, link, date per order
    data = {}
    for d in (first, second, third_device):
        data[f"o{d.order_id}-carrier"] = "PostNord"
        data[f"o{d.order_id}-tracking_number"] = f"PN{d.pk}SE"
    data[f"o{second.order_id}-tracking_number"] = ""  # forgotten: required where tracking is shared
    missing = post_action(client, "transition_ship", ids, apply="1", **data)
    text = " ".join(messages_of(missing))
    assert "Ship: done for 2 of 3." in text and "tracking number is required" in text
    assert {s.tracking_number for s in Shipment.objects.all()} == {
        f"PN{first.pk}SE",
        f"PN{third_device.pk}SE",
    }
    assert Device.objects.get(pk=second.pk).status == S.PREPARING


def test_bulk_deliver(login, acme):
    shipped = device_in(acme, S.SHIPPED)
    response = post_action(login(acme.partner_staff), "transition_deliver", [shipped.pk])
    assert "Mark delivered: done for 1 of 1." in " ".join(messages_of(response))
    assert Device.objects.get(pk=shipped.pk).status == S.DELIVERED


def test_forged_bulk_action_on_another_tenants_rows_changes_nothing(login, acme, globex):
    foreign = place_order(globex).devices.get()
    response = post_action(login(acme.partner_staff), "transition_acknowledge", [foreign.pk])
    assert Device.objects.get(pk=foreign.pk).status == S.ORDERED
    assert response.status_code == 200


def test_company_admins_get_no_queue_and_no_partner_actions(login, acme):
    client = login(acme.admin)
    assert client.get(QUEUE).status_code == 403
    device = place_order(acme).devices.get()
    response = client.post(
        "/admin/devices/device/",
        {"action": "transition_ship", "_selected_action": [device.pk], "index": "0"},
        follow=True,
    )
    assert Device.objects.get(pk=device.pk).status == S.ORDERED
    assert "No action selected" in response.content.decode() or response.status_code == 200


def test_device_page_buttons_follow_role_and_status(login, acme):
    device = device_in(acme, S.PREPARING)
    partner_page = (
        login(acme.partner_staff).get(f"/admin/devices/device/{device.pk}/change/").content.decode()
    )
    for name in ("put_on_hold", "backorder", "ship", "cancel"):
        assert f'data-testid="action-{name}"' in partner_page
    assert 'data-testid="action-mark_received"' not in partner_page
    admin_page = (
        login(acme.admin).get(f"/admin/devices/device/{device.pk}/change/").content.decode()
    )
    assert (
        'data-testid="action-cancel"' in admin_page
        and 'data-testid="action-ship"' not in admin_page
    )


def test_ship_button_needs_carrier_and_tracking(login, acme):
    device = device_in(acme, S.PREPARING)
    client = login(acme.partner_staff)
    url = f"/admin/devices/device/{device.pk}/act/ship/"
    empty = client.post(url, {"carrier": "PostNord", "tracking_number": ""})
    assert "tracking number is required" in empty.content.decode()
    client.post(url, {"carrier": "PostNord", "tracking_number": "PN42SE"})
    device.refresh_from_db()
    assert device.status == S.SHIPPED and device.shipment.tracking_number == "PN42SE"


def test_a_company_admin_cannot_ship_even_by_forging_the_url(login, acme):
    device = device_in(acme, S.PREPARING)
    response = login(acme.admin).post(
        f"/admin/devices/device/{device.pk}/act/ship/",
        {"carrier": "X", "tracking_number": "Y"},
        follow=True,
    )
    assert "That action is not available" in response.content.decode()
    assert Device.objects.get(pk=device.pk).status == S.PREPARING


def test_partner_staff_cannot_mark_received_even_by_forging_the_url(login, acme):
    device = device_in(acme, S.DELIVERED)
    response = login(acme.partner_staff).post(
        f"/admin/devices/device/{device.pk}/act/mark_received/", follow=True
    )
    assert "That action is not available" in response.content.decode()
    assert Device.objects.get(pk=device.pk).status == S.DELIVERED


def test_company_admin_removes_a_lost_device_with_a_reason(login, acme):
    device = device_in(acme, S.ACTIVE)
    client = login(acme.admin)
    client.post(f"/admin/devices/device/{device.pk}/act/remove/", {"reason": "Stolen from a car"})
    device.refresh_from_db()
    assert device.status == S.REMOVED
    assert DeviceEvent.objects.filter(device=device).first().note == "Stolen from a car"


def test_order_page_buttons_act_on_its_items(login, acme):
    order = place_order(acme, items=2)
    client = login(acme.partner_staff)
    page = client.get(f"/admin/orders/order/{order.pk}/change/").content.decode()
    assert "Acknowledge (2 of 2 items)" in page
    client.post(f"/admin/orders/order/{order.pk}/act/acknowledge/")
    assert set(order.devices.values_list("status", flat=True)) == {S.NOT_STARTED}


def test_company_admin_sets_the_policy(login, acme):
    client = login(acme.admin)
    page = client.get(f"/admin/companies/company/{acme.company.pk}/change/").content.decode()
    assert "auto_receive_on_delivery" in page and "card_payments_allowed" in page
    response = client.post(
        f"/admin/companies/company/{acme.company.pk}/change/",
        {
            "auto_receive_on_delivery": "on",
            "card_payments_allowed": "on",
            "buyout_payment": "salary",
            "support_name": "Help",
            "support_email": "help@acme.example",
            "support_phone": "1",
            "return_grace_days": "14",
            "useful_life_months": "36",
            "depreciation_floor_percent": "10",
            "sso_password_allowed": "on",  # ticked, as the page shows it
            "default_language": "fi",
            "time_zone": "Europe/Helsinki",
        },
    )
    assert response.status_code == 302
    acme.company.refresh_from_db()
    assert acme.company.auto_receive_on_delivery and acme.company.card_payments_allowed
    assert not acme.company.buyout_allowed  # unticked
    assert acme.company.buyout_payment == "salary"
    assert (acme.company.default_language, acme.company.time_zone) == ("fi", "Europe/Helsinki")
    # a time zone that is none is refused, with the reason, and nothing changes
    response = client.post(
        f"/admin/companies/company/{acme.company.pk}/change/",
        {"return_grace_days": "14", "useful_life_months": "36", "time_zone": "Mars/Olympus"},
    )
    # (the page is in Finnish now: the company's language, which its admin has not overridden)
    assert response.status_code == 200 and 'lang="fi"' in response.content.decode()
    assert "errorlist" in response.content.decode()
    acme.company.refresh_from_db()
    assert acme.company.time_zone == "Europe/Helsinki"


ORDER_QUEUE = "/admin/orders/workqueueorder/"


def post_order_action(client, action, order_ids, **extra):
    data = {"action": action, "_selected_action": [str(i) for i in order_ids], "index": "0"}
    return client.post(ORDER_QUEUE, {**data, **extra}, follow=True)


def test_order_queue_groups_waiting_items_by_order_with_address_and_age(login, acme, globex):
    order = place_order(acme, items=2)
    bring_to(acme, order.devices.first(), S.PREPARING)
    done = device_in(acme, S.DELIVERED)
    foreign = place_order(globex)
    body = login(acme.partner_staff).get(ORDER_QUEUE).content.decode()
    assert f'value="{order.pk}"' in body
    assert f'value="{done.order_id}"' not in body and f'value="{foreign.pk}"' not in body
    assert order.delivery_address.splitlines()[0] in body
    assert "badge-preparing" in body and "badge-ordered" in body and "today" in body


def test_order_queue_offers_only_the_statuses_that_need_the_partner(login, acme):
    body = login(acme.partner_staff).get(ORDER_QUEUE).content.decode()
    assert "waiting=preparing" in body and "waiting=processing_trade_in" in body
    for status in ("received", "active", "cancelled", "traded_in", "delivered"):
        assert f"waiting={status}" not in body


def test_order_queue_filter_by_waiting_status(login, acme):
    preparing = device_in(acme, S.PREPARING)
    ordered = place_order(acme)
    body = login(acme.partner_staff).get(ORDER_QUEUE + "?waiting=preparing").content.decode()
    assert f'value="{preparing.order_id}"' in body and f'value="{ordered.pk}"' not in body


def test_ship_a_whole_order_from_the_order_queue(login, acme):
    order = place_order(acme, items=2)
    for device in order.devices.all():
        bring_to(acme, device, S.PREPARING)
    client = login(acme.partner_staff)
    form = post_order_action(client, "transition_ship", [order.pk]).content.decode()
    assert f'name="o{order.pk}-carrier"' in form and "Left out" not in form
    data = {f"o{order.pk}-carrier": "PostNord", f"o{order.pk}-tracking_number": "PN1SE"}
    done = post_order_action(client, "transition_ship", [order.pk], apply="1", **data)
    assert "Ship: done for 2 of 2." in " ".join(messages_of(done))
    assert set(order.devices.values_list("status", flat=True)) == {S.SHIPPED}
    assert Shipment.objects.get(order=order).tracking_number == "PN1SE"


def test_bulk_ship_asks_only_for_orders_that_can_ship_and_reports_the_others(login, acme):
    ready = device_in(acme, S.PREPARING)
    returning = device_in(acme, S.PROCESSING_TRADE_IN)
    client = login(acme.partner_staff)
    form = post_action(client, "transition_ship", [ready.pk, returning.pk]).content.decode()
    assert f'name="o{ready.order_id}-carrier"' in form
    assert f'name="o{returning.order_id}-carrier"' not in form
    assert "Left out: 1 item" in form and "Processed for trade in" in form
    data = {f"o{ready.order_id}-carrier": "PostNord", f"o{ready.order_id}-tracking_number": "PN9"}
    done = post_action(client, "transition_ship", [ready.pk, returning.pk], apply="1", **data)
    text = " ".join(messages_of(done))
    assert "Ship: done for 1 of 2." in text and "refused — it is Processed for trade in" in text
    assert Device.objects.get(pk=returning.pk).status == S.PROCESSING_TRADE_IN


def test_bulk_action_none_can_take_changes_nothing_and_says_why(login, acme):
    shipped = device_in(acme, S.SHIPPED)
    response = post_action(login(acme.partner_staff), "transition_ship", [shipped.pk])
    text = " ".join(messages_of(response))
    assert "None of the selected items can take “Ship”" in text and "it is Shipped" in text
    assert Device.objects.get(pk=shipped.pk).status == S.SHIPPED


def test_order_queue_is_the_partners_alone(login, acme):
    assert login(acme.admin).get(ORDER_QUEUE).status_code == 403
    assert login(acme.employee).get(ORDER_QUEUE).status_code in (302, 403)
