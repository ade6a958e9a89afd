"""core.transactions: one transaction per use case, the cache bump last, a lost deadlock
retried."""

import pytest
from django.db import OperationalError, connection, transaction
from django.test.utils import CaptureQueriesContext

from companies.models import User
from companies.services import profiles_touch
from core.transactions import use_case
from notifications.models import Notification
from notifications.services import notify


class DeadlockDetected(Exception):
    sqlstate = "40P01"


def deadlock() -> OperationalError:
    error = OperationalError("deadlock detected")
    error.__cause__ = DeadlockDetected()
    return error


@pytest.mark.django_db(transaction=True)
def test_a_use_case_that_loses_a_deadlock_is_run_again_and_its_first_attempt_leaves_nothing(
    acme,
):
    attempts = []

    @use_case
    def work():
        attempts.append(1)
        notify(kind="invite", recipient=acme.employee, context={}, dedup_key="once")
        if len(attempts) == 1:
            raise deadlock()
        return "done"

    assert work() == "done"
    assert len(attempts) == 2
    assert Notification.objects.filter(dedup_key="once").count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_use_case_that_keeps_losing_gives_up_with_the_error(acme):
    @use_case
    def work():
        raise deadlock()

    with pytest.raises(OperationalError):
        work()


@pytest.mark.django_db(transaction=True)
def test_other_database_errors_are_not_retried(acme):
    attempts = []

    @use_case
    def work():
        attempts.append(1)
        raise OperationalError("connection refused")

    with pytest.raises(OperationalError):
        work()
    assert attempts == [1]


@pytest.mark.django_db(transaction=True)
def test_inside_a_callers_transaction_nothing_is_retried(acme):
    attempts = []

    @use_case
    def work():
        attempts.append(1)
        raise deadlock()

    with pytest.raises(OperationalError), transaction.atomic():
        work()
    assert attempts == [1]


def test_the_profile_bump_is_the_use_cases_last_statement_one_update_for_all(acme):
    colleague = acme.colleague
    before = {
        u.pk: u.profile_version
        for u in User.objects.filter(pk__in=[acme.employee.pk, colleague.pk])
    }

    @use_case
    def work():
        profiles_touch([acme.employee.pk])

        @use_case
        def inner():
            profiles_touch([colleague.pk, acme.employee.pk])

        inner()
        Notification.objects.count()  # some other statement after the touches

    with CaptureQueriesContext(connection) as queries:
        work()
    updates = [q["sql"] for q in queries.captured_queries if "profile_version" in q["sql"]]
    assert len(updates) == 1
    assert "profile_version" in queries.captured_queries[-2]["sql"] or (
        "profile_version" in queries.captured_queries[-1]["sql"]
    )
    after = {u.pk: u.profile_version for u in User.objects.filter(pk__in=before)}
    assert all(after[pk] == before[pk] + 1 for pk in before)


def test_outside_a_use_case_the_bump_happens_at_once(acme):
    before = User.objects.get(pk=acme.employee.pk).profile_version
    profiles_touch([acme.employee.pk])
    assert User.objects.get(pk=acme.employee.pk).profile_version == before + 1
