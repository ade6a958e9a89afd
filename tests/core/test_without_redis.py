"""With Redis really stopped, no page waits on it: the cache and the broker fail within
tens of milliseconds, then are skipped for a few seconds (circuit breakers). A Redis server
the test starts, and then kills."""

import shutil
import socket
import subprocess
import time

import pytest
from django.conf import settings
from django.core.cache import caches
from django.test import override_settings

from core import cache as core_cache
from core import jobs
from tests.conftest import free_port
from tests.helpers import device_in

pytestmark = pytest.mark.django_db
REDIS = shutil.which("redis-server")


def start_redis(port: int) -> subprocess.Popen:
    process = subprocess.Popen(
        [REDIS, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            return process
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("redis-server did not start")


@pytest.fixture
def own_redis():
    assert REDIS, "redis-server is needed (the CI script starts Redis from it)"
    port = free_port()
    process = start_redis(port)
    location = f"redis://127.0.0.1:{port}/0"
    options = getattr(settings, "REDIS_CACHE_OPTIONS", None) or settings.CACHES["default"].get(
        "OPTIONS", {}
    )  # the project's own options: what production runs with
    cache_settings = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": location,
            "OPTIONS": options,
        }
    }
    with override_settings(CACHES=cache_settings):
        core_cache.CACHE_BREAKER.reset()
        yield port, process
    process.kill()
    process.wait()
    core_cache.CACHE_BREAKER.reset()
    caches["default"].close()


def timed(client, url, method="get", data=None):
    started = time.monotonic()
    response = getattr(client, method)(url, data or {})
    return response, time.monotonic() - started


def test_every_portal_page_and_action_answers_within_a_second_with_redis_dead(
    own_redis, acme, login
):
    """The bound is on what Redis being dead adds to a page, measured against the same
    page with Redis alive, so a loaded machine (the suite runs one process per core)
    slows both sides alike and only a wait on Redis fails it."""
    _port, process = own_redis
    delivered = device_in(acme, "delivered")
    client = login(acme.employee)
    assert client.get("/me/").status_code == 200  # the cache is in use
    assert core_cache.cache_get("nothing") is None and not core_cache.CACHE_BREAKER.is_open
    pages = ["/me/", "/me/budget/", "/catalogue/", "/support/", f"/me/devices/{delivered.pk}/"]
    pages += [f"/me/orders/{delivered.order_id}/", f"/me/orders/{delivered.order_id}/track/"]
    alive = {}
    for url in pages * 3:
        response, seconds = timed(client, url)
        assert response.status_code == 200, url
        alive[url] = max(alive.get(url, 0.0), seconds)
    process.kill()
    process.wait()
    added = 0.0
    for url in pages * 3:
        response, seconds = timed(client, url)
        assert response.status_code == 200, url
        added = max(added, seconds - alive[url])
    response, seconds = timed(
        client,
        f"/me/devices/{delivered.pk}/receive/",
        "post",
        {"serial_number": "SN1", "received_on": str(delivered.status_changed_at.date())},
    )
    assert response.status_code == 302
    assert seconds < 1.0 + max(alive.values()), seconds
    assert added < 1.0, added  # no page waited on a dead Redis (a timeout is seconds)
    delivered.refresh_from_db()
    assert delivered.status == "received"  # nothing lost: the action was done


def test_the_cache_is_used_again_once_redis_is_back(own_redis, acme):
    port, process = own_redis
    process.kill()
    process.wait()
    assert core_cache.cache_get("k") is None
    assert core_cache.CACHE_BREAKER.is_open
    again = start_redis(port)
    try:
        core_cache.CACHE_BREAKER.reset()  # as after BREAKER_SECONDS
        caches["default"].close()
        core_cache.cache_set("k", "v", 60)
        assert core_cache.cache_get("k") == "v"
    finally:
        again.kill()
        again.wait()


class DeadBrokerTask:
    name = "tests.dead_broker"

    def __init__(self):
        self.calls = 0

    def apply_async(self, args=None, kwargs=None):
        self.calls += 1
        raise ConnectionError("broker down")


def test_a_dead_broker_is_tried_once_then_skipped_for_a_while():
    task = DeadBrokerTask()
    jobs.BROKER_BREAKER.reset()
    try:
        assert jobs.enqueue(task, 1) is False
        assert jobs.enqueue(task, 2) is False
        assert task.calls == 1  # the second request did not wait on the broker
        jobs.BROKER_BREAKER.reset()
        assert jobs.enqueue(task, 3) is False and task.calls == 2
    finally:
        jobs.BROKER_BREAKER.reset()
