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


def test_list_search_matches_each_word_in_some_field_within_the_scope(login, acme, globex):
    from tests.factories import UserFactory

    lena = UserFactory(
        email="lena.lindqvist@acme.example", full_name="Lena Lindqvist", company=acme.company
    )
    laptop = place_order(acme, employee=lena, name="MacBook Air").devices.get()
    phone = place_order(acme, employee=lena, name="iPhone 16").devices.get()
    other = place_order(acme, name="MacBook Air").devices.get()
    foreign_user = UserFactory(email="lindqvist@globex.example", company=globex.company)
    foreign = place_order(globex, employee=foreign_user, name="MacBook Air").devices.get()
    client = login(acme.admin)

    def found(q):
        cl = client.get("/admin/devices/device/", {"q": q}).context["cl"]
        return {d.pk for d in cl.result_list}

    assert found("lindqvist") == {laptop.pk, phone.pk}  # by the owner's name, own company only
    assert found("Lindqvist macbook") == {laptop.pk}  # every word, each in some field
    assert found('"MacBook Air"') == {laptop.pk, other.pk}
    assert foreign.pk not in found("MacBook")
    assert found("nobody-has-this") == set()


def test_an_order_search_by_a_word_where_a_number_is_expected_finds_by_the_other_fields(
    login, acme
):
    order = place_order(acme)
    client = login(acme.admin)
    by_name = client.get("/admin/orders/order/", {"q": acme.employee.full_name.split()[0]})
    assert by_name.status_code == 200 and order in by_name.context["cl"].result_list
    by_number = client.get("/admin/orders/order/", {"q": order.number})
    assert list(by_number.context["cl"].result_list) == [order]
