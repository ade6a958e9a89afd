"""The people jobs on the beat schedule: registered under the names the schedule uses, and
safe to run on any day."""

from velory.celery import app


def test_every_scheduled_task_is_registered():
    import people.tasks  # noqa: F401  (the worker imports every app's tasks)

    app.loader.import_default_modules()
    names = {entry["task"] for entry in app.conf.beat_schedule.values()}
    assert {"people.tasks.offboarding_daily", "people.tasks.attestations_daily"} <= names
    assert names <= set(app.tasks), names - set(app.tasks)


def test_the_daily_jobs_run_with_nothing_to_do(db):
    from people import tasks

    assert tasks.offboarding_daily() == {
        "settled": 0,
        "chasers": 0,
        "escalated": 0,
        "closed": 0,
        "errors": 0,
    }
    assert tasks.attestations_daily() == {"asked": 0, "reminded": 0}
