"""Each recovery time of docs/operations.md, asserted with the real sweepers: a real Celery
worker with its embedded beat, on Redis and PostgreSQL, with every recovery timer at a
twentieth (``VELORY_RECOVERY_TIME_SCALE``, core/timers.py). The crash each row of the table
describes is staged at one instant (a worker that died holding its claim, a task that never
reached the broker), and the test measures how long the worker takes to finish the work,
against the table's bound at the same scale.

Card payments (captures, voids, checkouts: one sweeper, beside the processor's webhooks) are
tested in tests/budgets; the daily jobs' bound is their schedule (a re-run redoes only
what is not recorded: tests/leasing, tests/budgets)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.db import connection, transaction
from django.utils import timezone

from budgets import services as budgets
from budgets.models import CardPayment, Refund
from budgets.payments import get_gateway
from notifications.models import Notification
from notifications.services import Message, claim_seconds, notify_many
from orders import services as orders
from orders.models import DispatchStatus, Order
from partners.services import placing, polling
from tests.conftest import connect
from tests.helpers import budget_for, card, place_order, product_for, submit
from velory.celery import app

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
ROOT = Path(__file__).resolve().parents[2]
SCALE = 0.05
EMAIL_TIMEOUT = 1
# What the bound does not count: one task's own run and the beat's tick after a timer ends.
SLACK = 2.0
# The nominal timers, as the services and velory/celery.py write them.
SWEEP = {"mail": 60, "place": 30, "poll": 30, "refunds": 60, "payments": 60}


def bounds() -> dict[str, float]:
    """The table's worst cases, at SCALE (the mail claim is 3 × EMAIL_TIMEOUT + 5 s, not
    scaled: it must outlast one SMTP conversation)."""
    s = SCALE
    return {
        "mail: the sender died holding it": claim_seconds() + s * SWEEP["mail"],
        "mail: never reached the broker": s * (60 + SWEEP["mail"]),
        "placing: the worker died placing": s
        * (max(placing.PLACE_CLAIM_SECONDS, placing.PLACE_UNSENT_AFTER_SECONDS) + SWEEP["place"]),
        "placing: never reached the broker": s
        * (placing.PLACE_UNSENT_AFTER_SECONDS + SWEEP["place"]),
        "tracking: the poller died": s * (polling.POLL_CLAIM_SECONDS + SWEEP["poll"]),
        "refund: the worker died refunding": s
        * (
            max(budgets.REFUND_CLAIM_SECONDS, budgets.REFUND_SWEEP_GRACE_SECONDS) + SWEEP["refunds"]
        ),
        "capture: the worker died capturing": s
        * (budgets.DECISION_CLAIM_SECONDS + SWEEP["payments"]),
        "checkout: paid, but Velory was never told": s
        * (budgets.CHECKOUT_SYNC_AFTER_SECONDS + SWEEP["payments"]),
    }


def worker(env: dict, beat_file: Path, log) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "velory",
            "worker",
            "--beat",
            "--scheduler",
            "celery.beat:PersistentScheduler",
            "--schedule",
            str(beat_file),
            "--pool=prefork",
            "--concurrency=2",
            "--without-gossip",
            "--without-mingle",
            "--loglevel=WARNING",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log,
        start_new_session=True,
    )


def wait_until_ready(process: subprocess.Popen, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert process.poll() is None, "the worker exited"
        if app.control.ping(timeout=0.5):
            return
    raise AssertionError("the worker did not answer a ping")


@pytest.fixture
def parked(acme, smtp, fake_distributor):
    """One piece of each kind of work, parked (held until tomorrow) so that nothing sends,
    places, polls or refunds it before the test stages its crash."""
    far = timezone.now() + timedelta(days=1)
    connect(acme.partner, fake_distributor)
    acme.company.card_payments_allowed = True
    acme.company.save()
    polled = place_order(acme)  # placed at once, for real (after commit): the poller's order
    assert Order.objects.get(pk=polled.pk).dispatch_status == DispatchStatus.PLACED
    budget_for(acme, "100.00")
    # A card payment to refund: held on the processor's page, captured on approval (after
    # the approval's commit, before the worker starts).
    request = submit(acme, product_for(acme, price="150.00"), card_=card())
    orders.request_approve(request_id=request.pk, actor=acme.admin)
    assert CardPayment.objects.get(pk=request.card_payment.pk).status == "succeeded"
    # A hold approved while the processor was down (its capture waits), and a checkout the
    # employee paid without Velory hearing of it (the tab closed, the webhook lost).
    from tests.helpers import pay_checkout, processor

    to_capture = submit(acme, product_for(acme, price="120.00"), card_=card())
    processor().down = True
    orders.request_approve(request_id=to_capture.pk, actor=acme.admin)
    processor().down = False
    unreported = submit(acme, product_for(acme, price="130.00"))
    pay_checkout(unreported.card_payment, card(), report=False)
    CardPayment.objects.filter(pk=to_capture.card_payment.pk).update(
        claimed_until=far, next_attempt_at=far
    )
    CardPayment.objects.filter(pk=unreported.card_payment.pk).update(created_at=far)
    with transaction.atomic():
        mails = notify_many(
            [
                Message(
                    kind="invite",
                    dedup_key=f"bound:{i}",
                    context={"user": acme.employee, "link": "https://x/y"},
                    recipient=acme.employee,
                )
                for i in range(2)
            ]
        )
        Notification.objects.filter(pk__in=[m.pk for m in mails]).update(
            claimed_until=far, next_attempt_at=far
        )
        orders_ = [place_order(acme) for _ in range(2)]
        Order.objects.filter(pk__in=[o.pk for o in orders_]).update(dispatch_claimed_until=far)
        refund = budgets.refund_create(
            payment_id=request.card_payment.pk,
            amount=request.card_amount,
            reason="Bound test",
            key="bound:refund",
        )
        Refund.objects.filter(pk=refund.pk).update(claimed_until=far, next_attempt_at=far)
    Order.objects.filter(pk=polled.pk).update(next_poll_at=far)
    return {
        "mails": mails,
        "orders": orders_,
        "polled": polled,
        "refund": refund,
        "to_capture": to_capture.card_payment,
        "unreported": unreported.card_payment,
    }


def stage_crashes(parked, t0) -> None:
    """The crash of each row, at t0: what a worker that died, or a broker that was down,
    leaves in the tables."""
    s = SCALE
    mail_held, mail_unsent = parked["mails"]
    placing_held, placing_unsent = parked["orders"]
    with transaction.atomic():
        Notification.objects.filter(pk=mail_held.pk).update(
            claimed_until=t0 + timedelta(seconds=claim_seconds()), next_attempt_at=t0, attempts=1
        )
        Notification.objects.filter(pk=mail_unsent.pk).update(
            claimed_until=None,
            next_attempt_at=t0 + timedelta(seconds=s * django_settings.OUTBOX_RETRY_AFTER_SECONDS),
        )
        Order.objects.filter(pk=placing_held.pk).update(
            created_at=t0,
            dispatch_claimed_until=t0 + timedelta(seconds=s * placing.PLACE_CLAIM_SECONDS),
            dispatch_attempts=1,
        )
        Order.objects.filter(pk=placing_unsent.pk).update(
            created_at=t0, dispatch_claimed_until=None
        )
        Order.objects.filter(pk=parked["polled"].pk).update(
            next_poll_at=t0 + timedelta(seconds=s * polling.POLL_CLAIM_SECONDS)
        )
        Refund.objects.filter(pk=parked["refund"].pk).update(
            claimed_until=t0 + timedelta(seconds=s * budgets.REFUND_CLAIM_SECONDS),
            next_attempt_at=t0,
            attempts=1,
        )
        CardPayment.objects.filter(pk=parked["to_capture"].pk).update(
            claimed_until=t0 + timedelta(seconds=s * budgets.DECISION_CLAIM_SECONDS),
            next_attempt_at=t0,
            attempts=1,
        )
        CardPayment.objects.filter(pk=parked["unreported"].pk).update(created_at=t0)


def finished(parked, t0) -> dict[str, bool]:
    mail_held, mail_unsent = parked["mails"]
    placing_held, placing_unsent = parked["orders"]
    sent = set(
        Notification.objects.filter(status=Notification.Status.SENT).values_list("pk", flat=True)
    )
    placed = set(
        Order.objects.filter(dispatch_status=DispatchStatus.PLACED).values_list("pk", flat=True)
    )
    polled = Order.objects.get(pk=parked["polled"].pk).last_polled_at
    refund = Refund.objects.get(pk=parked["refund"].pk)
    payments = dict(
        CardPayment.objects.filter(
            pk__in=[parked["to_capture"].pk, parked["unreported"].pk]
        ).values_list("pk", "status")
    )
    return {
        "mail: the sender died holding it": mail_held.pk in sent,
        "mail: never reached the broker": mail_unsent.pk in sent,
        "placing: the worker died placing": placing_held.pk in placed,
        "placing: never reached the broker": placing_unsent.pk in placed,
        "tracking: the poller died": polled is not None and polled > t0,
        "refund: the worker died refunding": refund.status == Refund.Status.SUCCEEDED,
        "capture: the worker died capturing": payments[parked["to_capture"].pk] == "succeeded",
        "checkout: paid, but Velory was never told": payments[parked["unreported"].pk]
        == "authorized",
    }


def test_every_kind_of_work_recovers_within_its_documented_bound(parked, smtp, tmp_path):
    if not django_settings.CELERY_BROKER_URL.startswith("redis"):
        raise AssertionError("needs REDIS_URL: CI starts Redis and sets it")
    db = connection.settings_dict
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "CELERY_"))},
        "DJANGO_SETTINGS_MODULE": "velory.settings.local",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "REDIS_URL": django_settings.CELERY_BROKER_URL,
        "EMAIL_URL": f"smtp://127.0.0.1:{smtp.port}",
        "EMAIL_TIMEOUT": str(EMAIL_TIMEOUT),
        "VELORY_RECOVERY_TIME_SCALE": str(SCALE),
        # the partners' API keys are encrypted with these: the worker must read them
        "DJANGO_SECRET_KEY": django_settings.SECRET_KEY,
        "FIELD_ENCRYPTION_KEY": ",".join(django_settings.FIELD_ENCRYPTION_KEYS),
        # the refund goes to this run's sandbox processor, as the test's own calls do
        "STRIPE_API_BASE": django_settings.STRIPE_API_BASE,
        "STRIPE_SECRET_KEY": django_settings.STRIPE_SECRET_KEY,
        "STRIPE_WEBHOOK_SECRET": django_settings.STRIPE_WEBHOOK_SECRET,
    }
    django_settings.EMAIL_TIMEOUT = EMAIL_TIMEOUT  # so that claim_seconds() is the worker's
    app.control.purge()  # nothing left over from another test reaches this worker
    log = (tmp_path / "worker.log").open("wb")
    process = worker(env, tmp_path / "beat", log)
    try:
        wait_until_ready(process)
        t0 = timezone.now()
        stage_crashes(parked, t0)
        limits = bounds()
        took: dict[str, float] = {}
        deadline = time.monotonic() + max(limits.values()) + 3 * SLACK
        while time.monotonic() < deadline and len(took) < len(limits):
            now = (timezone.now() - t0).total_seconds()
            for kind, done in finished(parked, t0).items():
                if done and kind not in took:
                    took[kind] = now
            time.sleep(0.1)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)
        app.control.purge()
        log.close()
    errors = [
        line for line in (tmp_path / "worker.log").read_text().splitlines() if "ERROR" in line
    ]
    print("\nrecovery at a twentieth of every timer (bound, then measured):")
    for kind, limit in limits.items():
        measured = f"{took[kind]:.1f} s" if kind in took else "not recovered"
        print(f"  {kind}: within {limit:.1f} s (+{SLACK:.0f} s): {measured}")
    assert not errors, errors[:5]
    assert set(took) == set(limits), f"not recovered: {sorted(set(limits) - set(took))}"
    late = {k: round(took[k], 1) for k in limits if took[k] > limits[k] + SLACK}
    assert not late, late
    # Nothing was done twice on the way: no mail went out twice, one refund at the processor.
    ids = [m["Message-ID"] for m in smtp.parsed()]
    assert len(ids) >= 2 and len(set(ids)) == len(ids)
    payment = CardPayment.objects.get(pk=parked["refund"].payment_id)
    theirs = get_gateway().refunds_since(payment.created_at - timedelta(minutes=1))
    assert [r.intent_id for r in theirs].count(payment.charge_id) == 1
