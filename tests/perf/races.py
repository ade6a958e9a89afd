"""The races, many times over (PostgreSQL, one thread and one connection each): many
cancellations of one card-paid order at once, many requests against one budget at once, and
the mixed use cases of a company at work. Prints, per race, how many trials went wrong and
how many deadlocks PostgreSQL reported. Trials: BENCH_RACE_TRIALS (default 10)."""

from __future__ import annotations

import contextlib
import os
import random
import time
from decimal import Decimal

from tests.helpers import run_at_once
from tests.perf.bench import section, table

TRIALS = int(os.environ.get("BENCH_RACE_TRIALS", "10"))
CANCELLERS = 32
SUBMITTERS = 32


def deadlocks() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()")
        return cursor.fetchone()[0]


def company_with_people(n_employees: int, allowance: str, *, card: bool = False):
    from budgets.services import budget_create
    from companies import services as company_services
    from companies.models import Company, Partner
    from core.tenancy import Role
    from orders.models import Product

    tag = f"{int(time.time() * 1e6)}{random.randrange(1000)}"
    company = Company.objects.create(
        slug=f"race-{tag}", name=f"Race {tag}", card_payments_allowed=card
    )
    partner = Partner.objects.create(
        slug=f"race-p-{tag}", name=f"Race Partner {tag}", support_email="p@race.example"
    )
    partner.companies.add(company)
    admin = company_services.user_create(
        email=f"admin-{tag}@race.example",
        full_name="Race Admin",
        role=Role.COMPANY_ADMIN,
        company=company,
    )
    people = [
        company_services.user_create(
            email=f"e{i}-{tag}@race.example",
            full_name=f"Racer {i}",
            company=company,
            delivery_address="Racegatan 1",
        )
        for i in range(n_employees)
    ]
    for person in people:
        budget_create(employee=person, allowance=Decimal(allowance))
    product = Product.objects.create(
        company=company,
        partner=partner,
        name="Race laptop",
        category="laptop",
        price=Decimal("150.00"),
        currency="EUR",
    )
    return company, admin, people, product


@contextlib.contextmanager
def sandbox_processor():
    """The sandbox card processor over real HTTP on 127.0.0.1, for the races' card payments
    (the bench's settings are production's, which point at Stripe itself)."""
    from django.conf import settings

    from budgets.payments.processor import ProcessorConfig, SandboxProcessor
    from tests import helpers

    server = SandboxProcessor(
        ProcessorConfig(api_key="sk_test_velory_bench", webhook_secret="whsec_velory_bench")
    ).start()
    saved = {
        name: getattr(settings, name)
        for name in ("STRIPE_API_BASE", "STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET")
    }
    settings.STRIPE_API_BASE = server.url
    settings.STRIPE_SECRET_KEY = "sk_test_velory_bench"
    settings.STRIPE_WEBHOOK_SECRET = "whsec_velory_bench"
    helpers.PROCESSOR["server"] = server
    try:
        yield server
    finally:
        for name, value in saved.items():
            setattr(settings, name, value)
        helpers.PROCESSOR.pop("server", None)
        server.stop()


def cancellations_trial() -> bool:
    from budgets.models import BudgetEntry, CardPayment, Refund
    from devices.engine import TransitionRefused
    from orders import services as orders
    from tests.helpers import card, submit

    _company, admin, [person], product = company_with_people(1, "100.00", card=True)
    # The part over budget is held on the processor's page, then captured on approval.
    request = submit(None, product, employee=person, card_=card())
    order = orders.request_approve(request_id=request.pk, actor=admin).order
    if CardPayment.objects.get(request=request).status != CardPayment.Status.SUCCEEDED:
        return False  # not a card-paid order: the race below would not be this one
    results = run_at_once(
        CANCELLERS,
        lambda i: orders.order_cancel(order_id=order.pk, actor=admin, reason=f"race {i}"),
    )
    errors = [
        r for r in results if isinstance(r, Exception) and not isinstance(r, TransitionRefused)
    ]
    refunds = Refund.objects.filter(payment__request=request, status="succeeded").count()
    releases = BudgetEntry.objects.filter(order=order, kind="release").count()
    return not errors and refunds == 1 and releases <= 1


def submissions_trial() -> bool:
    from budgets.models import Budget
    from budgets.services import BudgetRefused
    from orders import services as orders

    _company, _admin, [person], product = company_with_people(1, "1000.00")
    results = run_at_once(
        SUBMITTERS,
        lambda i: orders.request_submit(
            employee=person, product_id=product.pk, delivery_address="Racegatan 1"
        ),
    )
    errors = [r for r in results if isinstance(r, Exception) and not isinstance(r, BudgetRefused)]
    budget = Budget.objects.get(employee=person)
    ledger = budget.ledger_totals()
    return not errors and budget.available >= 0 and budget.reserved == ledger["reserved"]


def mixed_trial(seconds: float = 3.0) -> bool:
    from django.core.exceptions import ValidationError

    from budgets.models import Budget
    from budgets.services import BudgetRefused
    from devices.engine import TransitionRefused
    from orders import services as orders
    from orders.models import ProductRequest, RequestStatus

    expected = (BudgetRefused, TransitionRefused, ValidationError, ProductRequest.DoesNotExist)
    company, admin, people, product = company_with_people(6, "100000.00")
    stop = time.monotonic() + seconds

    def work(i):
        rng = random.Random(i)
        while time.monotonic() < stop:
            try:
                if i < len(people):
                    if rng.random() < 0.7:
                        orders.request_submit(
                            employee=people[i],
                            product_id=product.pk,
                            delivery_address="Racegatan 1",
                        )
                    else:
                        for pk in ProductRequest.objects.filter(
                            employee=people[i], status=RequestStatus.PENDING
                        ).values_list("pk", flat=True)[:1]:
                            orders.request_withdraw(request_id=pk, actor=people[i])
                else:
                    for pk in ProductRequest.objects.filter(
                        company=company, status=RequestStatus.PENDING
                    ).values_list("pk", flat=True)[:3]:
                        if rng.random() < 0.7:
                            request = orders.request_approve(request_id=pk, actor=admin)
                            if rng.random() < 0.5:
                                orders.order_cancel(
                                    order_id=request.order_id, actor=admin, reason="race"
                                )
                        else:
                            orders.request_reject(request_id=pk, actor=admin, reason="race")
            except expected:
                pass
        return "ok"

    results = run_at_once(len(people) + 2, work)
    errors = [r for r in results if isinstance(r, Exception)]
    exact = all(
        (b.reserved, b.committed) == tuple(b.ledger_totals()[k] for k in ("reserved", "committed"))
        for b in Budget.objects.filter(company=company)
    )
    return not errors and exact


@section("races")
def races() -> None:
    print(f"each race {TRIALS} times (BENCH_RACE_TRIALS), PostgreSQL, a thread per connection")
    rows = []
    for name, trial in (
        (f"{CANCELLERS} cancellations of one card-paid order", cancellations_trial),
        (f"{SUBMITTERS} requests against one budget", submissions_trial),
        ("mixed use cases, 3 s, 8 threads", mixed_trial),
    ):
        before, wrong, started = deadlocks(), 0, time.perf_counter()
        with sandbox_processor():
            for _ in range(TRIALS):
                wrong += not trial()
        rows.append(
            {
                "race": name,
                "trials": TRIALS,
                "wrong": wrong,
                "deadlocks": deadlocks() - before,
                "wall time": f"{time.perf_counter() - started:.1f} s",
            }
        )
    print(table(rows, ["race", "trials", "wrong", "deadlocks", "wall time"]))
