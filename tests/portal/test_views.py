"""The employee's pages: what they show, what they let do, and to whom."""

from datetime import timedelta

import pytest
from django.utils import timezone

from devices import lifecycle
from devices.models import Device, DeviceEvent, DeviceStatus
from orders import services as orders
from orders.models import Order, OrderEvent
from tests.helpers import bring_to, device_in, place_order

pytestmark = pytest.mark.django_db
S = DeviceStatus


def text(response):
    return response.content.decode()


def test_your_details_lists_devices_and_orders_with_status_badges(login, acme):
    shipped = device_in(acme, S.SHIPPED, name="MacBook Air")
    device_in(acme, S.PREPARING, name="iPhone 16")
    body = text(login(acme.employee).get("/me/"))
    assert "MacBook Air" in body and "iPhone 16" in body
    assert 'badge badge-info">Shipped<' in body
    assert 'badge badge-progress">Preparing<' in body
    assert (
        f"/me/orders/{shipped.order_id}/track/" in body
    )  # Track Order for a tracked, shipped order
    assert "Track Order" in body


def test_your_details_prompts_for_delivered_devices(login, acme):
    device = device_in(acme, S.DELIVERED, name="Dell monitor")
    body = text(login(acme.employee).get("/me/"))
    assert "Dell monitor was delivered" in body
    assert f"/me/devices/{device.pk}/receive/" in body


def test_your_details_has_helpful_empty_states(login, acme):
    body = text(login(acme.employee).get("/me/"))
    assert "Nothing on its way" in body and "No devices yet" in body


def test_your_details_shows_only_my_own_devices(login, acme, globex):
    device_in(acme, S.SHIPPED, name="Colleague laptop", employee=acme.colleague)
    device_in(globex, S.SHIPPED, name="Globex laptop")
    body = text(login(acme.employee).get("/me/"))
    assert "Colleague laptop" not in body and "Globex laptop" not in body
    # even a company admin sees only their own hardware on Your Details
    assert "Colleague laptop" not in text(login(acme.admin).get("/me/"))


def test_device_page_shows_history_timeline(login, acme):
    device = device_in(acme, S.SHIPPED)
    body = text(login(acme.employee).get(f"/me/devices/{device.pk}/"))
    assert 'data-testid="device-status">Shipped<' in body
    assert "Mark as received" in body
    for label in ("Ordered", "Preparing", "Shipped"):
        assert f"<strong>{label}</strong>" in body
    assert "Pat Partner" in body


def test_mark_as_received_form_prefills_the_known_serial(login, acme):
    device = device_in(acme, S.DELIVERED)
    Device.objects.filter(pk=device.pk).update(serial_number="SN-KNOWN")
    body = text(login(acme.employee).get(f"/me/devices/{device.pk}/receive/"))
    assert 'value="SN-KNOWN"' in body and 'name="received_on"' in body


def test_mark_as_received_by_post(login, acme):
    device = device_in(acme, S.DELIVERED)
    client = login(acme.employee)
    response = client.post(
        f"/me/devices/{device.pk}/receive/",
        {"serial_number": "C02ABC", "received_on": timezone.localdate().isoformat()},
        follow=True,
    )
    assert "is marked as received" in text(response)
    device.refresh_from_db()
    assert device.status == S.RECEIVED and device.serial_number == "C02ABC"


def test_double_submit_changes_nothing_the_second_time(login, acme):
    device = device_in(acme, S.DELIVERED)
    client = login(acme.employee)
    data = {"serial_number": "FIRST", "received_on": timezone.localdate().isoformat()}
    client.post(f"/me/devices/{device.pk}/receive/", data)
    events = DeviceEvent.objects.filter(device=device).count()
    response = client.post(
        f"/me/devices/{device.pk}/receive/", {**data, "serial_number": "SECOND"}, follow=True
    )
    assert "was already marked as received" in text(response)
    device.refresh_from_db()
    assert device.serial_number == "FIRST"
    assert DeviceEvent.objects.filter(device=device).count() == events


def test_mark_as_received_refused_in_other_statuses_with_a_message(login, acme):
    device = device_in(acme, S.PREPARING)
    client = login(acme.employee)
    response = client.get(f"/me/devices/{device.pk}/receive/", follow=True)
    assert "there is nothing to mark as received" in text(response)
    response = client.post(
        f"/me/devices/{device.pk}/receive/",
        {"serial_number": "X", "received_on": timezone.localdate().isoformat()},
        follow=True,
    )
    assert "cannot be moved to Received" in text(response)
    device.refresh_from_db()
    assert device.status == S.PREPARING and device.serial_number == ""


def test_mark_as_received_with_a_future_date_shows_the_error(login, acme):
    device = device_in(acme, S.DELIVERED)
    response = login(acme.employee).post(
        f"/me/devices/{device.pk}/receive/",
        {"serial_number": "", "received_on": str(timezone.localdate() + timedelta(days=2))},
    )
    assert response.status_code == 200
    assert "cannot be in the future" in text(response)


def test_track_order_shows_carrier_number_link_status_and_events(login, acme):
    device = device_in(acme, S.SHIPPED)

    lifecycle.shipment_record_progress(
        shipment_id=device.shipment_id,
        status_text="Out for delivery",
        events=[lifecycle.TrackingEvent(timezone.now(), "Out for delivery", "Stockholm")],
    )
    device.shipment.tracking_url = "https://tracking.example/x"
    device.shipment.save()
    body = text(login(acme.employee).get(f"/me/orders/{device.order_id}/track/"))
    assert "PostNord" in body and device.shipment.tracking_number in body
    assert 'href="https://tracking.example/x"' in body
    assert 'data-testid="delivery-status">Out for delivery<' in body
    assert "Stockholm" in body


def test_no_tracking_partner_says_so_and_shows_status_markings(login, globex):
    device = device_in(globex, S.SHIPPED)
    client = login(globex.employee)
    body = text(client.get(f"/me/orders/{device.order_id}/track/"))
    assert "does not share tracking numbers" in body
    assert 'badge badge-info">Shipped<' in body
    order_page = text(client.get(f"/me/orders/{device.order_id}/"))
    assert "does not share tracking numbers" in order_page
    assert "Track Order" not in order_page
    assert "Track Order" not in text(client.get("/me/"))


def test_order_form_shown_and_saved_while_not_started(login, acme):
    order = place_order(acme)
    bring_to(acme, order.devices.get(), S.NOT_STARTED)
    client = login(acme.employee)
    assert 'name="delivery_address"' in text(client.get(f"/me/orders/{order.pk}/"))
    response = client.post(
        f"/me/orders/{order.pk}/",
        {"delivery_address": "Drottninggatan 5\nStockholm", "note": "Leave at reception"},
        follow=True,
    )
    assert "was told" in text(response)
    order.refresh_from_db()
    assert order.note == "Leave at reception"
    assert "Changed the delivery address and note." in text(response)


def test_preparing_order_is_locked_with_partner_contact_and_advice(login, acme):
    order = place_order(acme, leased=True)
    bring_to(acme, order.devices.get(), S.PREPARING)
    body = text(login(acme.employee).get(f"/me/orders/{order.pk}/"))
    assert 'name="delivery_address"' not in body  # no form
    assert "can no longer be changed in Velory" in body
    assert "not synced back" in body
    assert "cancelled" in body and "leased hardware" in body
    assert acme.partner.support_email in body and acme.partner.support_phone in body


@pytest.mark.parametrize(
    ("status", "words"),
    [
        (S.SHIPPED, "On its way: it can no longer be changed or cancelled"),
        (S.RECEIVED, "Everything has reached you"),
    ],
)
def test_an_order_on_its_way_is_not_advised_to_be_cancelled(login, acme, status, words):
    order = place_order(acme)
    bring_to(acme, order.devices.get(), status)
    body = text(login(acme.employee).get(f"/me/orders/{order.pk}/"))
    assert words in body
    assert "We recommend asking for the order to be" not in body
    assert acme.partner.support_email in body


def test_a_shipped_order_talks_about_what_is_coming_not_what_was_received(login, acme):
    order = place_order(acme)
    bring_to(acme, order.devices.get(), S.SHIPPED)
    body = text(login(acme.employee).get(f"/me/orders/{order.pk}/"))
    assert "what you received" not in body
    assert "When it reaches you, mark each item as received" in body
    # Track Order is the primary action once the order has shipped
    assert f'class="button primary" href="/me/orders/{order.pk}/track/"' in body


@pytest.mark.parametrize("status", [S.ORDERED, S.PREPARING])
def test_an_order_not_shipped_yet_has_no_track_order_button(login, acme, status):
    order = place_order(acme)
    if status != S.ORDERED:
        bring_to(acme, order.devices.get(), status)
    body = text(login(acme.employee).get(f"/me/orders/{order.pk}/"))
    assert f'href="/me/orders/{order.pk}/track/"' not in body
    assert "Track Order appears here as soon as" in body


def test_a_received_order_keeps_track_order_but_not_as_the_primary_button(login, acme):
    order = place_order(acme)
    bring_to(acme, order.devices.get(), S.RECEIVED)
    body = text(login(acme.employee).get(f"/me/orders/{order.pk}/"))
    assert f'<a class="button" href="/me/orders/{order.pk}/track/"' in body
    assert "what you received" in body


def test_forged_post_to_a_locked_order_is_refused_and_changes_nothing(login, acme):
    order = place_order(acme)
    bring_to(acme, order.devices.get(), S.PREPARING)
    response = login(acme.employee).post(
        f"/me/orders/{order.pk}/", {"delivery_address": "Hacked street", "note": ""}, follow=True
    )
    assert "can no longer be changed in Velory" in text(response)
    order.refresh_from_db()
    assert order.delivery_address == "Storgatan 1\n111 22 Stockholm"
    assert not OrderEvent.objects.filter(order=order, kind="updated").exists()


def test_support_is_in_the_user_menu(login, acme):
    assert 'href="/support/"' in text(login(acme.employee).get("/me/"))


# --- Privacy: every URL with an id is a 404 for another employee's object ---------------------

URLS = [
    "/me/devices/{device}/",
    "/me/devices/{device}/receive/",
    "/me/orders/{order}/",
    "/me/orders/{order}/track/",
    "/me/devices/{device}/lease/",
    "/me/devices/{device}/buyout/",
    "/me/devices/{device}/buyout/withdraw/",
]


@pytest.mark.parametrize("url", URLS)
@pytest.mark.parametrize(
    "intruder",
    [
        "colleague",
        "own_admin",  # sees the device in the admin, but the portal shows only one's own
        "own_partner",
        "other_employee",
        "other_admin",
        "partner",
    ],
)
def test_another_employees_object_is_not_found(login, acme, globex, url, intruder):
    device = device_in(acme, S.DELIVERED, leased=True)
    user = {
        "colleague": acme.colleague,
        "own_admin": acme.admin,
        "own_partner": acme.partner_staff,
        "other_employee": globex.employee,
        "other_admin": globex.admin,
        "partner": globex.partner_staff,
    }[intruder]
    client = login(user)
    path = url.format(device=device.pk, order=device.order_id)
    assert client.get(path).status_code in (404, 405)
    post = client.post(
        path,
        {
            "delivery_address": "x",
            "serial_number": "x",
            "received_on": "2020-01-01",
            "choice": "return",
        },
    )
    assert post.status_code in (404, 405)
    device.refresh_from_db()
    assert device.status == S.DELIVERED
    assert Order.objects.get(pk=device.order_id).delivery_address == "Storgatan 1\n111 22 Stockholm"


@pytest.mark.parametrize("url", URLS)
def test_unknown_ids_are_not_found(login, acme, url):
    client = login(acme.employee)
    path = url.format(device=999999, order=999999)
    assert client.get(path).status_code in (404, 405)  # 405: a POST-only address
    assert client.post(path, {"choice": "return"}).status_code in (404, 405)


def test_hardware_added_to_an_order_is_marked_and_does_not_lock_the_order(login, acme):
    order = place_order(acme)
    lifecycle.device_register_manually(
        actor=acme.admin,
        owner_id=acme.employee.pk,
        name="USB-C dock",
        category="accessory",
        order_id=order.pk,
        status=S.RECEIVED,
    )
    client = login(acme.employee)
    me = text(client.get("/me/"))
    assert "Registered manually" in me
    body = text(client.get(f"/me/orders/{order.pk}/"))
    assert "Registered manually" in body and 'name="delivery_address"' in body  # still editable
    orders.order_update_details(
        order_id=order.pk, actor=acme.employee, delivery_address="Hemvägen 3", note=""
    )


def test_a_partner_edited_in_the_admin_shows_at_once_on_your_details(login, acme, superuser):
    order = place_order(acme)
    bring_to(acme, order.devices.get(), S.SHIPPED)
    employee = login(acme.employee)
    assert "Track Order" in text(employee.get("/me/"))  # cached from here
    admin = login(superuser)
    page = admin.get(f"/admin/companies/partner/{acme.partner.pk}/change/")
    form = page.context["adminform"].form
    data = {k: v for k, v in form.initial.items() if v is not None and k != "companies"}
    data.update(offers_tracking="", companies=[acme.company.pk])
    admin.post(f"/admin/companies/partner/{acme.partner.pk}/change/", data)
    acme.partner.refresh_from_db()
    assert not acme.partner.offers_tracking
    assert "Track Order" not in text(login(acme.employee).get("/me/"))


def test_a_crash_shows_the_friendly_500_page(login, acme, monkeypatch):
    from portal import selectors

    def broken(user):
        raise RuntimeError("boom")

    monkeypatch.setattr(selectors, "support_contacts_for", broken)
    client = login(acme.employee)
    client.raise_request_exception = False
    response = client.get("/support/")
    assert response.status_code == 500
    body = response.content.decode()
    assert "Something went wrong on our side" in body and "boom" not in body
