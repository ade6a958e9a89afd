"""Which language and time zone a person reads Velory in (core.i18n), the language switch,
and money and numbers in each locale's own way (core.money)."""

from decimal import Decimal

import pytest
from django.test import RequestFactory
from django.utils import timezone, translation

from core.i18n import LanguageMiddleware, for_recipient
from core.money import money, number

pytestmark = pytest.mark.django_db

NBSP = "\xa0"


def _html_lang(response) -> str:
    head = response.content.decode()[:200]
    return head.split('<html lang="', 1)[1].split('"', 1)[0]


def test_before_sign_in_the_browser_chooses(client):
    response = client.get("/accounts/login/", HTTP_ACCEPT_LANGUAGE="fi-FI,fi;q=0.9,en;q=0.5")
    assert response["Content-Language"] == "fi"
    assert _html_lang(response) == "fi"
    assert "Accept-Language" in response["Vary"]
    # A language Velory does not speak: English.
    response = client.get("/accounts/login/", HTTP_ACCEPT_LANGUAGE="de-DE,de")
    assert response["Content-Language"] == "en-gb"


def test_own_choice_wins_over_company_and_browser(acme, login):
    acme.company.default_language = "da"
    acme.company.save()
    client = login(acme.employee)
    response = client.get("/me/", HTTP_ACCEPT_LANGUAGE="nb")
    assert response["Content-Language"] == "da"  # the company's, over the browser's
    acme.employee.language = "sv"
    acme.employee.save()
    response = client.get("/me/", HTTP_ACCEPT_LANGUAGE="nb")
    assert response["Content-Language"] == "sv"
    assert _html_lang(response) == "sv"


def test_the_switch_saves_the_profile_and_returns(acme, login):
    client = login(acme.employee)
    response = client.post("/accounts/language/", {"language": "nb", "next": "/catalogue/"})
    assert response.status_code == 302 and response["Location"] == "/catalogue/"
    acme.employee.refresh_from_db()
    assert acme.employee.language == "nb"
    assert client.get("/me/")["Content-Language"] == "nb"


def test_the_switch_refuses_what_it_does_not_know(acme, login):
    client = login(acme.employee)
    response = client.post(
        "/accounts/language/", {"language": "de", "next": "https://evil.example/"}
    )
    assert response.status_code == 302 and response["Location"] == "/"  # never off-site
    acme.employee.refresh_from_db()
    assert acme.employee.language == ""
    page = client.get("/me/")
    assert "Choose one of the languages in the list." in page.content.decode()


def test_the_switch_needs_a_post_and_its_token(acme, client):
    assert client.get("/accounts/language/").status_code == 405
    strict = type(client)(enforce_csrf_checks=True)
    assert strict.post("/accounts/language/", {"language": "sv"}).status_code == 403


def test_before_sign_in_the_switch_is_a_cookie(client, settings):
    response = client.post("/accounts/language/", {"language": "da", "next": "/accounts/login/"})
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "da"
    assert client.get("/accounts/login/")["Content-Language"] == "da"


def test_the_company_time_zone_is_active_for_its_people(acme):
    acme.company.time_zone = "Europe/Helsinki"
    acme.company.save()
    seen = {}

    def view(request):
        seen["zone"] = timezone.get_current_timezone_name()
        seen["language"] = translation.get_language()
        from django.http import HttpResponse

        return HttpResponse("ok")

    request = RequestFactory().get("/", HTTP_ACCEPT_LANGUAGE="sv")
    request.user = acme.employee
    LanguageMiddleware(view)(request)
    assert seen == {"zone": "Europe/Helsinki", "language": "sv"}
    with for_recipient(acme.employee):
        assert timezone.get_current_timezone_name() == "Europe/Helsinki"
    assert timezone.get_current_timezone_name() != "Europe/Helsinki"  # and back after


def test_an_unknown_time_zone_is_refused(acme):
    from django.core.exceptions import ValidationError

    acme.company.time_zone = "Mars/Olympus"
    with pytest.raises(ValidationError, match="time zone"):
        acme.company.full_clean()


@pytest.mark.parametrize(
    "language, amount, currency, expected",
    [
        ("en-gb", "1234.56", "EUR", "€1,234.56"),
        ("en-gb", "1234.56", "SEK", f"SEK{NBSP}1,234.56"),
        ("sv", "1234.56", "SEK", f"1{NBSP}234,56{NBSP}kr"),
        ("sv", "1234.56", "EUR", f"1{NBSP}234,56{NBSP}€"),
        ("fi", "1234.56", "EUR", f"1{NBSP}234,56{NBSP}€"),
        ("nb", "1234.56", "NOK", f"1{NBSP}234,56{NBSP}kr"),
        ("da", "1234.56", "EUR", f"1.234,56{NBSP}€"),
        ("da", "1234.56", "DKK", f"1.234,56{NBSP}kr."),
    ],
)
def test_money_as_each_locale_writes_it(language, amount, currency, expected):
    with translation.override(language):
        assert money(Decimal(amount), currency) == expected


def test_signed_money_and_plain_numbers():
    with translation.override("en-gb"):
        assert money(Decimal("1500"), "EUR", signed=True) == "+€1,500.00"
        assert money(Decimal("-249"), "EUR", signed=True) == "\u2212€249.00"
        assert money(None, "EUR") == "—"
        assert number(1234567) == "1,234,567"
    with translation.override("sv"):
        assert money(Decimal("-249"), "SEK") == f"\u2212249,00{NBSP}kr"
        assert number(1234567) == f"1{NBSP}234{NBSP}567"
    assert money(Decimal("10"), "EUR", language="da") == f"10,00{NBSP}€"


def test_programs_are_answered_in_english(client):
    """The partner API and SCIM are read by programs: whatever they ask for, English."""
    for path in ("/api/partner/v1/orders/", "/scim/v2/Users"):
        response = client.get(path, HTTP_ACCEPT_LANGUAGE="sv")
        assert response["Content-Language"] == "en-gb", path
