"""The two reads of every signed-in request, written once per process (core.fastread):
they give what the ORM gave, and the session engine built on them keeps Django's rules.
And the compiled reads (core.fastread.Statement): what their querysets give, built once."""

from contextlib import nullcontext
from datetime import timedelta

import pytest
from django.contrib.sessions.models import Session
from django.db import connection, models
from django.db.models import Count
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from companies.backends import user_with_tenants
from companies.models import User
from core import fastread
from core.fastread import Statement, run, session_data
from core.sessions import SessionStore
from devices.models import Device

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


# --- Compiled reads (core.fastread.Statement) ---------------------------------------------------


def _recent_devices(actor, since):
    return (
        Device.objects.visible_to(actor)
        .filter(created_at__gte=since)
        .select_related("order", "partner")
        .annotate(events_seen=Count("events"))
        .order_by("-created_at", "-pk")
    )


RECENT = Statement(Device, _recent_devices, since=models.DateTimeField())
NAMES = Statement(Device, lambda actor: Device.objects.visible_to(actor).values("pk", "name"))


def _fields(obj):
    return {f.attname: getattr(obj, f.attname) for f in type(obj)._meta.concrete_fields}


@pytest.mark.parametrize("who", ["employee", "admin", "partner_staff"])
def test_a_statement_gives_what_its_queryset_gives(acme, globex, who):
    from tests.helpers import place_order

    place_order(acme, items=3)
    place_order(acme, employee=acme.colleague)
    place_order(globex, items=2)
    actor = getattr(acme, who)
    since = timezone.now() - timedelta(days=1)
    expected = list(_recent_devices(actor, since))
    with CaptureQueriesContext(connection) as queries:
        got = RECENT.fetch(actor, since=since)
    assert len(queries) == 1
    # each sees their own: the employee theirs, the admin the company's, the staff their
    # partner's (Acme's)
    assert len(got) == {"employee": 3, "admin": 4, "partner_staff": 4}[who]
    assert [_fields(d) for d in got] == [_fields(d) for d in expected]
    assert [(_fields(d.order), _fields(d.partner), d.events_seen) for d in got] == [
        (_fields(d.order), _fields(d.partner), d.events_seen) for d in expected
    ]
    assert NAMES.fetch(actor) == list(NAMES.build(actor))
    # the parameter is the call's: nothing was created after now
    assert RECENT.fetch(actor, since=timezone.now()) == []


def test_a_statement_is_compiled_once_per_kind_of_actor(acme, globex):
    statement = Statement(Device, lambda actor: Device.objects.visible_to(actor).values("pk"))
    for user in (acme.employee, acme.colleague, globex.employee):
        statement.fetch(user)
    assert len(statement._compiled) == 1
    statement.fetch(acme.admin)
    statement.fetch(globex.admin)
    assert len(statement._compiled) == 2


def test_a_statement_that_reads_the_clock_is_refused(acme):
    # timezone.now() would be frozen into the SQL's parameters at the first compilation
    statement = Statement(
        Device,
        lambda actor: Device.objects.filter(owner_id=actor.pk, created_at__lte=timezone.now()),
    )
    with pytest.raises(ValueError, match="make it a parameter"):
        statement.fetch(acme.employee)


def test_a_statement_does_not_prefetch(acme):
    statement = Statement(Device, lambda actor: Device.objects.prefetch_related("events"))
    with pytest.raises(ValueError, match="prefetch"):
        statement.fetch(acme.employee)


def test_reads_run_together_give_each_its_own_result(acme, monkeypatch):
    from tests.helpers import place_order

    place_order(acme, items=2)
    since = timezone.now() - timedelta(days=1)

    def reads():
        return run(
            NAMES.bind(acme.employee),
            RECENT.bind(acme.employee, since=since, then=len),
            NAMES.bind(acme.partner_staff, then=lambda rows: [r["pk"] for r in rows]),
        )

    with CaptureQueriesContext(connection) as queries:
        together = reads()
    assert len(queries) == 3  # one round trip on PostgreSQL, three queries all the same
    names, count, staff = together
    assert len(names) == 2 and count == 2 and sorted(staff) == sorted(r["pk"] for r in names)
    assert names == list(NAMES.build(acme.employee))
    # one after the other and unprepared (another database, a transaction pooler): the same
    monkeypatch.setattr(fastread, "_pipeline_supported", lambda raw: False)
    monkeypatch.setattr(fastread, "_prepared", lambda connection, raw: nullcontext())
    assert reads() == together


@pytest.mark.postgres
def test_on_postgresql_the_statements_are_prepared_and_nothing_else(acme):
    # velory.settings.base turns server-side binding on for every PostgreSQL database.
    assert connection.settings_dict["OPTIONS"].get("server_side_binding")
    NAMES.fetch(acme.employee)
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        prepared = [row[0] for row in cursor.fetchall()]
    assert any('"devices_device"."name"' in sql for sql in prepared)
    assert not any("pg_prepared_statements" in sql for sql in prepared)
    assert connection.connection.prepare_threshold is None  # as Django left it
