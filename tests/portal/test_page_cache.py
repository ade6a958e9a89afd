"""The device page and the order page are cached per employee like Your Details, and are
never stale: whatever they show, when it changes, renews them (the writers' profile bump,
the company's settings in the key); another person's object is still a 404; a cached
form carries this request's CSRF token."""

import re

import pytest
from django.test import Client

from companies import services as company_services
from core.tenancy import SYSTEM
from devices import lifecycle
from leasing.models import LeasingArrangement
from orders import services as order_services
from tests.helpers import device_in, place_order

pytestmark = pytest.mark.django_db


def page(client, url) -> str:
    response = client.get(url)
    assert response.status_code == 200, url
    return response.content.decode()


def test_a_status_change_shows_on_the_cached_device_and_order_pages(login, acme):
    order = place_order(acme)
    device = order.devices.get()
    client = login(acme.employee)
    badge = re.compile(r'class="badge[^"]*"[^>]*>([^<]+)<')
    for url in (f"/me/devices/{device.pk}/", f"/me/orders/{order.pk}/"):
        assert "Ordered" in badge.findall(page(client, url))
    lifecycle.devices_advance(
        device_ids=[device.pk], transition="acknowledge", actor=SYSTEM, source="poll"
    )
    for url in (f"/me/devices/{device.pk}/", f"/me/orders/{order.pk}/"):
        shown = badge.findall(page(client, url))
        assert "Not started" in shown and "Ordered" not in shown, url


def test_new_delivery_details_show_on_the_cached_order_page(login, acme):
    order = place_order(acme)
    client = login(acme.employee)
    assert "Storgatan 99" not in page(client, f"/me/orders/{order.pk}/")
    order_services.order_update_details(
        order_id=order.pk, actor=acme.employee, delivery_address="Storgatan 99", note="Gate B"
    )
    body = page(client, f"/me/orders/{order.pk}/")
    assert "Storgatan 99" in body and "Changed the" in body  # the address and its history


def test_a_refused_change_shows_its_errors_and_is_not_cached(login, acme):
    order = place_order(acme)
    client = login(acme.employee)
    page(client, f"/me/orders/{order.pk}/")
    response = client.post(f"/me/orders/{order.pk}/", {"delivery_address": "", "note": ""})
    assert response.status_code == 200 and "This field is required" in response.content.decode()
    assert "This field is required" not in page(client, f"/me/orders/{order.pk}/")


def test_a_cached_form_carries_this_requests_csrf_token(login, acme):
    order = place_order(acme)
    client = login(acme.employee)
    page(client, f"/me/orders/{order.pk}/")  # now cached
    enforcing = Client(enforce_csrf_checks=True)
    enforcing.cookies = client.cookies
    body = page(enforcing, f"/me/orders/{order.pk}/")
    assert "@@CSRF@@" not in body
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', body).group(1)
    response = enforcing.post(
        f"/me/orders/{order.pk}/",
        {"delivery_address": "Kungsgatan 2", "note": "", "csrfmiddlewaretoken": token},
    )
    assert response.status_code == 302  # the token from the cached page was accepted


def test_another_employees_device_and_order_stay_404_after_the_owner_viewed_them(login, acme):
    order = place_order(acme)
    device = order.devices.get()
    page(login(acme.employee), f"/me/devices/{device.pk}/")
    page(login(acme.employee), f"/me/orders/{order.pk}/")
    colleague = login(acme.colleague)
    assert colleague.get(f"/me/devices/{device.pk}/").status_code == 404
    assert colleague.get(f"/me/orders/{order.pk}/").status_code == 404


def test_a_company_policy_change_shows_on_the_cached_device_page(login, acme):
    device = device_in(acme, "active", leased=True)
    client = login(acme.employee)
    before = page(client, f"/me/devices/{device.pk}/")
    company_services.company_update_policy(
        company=acme.company, actor=acme.admin, buyout_allowed=not acme.company.buyout_allowed
    )
    assert page(client, f"/me/devices/{device.pk}/") != before


def test_the_leasing_companys_new_name_and_terms_show_on_the_cached_device_page(
    login, acme, superuser
):
    device = device_in(acme, "active", leased=True)
    leasing_company = device.lease.leasing_company
    client = login(acme.employee)
    assert "Lessor Renamed" not in page(client, f"/me/devices/{device.pk}/")
    admin = Client()
    admin.force_login(superuser)
    response = admin.post(
        f"/admin/companies/leasingcompany/{leasing_company.pk}/change/",
        {
            "name": "Lessor Renamed",
            "contact_email": "returns@new-lessor.example",
            "contact_phone": "",
            "website": "",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert "Lessor Renamed" in page(client, f"/me/devices/{device.pk}/")
    arrangement, _ = LeasingArrangement.objects.get_or_create(
        company=acme.company, leasing_company=leasing_company
    )
    before = page(client, f"/me/devices/{device.pk}/")
    response = admin.post(
        f"/admin/leasing/leasingarrangement/{arrangement.pk}/change/",
        {
            "company": acme.company.pk,
            "leasing_company": leasing_company.pk,
            "return_instructions_from": arrangement.return_instructions_from,
            "partner": "",
            "return_days": arrangement.return_days,
            "residual_percent": 37 if arrangement.residual_percent != 37 else 38,
            "return_steps": arrangement.return_steps,
        },
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    after = page(client, f"/me/devices/{device.pk}/")
    assert after != before  # the buyout price follows the new residual value
