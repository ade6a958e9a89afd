"""core.jobs: the one way background work is claimed, retried, given up and queued."""

from datetime import timedelta

import pytest
from django.utils import timezone

from core.jobs import Retry, claim, due, enqueue_named
from notifications.models import Notification
from notifications.services import notify


def test_retry_doubles_from_its_base_up_to_its_cap():
    retry = Retry(base=30, cap=1800)
    assert [retry.delay(n) for n in (1, 2, 3, 4, 7, 20)] == [30, 60, 120, 240, 1800, 1800]


def test_retry_waits_at_least_what_the_other_side_asked_for():
    now = timezone.now()
    assert Retry(base=30, cap=1800).next_at(1, now, at_least=300) == now + timedelta(seconds=300)


def test_retry_gives_up_at_its_limit_or_the_one_given():
    assert not Retry(base=60, cap=3600).gives_up(99)  # no limit: never
    assert Retry(base=30, cap=1800, max_attempts=7).gives_up(7)
    assert not Retry(base=30, cap=1800, max_attempts=7).gives_up(6)
    assert Retry(base=60, cap=3600).gives_up(3, max_attempts=3)


@pytest.fixture
def row(acme):
    notify(kind="invite", recipient=acme.employee, context={}, dedup_key="jobs-test")
    return Notification.objects.get(dedup_key="jobs-test")


def test_a_claimed_row_is_held_by_one_worker_until_its_claim_runs_out(row):
    rows = Notification.objects.filter(pk=row.pk)
    now = timezone.now()
    token = claim(rows, hold_seconds=60, now=now)
    assert token == now + timedelta(seconds=60)
    assert claim(rows, hold_seconds=60, now=now + timedelta(seconds=30)) is None  # held
    assert claim(rows, hold_seconds=60, now=now + timedelta(seconds=61)) is not None  # ran out
    row.refresh_from_db()
    assert row.attempts == 2  # each claim counts an attempt


def test_a_row_not_yet_due_is_not_claimed_by_the_sweeper(row):
    later = timezone.now() + timedelta(minutes=5)
    Notification.objects.filter(pk=row.pk).update(next_attempt_at=later)
    rows = Notification.objects.filter(pk=row.pk)
    assert claim(rows, hold_seconds=60, due_field="next_attempt_at") is None
    assert claim(rows, hold_seconds=60, due_field="next_attempt_at", now=later) is not None


def test_due_lists_the_oldest_first_and_leaves_a_just_scheduled_row_its_turn(row, acme):
    notify(kind="invite", recipient=acme.colleague, context={}, dedup_key="jobs-test-2")
    other = Notification.objects.get(dedup_key="jobs-test-2")
    now = timezone.now()
    Notification.objects.filter(pk=row.pk).update(next_attempt_at=now - timedelta(minutes=5))
    Notification.objects.filter(pk=other.pk).update(next_attempt_at=now - timedelta(seconds=5))
    rows = Notification.objects.all()
    assert due(rows, due_field="next_attempt_at", limit=10, now=now) == [row.pk, other.pk]
    assert due(rows, due_field="next_attempt_at", limit=10, grace_seconds=30, now=now) == [row.pk]


def test_a_task_asked_for_by_an_unknown_name_is_not_queued_and_nothing_fails(monkeypatch):
    logged = []
    monkeypatch.setattr("core.jobs.logger.exception", lambda *args: logged.append(args))
    assert enqueue_named("nowhere.tasks.nothing", 1) is False
    assert logged and logged[0][1] == "nowhere.tasks.nothing"


@pytest.mark.filterwarnings("ignore::celery.exceptions.DuplicateTaskNameWarning")
def test_a_task_of_a_module_nobody_imported_yet_is_found_by_name(monkeypatch):
    """A web process has not imported partners.tasks when an approval asks for the order
    to be placed: the name is still found (Celery imports the apps' tasks modules)."""
    import sys

    from celery import current_app

    for name in [n for n in current_app.tasks if n.startswith("partners.tasks.")]:
        monkeypatch.setitem(current_app.tasks, name, current_app.tasks[name])  # put back after
    monkeypatch.delitem(current_app.tasks, "partners.tasks.place_order")
    monkeypatch.delitem(sys.modules, "partners.tasks")
    sent = []
    monkeypatch.setattr("core.jobs.enqueue", lambda task, *args: sent.append((task.name, args)))
    enqueue_named("partners.tasks.place_order", 42)
    assert sent == [("partners.tasks.place_order", (42,))]
