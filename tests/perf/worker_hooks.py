"""Loaded into the benchmark's Celery workers (``--include``): counts the SQL statements each
task runs and adds them up in Redis by task name when the task ends (one round trip per
task, not per statement, so counting costs nothing measurable), adds up what the polling
tasks report (orders polled and changed, calls made), and counts the worker processes that
are ready and the tasks running."""

import os

from celery.signals import task_postrun, task_prerun, worker_process_init
from django.db import connection

_count = {"n": 0}


def _counter(execute, sql, params, many, context):
    _count["n"] += 1
    return execute(sql, params, many, context)


_wrappers = []


def _client():
    import redis

    return redis.Redis.from_url(os.environ["BENCH_COUNTER_URL"])


@worker_process_init.connect
def _ready(**kwargs):
    _client().incr("bench:ready")


@task_prerun.connect
def _start(**kwargs):
    _client().incr("bench:running")
    _count["n"] = 0
    wrapper = connection.execute_wrapper(_counter)
    wrapper.__enter__()
    _wrappers.append(wrapper)


@task_postrun.connect
def _stop(sender=None, retval=None, **kwargs):
    while _wrappers:
        _wrappers.pop().__exit__(None, None, None)
    name = getattr(sender, "name", "?")
    pipe = _client().pipeline(transaction=False)
    pipe.hincrby("bench:sql", name, _count["n"])
    pipe.hincrby("bench:tasks", name, 1)
    pipe.decr("bench:running")
    if name == "partners.tasks.poll_partner" and isinstance(retval, dict):
        for figure in ("polled", "changed", "failed", "calls"):
            pipe.hincrby("bench:poll", figure, int(retval.get(figure) or 0))
    pipe.execute()
