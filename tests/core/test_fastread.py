"""The two reads of every signed-in request, written once per process (core.fastread):
they give what the ORM gave, and the session engine built on them keeps Django's rules."""

from datetime import timedelta

import pytest
from django.contrib.sessions.models import Session
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from companies.backends import user_with_tenants
from companies.models import User
from core.fastread import session_data
from core.sessions import SessionStore

pytestmark = pytest.mark.django_db


def same_fields(a, b):
    return all(
        getattr(a, f.attname) == getattr(b, f.attname) for f in type(a)._meta.concrete_fields
    )


@pytest.mark.parametrize("who", ["employee", "admin", "partner_staff"])
def test_the_user_is_what_select_related_gives_in_one_query(acme, who):
    expected = User.objects.select_related("company", "partner").get(pk=getattr(acme, who).pk)
    with CaptureQueriesContext(connection) as queries:
        user = user_with_tenants(expected.pk)
        company, partner = user.company, user.partner  # no further query
    assert len(queries) == 1
    assert same_fields(user, expected)
    assert (company is None) == (expected.company is None)
    assert company is None or same_fields(company, expected.company)
    assert (partner is None) == (expected.partner is None)
    assert partner is None or same_fields(partner, expected.partner)
    user.full_name = "Renamed"  # an instance like any other: it saves
    user.save(update_fields=["full_name"])
    assert User.objects.get(pk=user.pk).full_name == "Renamed"


def test_no_such_user_or_a_malformed_id_is_nobody(acme):
    assert user_with_tenants(10**9) is None
    assert user_with_tenants("not-a-number") is None


def test_a_signed_in_page_reads_the_session_and_the_user_in_two_statements(acme, login):
    client = login(acme.employee)
    client.get("/me/")
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/me/").status_code == 200
    sql = [q["sql"] for q in queries.captured_queries]
    assert any("django_session" in s for s in sql[:2]) and any(
        "companies_user" in s for s in sql[:2]
    )


def test_an_expired_session_is_not_read_and_signs_nobody_in(acme, login):
    client = login(acme.employee)
    key = client.cookies["sessionid"].value if "sessionid" in client.cookies else None
    key = key or Session.objects.order_by("-expire_date").first().session_key
    assert session_data(Session, key, timezone.now()) is not None
    Session.objects.filter(session_key=key).update(
        expire_date=timezone.now() - timedelta(seconds=1)
    )
    assert session_data(Session, key, timezone.now()) is None
    store = SessionStore(key)
    assert store.load() == {} and store.session_key is None
    assert client.get("/me/").status_code == 302  # to the sign-in page


def test_sign_out_ends_the_session(acme, login):
    client = login(acme.employee)
    assert client.get("/me/").status_code == 200
    client.post("/accounts/logout/")
    assert client.get("/me/").status_code == 302
