"""Loaded into the benchmark's Celery worker (``--include``): counts the SQL statements each
task runs and adds them up in Redis when the task ends (one INCRBY per task, not per
statement, so counting costs nothing measurable)."""

import os

from celery.signals import task_postrun, task_prerun
from django.db import connection

_count = {"n": 0}


def _counter(execute, sql, params, many, context):
    _count["n"] += 1
    return execute(sql, params, many, context)


_wrappers = []


@task_prerun.connect
def _start(**kwargs):
    _count["n"] = 0
    wrapper = connection.execute_wrapper(_counter)
    wrapper.__enter__()
    _wrappers.append(wrapper)


@task_postrun.connect
def _stop(**kwargs):
    while _wrappers:
        _wrappers.pop().__exit__(None, None, None)
    import redis

    client = redis.Redis.from_url(os.environ["BENCH_COUNTER_URL"])
    client.incrby("bench:sql", _count["n"])
    client.incr("bench:tasks")
