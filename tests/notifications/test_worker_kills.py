"""A real Celery worker process on Redis, killed with SIGKILL again and again while the
outbox sends its mail to a real SMTP server (aiosmtpd): no mail is lost, and the
duplicates are counted (the target is none).

What recovers the work of a killed worker is the outbox itself: the row's claim runs out
(3 × EMAIL_TIMEOUT + 5 s) and the periodic sweeper sends it, as beat would."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.db import connection, transaction

from notifications.models import Notification
from notifications.services import Message, notifications_send_pending, notify_many
from velory.celery import app

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
ROOT = Path(__file__).resolve().parents[2]
MAILS = 1000
KILLS = 8


def worker(env: dict) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "velory",
            "worker",
            "--pool=prefork",
            "--concurrency=2",
            "--without-gossip",
            "--without-mingle",
            "--loglevel=WARNING",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group: the kill takes the children too
    )


def kill(process: subprocess.Popen) -> None:
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(10)


def test_worker_killed_again_and_again_loses_no_mail(settings, smtp, acme):
    if not django_settings.CELERY_BROKER_URL.startswith("redis"):
        raise AssertionError("needs REDIS_URL: CI starts Redis and sets it")
    settings.EMAIL_TIMEOUT = 2  # claims of killed senders run out after 11 s
    db = connection.settings_dict
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "CELERY_"))},
        "DJANGO_SETTINGS_MODULE": "velory.settings.local",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "REDIS_URL": django_settings.CELERY_BROKER_URL,
        "EMAIL_URL": f"smtp://127.0.0.1:{smtp.port}",
        "EMAIL_TIMEOUT": "2",
    }
    app.conf.task_always_eager = False
    state = {"process": worker(env), "kills": 0}

    def killer():  # kills the worker again and again while the mail is queued and sent
        time.sleep(3)
        while state["kills"] < KILLS:
            time.sleep(0.6)
            kill(state["process"])
            state["kills"] += 1
            state["process"] = worker(env)

    thread = threading.Thread(target=killer)
    thread.start()
    try:
        time.sleep(3)  # the first worker is up
        for chunk in range(0, MAILS, 50):
            with transaction.atomic():  # after commit, one task per mail goes to Redis
                notify_many(
                    [
                        Message(
                            kind="invite",
                            dedup_key=f"kill:{i}",
                            context={"user": acme.employee, "link": "https://x/y"},
                            recipient=acme.employee,
                        )
                        for i in range(chunk, chunk + 50)
                    ]
                )
        thread.join(60)
        time.sleep(3)
    finally:
        thread.join(60)
        kill(state["process"])
        # What is still queued (and the killed workers' unacknowledged tasks) must not reach
        # a later test's worker: the rows themselves stay, for the sweeper below.
        app.control.purge()
        app.conf.task_always_eager = True
    by_workers = Notification.objects.filter(status=Notification.Status.SENT).count()
    # What the killed workers left: their claims run out, then the sweeper sends it.
    time.sleep(12)
    deadline = time.monotonic() + 60
    while (
        time.monotonic() < deadline
        and Notification.objects.exclude(status=Notification.Status.SENT).exists()
    ):
        notifications_send_pending()
        time.sleep(0.5)
    ids = [m["Message-ID"] for m in smtp.parsed()]
    counts = Counter(ids)
    duplicates = sum(n - 1 for n in counts.values())
    print(
        f"\n{MAILS} mails, worker killed {state['kills']} times: {by_workers} sent by the "
        f"workers, {MAILS - by_workers} left to the sweeper; {len(counts)} delivered, "
        f"{duplicates} duplicates"
    )
    assert Notification.objects.filter(status=Notification.Status.SENT).count() == MAILS
    assert len(counts) == MAILS  # none lost
    assert duplicates <= KILLS * 2  # at most what the killed senders had in hand
