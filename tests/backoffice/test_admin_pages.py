"""Admin pages show each role only what is theirs, and offer only what can be done."""

import pytest

from devices.models import DeviceStatus
from tests.helpers import bring_to, place_order

pytestmark = pytest.mark.django_db
S = DeviceStatus


def test_a_company_admin_does_not_see_which_other_companies_a_partner_serves(login, acme, globex):
    acme.partner.companies.add(globex.company)  # one partner serving both
    page = login(acme.admin).get(f"/admin/companies/partner/{acme.partner.pk}/change/")
    assert page.status_code == 200
    assert globex.company.name not in page.content.decode()


def test_the_order_page_offers_lease_buttons_only_for_leased_items(login, acme):
    order = place_order(acme)
    bring_to(acme, order.devices.get(), S.RECEIVED)
    page = login(acme.admin).get(f"/admin/orders/order/{order.pk}/change/").content.decode()
    assert "Request buyout" not in page and "Start trade-in" not in page
    leased = place_order(acme, leased=True)
    bring_to(acme, leased.devices.get(), S.RECEIVED)
    page = login(acme.admin).get(f"/admin/orders/order/{leased.pk}/change/").content.decode()
    assert "Request buyout" in page and "Start trade-in" in page


def test_exports_never_carry_a_spreadsheet_formula(login, acme):
    from orders.models import Order

    order = place_order(acme)
    Order.objects.filter(pk=order.pk).update(delivery_address='=HYPERLINK("x","y")')
    response = login(acme.admin).post(
        "/admin/orders/order/", {"action": "export_csv", "_selected_action": [order.pk]}
    )
    body = b"".join(response.streaming_content).decode()
    assert "'=HYPERLINK" in body and ",=HYPERLINK" not in body and '"=HYPERLINK' not in body
