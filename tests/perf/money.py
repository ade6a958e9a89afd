"""50 budget reservations at once on one employee's budget (PostgreSQL, one thread and one
connection each): how long they take, and proof that the ledger is exact and nothing
overspent."""

from __future__ import annotations

import threading
import time
from decimal import Decimal

from tests.perf.bench import section, table

CONCURRENT = 50
ALLOWANCE = Decimal("5000.00")
PRICE = Decimal("150.00")  # 33 fit, 17 must be refused


def seed():
    from budgets.models import Budget
    from budgets.services import budget_create
    from companies import services as company_services
    from companies.models import Company, Partner, User
    from orders.models import Product

    company, _ = Company.objects.get_or_create(slug="bench", defaults={"name": "Bench AB"})
    partner, _ = Partner.objects.get_or_create(
        slug="bench-partner", defaults={"name": "Bench Partner", "support_email": "p@bench.example"}
    )
    partner.companies.add(company)
    email = f"money{int(time.time() * 1000)}@bench.example"
    user = company_services.user_create(
        email=email, full_name="Money Bench", company=company, delivery_address="Benchgatan 1"
    )
    budget = budget_create(employee=user, allowance=ALLOWANCE)
    product, _ = Product.objects.get_or_create(
        company=company,
        name="Bench headset",
        defaults={"partner": partner, "category": "headset", "price": PRICE, "currency": "EUR"},
    )
    return user, Budget.objects.get(pk=budget.pk), product, User


@section("budget")
def budget_reservations() -> None:
    from django.db import connection

    from budgets.services import BudgetRefused
    from orders import services as orders

    user, budget, product, _ = seed()
    print(f"{CONCURRENT} threads, each its own connection, submit a {PRICE} request at once")
    barrier = threading.Barrier(CONCURRENT)
    outcomes: list[str] = []
    lock = threading.Lock()

    def one():
        try:
            barrier.wait()
            orders.request_submit(
                employee=user, product_id=product.pk, delivery_address="Benchgatan 1"
            )
            result = "reserved"
        except BudgetRefused:
            result = "refused"
        except Exception as exc:  # reported, not hidden
            result = f"error: {exc}"
        finally:
            connection.close()
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=one) for _ in range(CONCURRENT)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    budget.refresh_from_db()
    ledger = budget.ledger_totals()
    reserved = outcomes.count("reserved")
    errors = sum(o.startswith("error") for o in outcomes)
    fits = int(ALLOWANCE // PRICE)
    rows = [
        {"figure": "concurrent reservations", "value": CONCURRENT},
        {"figure": "wall time", "value": f"{elapsed:.2f} s"},
        {
            "figure": "reserved / refused / errors",
            "value": f"{reserved} / {outcomes.count('refused')} / {errors}",
        },
        {"figure": "expected to fit", "value": fits},
        {"figure": "budget reserved (row)", "value": budget.reserved},
        {"figure": "budget reserved (ledger sum)", "value": ledger["reserved"]},
        {"figure": "available", "value": budget.available},
    ]
    print(table(rows, ["figure", "value"]))
    exact = budget.reserved == ledger["reserved"] == PRICE * reserved and reserved == fits
    print(f"\nledger exact and no overspend: {'yes' if exact and budget.available >= 0 else 'NO'}")
