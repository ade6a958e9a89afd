"""The console at scale: 1,000,000 devices across 1,000 companies, one partner serving 200
of them (tests/perf/admin_seed.py, set-based SQL in a database of its own). For a company
admin (of one of those 200 companies) and for the partner's staff: the dashboard, every
main changelist (first page, a deep page, a filter, a search) and the console's search,
with queries per page and the median time (in-process, the Django test client).

The same pages are measured on the same data shape at about a thousand devices first
(``velory_bench_admin_1k``), so the table shows that the number of queries does not grow
with the rows. BENCH_ADMIN_SCALES=1M skips the small one. Target: every page under
TARGET_MS median, and the same number of queries at both sizes."""

from __future__ import annotations

import os
import re
import statistics
import time

from tests.perf.bench import own_database, section, table

TARGET_MS = 150
# name: (database, seed size)
SCALES = {
    "1k": ("velory_bench_admin_1k", {"companies": 5, "employees": 50}),
    "1M": ("velory_bench_admin", {"companies": 1000, "employees": 200}),
}
NAME = "Lindqvist"  # a family name about one employee in 25 has


def measure(client, url, n=15):
    """(queries, median ms) of ``url``; None when the user may not open it."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    started = time.perf_counter()
    response = client.get(url)  # warm: templates compiled, permissions cached
    if response.status_code in (302, 403, 404):
        return None
    assert response.status_code == 200, (url, response.status_code)
    if time.perf_counter() - started > 1:
        n = 5  # a slow page: enough to see that it is slow
    timings = []
    for _ in range(n):
        with CaptureQueriesContext(connection) as ctx:
            started = time.perf_counter()
            response = client.get(url)
            timings.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, (url, response.status_code)
    return len(ctx), statistics.median(timings)


def last_page(client, path) -> int:
    """The highest page number the changelist's paginator links to."""
    html = client.get(path).content.decode()
    return max((int(p) for p in re.findall(r"(?:\?|&amp;|&)p=(\d+)", html)), default=1)


def the_pages(role: str, facts: dict) -> list[tuple[str, str]]:
    """(page, path) for ``role``: each list's first page, a deep page, a filter, a search;
    and the console's search for a serial number, an order number and a name."""
    lists = [
        ("devices", "/admin/devices/device/", "status__exact=active", NAME),
        ("work queue", "/admin/orders/workqueuedevice/", "age=7", NAME),
        ("work queue (orders)", "/admin/orders/workqueueorder/", "waiting=preparing", NAME),
        ("orders", "/admin/orders/order/", "dispatch_status__exact=placed", NAME),
        ("requests", "/admin/orders/productrequest/", "status__exact=rejected", NAME),
        ("leases", "/admin/leasing/lease/", "status__exact=active", "MacBook"),
        ("budgets", "/admin/budgets/budget/", "category__exact=laptop", NAME),
        ("mail outbox", "/admin/notifications/notification/", "status__exact=failed", "ThinkPad"),
        ("users", "/admin/companies/user/", "is_active__exact=1", NAME),
    ]
    if role == "partner":
        lists[0] = (
            "devices",
            "/admin/devices/device/",
            f"company__id__exact={facts['company']}&status__exact=preparing",
            NAME,
        )
    pages = [("dashboard", "/admin/")]
    for name, path, filtered, term in lists:
        pages.append((f"{name}: first page", path))
        pages.append((f"{name}: deep page", f"{path}?p={{deep}}"))
        if filtered:
            pages.append((f"{name}: filter {filtered.split('=')[0]}", f"{path}?{filtered}"))
        pages.append((f"{name}: search {term}", f"{path}?q={term}"))
    pages += [
        ("search: serial number", f"/admin/search/?q={facts['serial']}"),
        ("search: order number", f"/admin/search/?q={facts['order']}"),
        ("search: name", f"/admin/search/?q={NAME}"),
    ]
    return pages


def measure_scale(database: str, size: dict) -> tuple[dict, float | None, int]:
    """{(role, page): (queries, median)} at one size, the seconds the seed took (None when it
    was there already) and the number of devices."""
    from django.test import Client

    from companies.models import User
    from devices.models import Device
    from orders.models import order_number
    from tests.perf import admin_seed

    results = {}
    with own_database(database):
        took = admin_seed.seed(**size)
        devices = Device.objects.count()
        sample = (
            Device.objects.filter(company_id=1)
            .exclude(serial_number="")
            .order_by("pk")
            .values("serial_number", "order_id")[7]
        )
        facts = {
            "company": 1,
            "serial": sample["serial_number"],
            "order": order_number(sample["order_id"]),
        }
        users = {
            "company admin": User.objects.get(email=admin_seed.ADMIN_EMAIL),
            "partner": User.objects.get(email=admin_seed.STAFF_EMAIL),
        }
        for role, user in users.items():
            client = Client()
            client.force_login(user, backend="companies.backends.EmailBackend")
            deep = {}
            for page, path in the_pages(role, facts):
                if "{deep}" in path:
                    base = path.split("?")[0]
                    if base not in deep:
                        first = client.get(base)
                        deep[base] = (
                            min(200, last_page(client, base)) if first.status_code == 200 else 1
                        )
                    path = path.format(deep=deep[base])
                    page = f"{page} (p={deep[base]})"
                results[(role, page.split(" (p=")[0])] = (measure(client, path), path)
    return results, took, devices


@section("admin")
def admin_changelists() -> None:
    import logging

    # A page the role may not open is a line in the table, not a traceback per request.
    for name in ("django.request", "django.security"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    chosen = [s.strip() for s in os.environ.get("BENCH_ADMIN_SCALES", "1k,1M").split(",")]
    measured = {}
    for scale in chosen:
        database, size = SCALES[scale]
        started = time.perf_counter()
        results, took, devices = measure_scale(database, size)
        seeded = f"seeded in {took:.0f} s" if took is not None else "seeded before"
        print(
            f"{scale}: {devices:,} devices in {database} ({seeded}; measured in "
            f"{time.perf_counter() - started:.0f} s)",
            flush=True,
        )
        measured[scale] = results
    rows, slow, growing = [], [], []
    keys = list(measured[chosen[-1]])
    for role, page in keys:
        row = {"role": role, "page": page}
        figures = {}
        for scale in chosen:
            figure, path = measured[scale].get((role, page), (None, ""))
            figures[scale] = figure
            row[f"queries {scale}"] = figure[0] if figure else "-"
            row[f"ms {scale}"] = f"{figure[1]:.1f}" if figure else "-"
        if all(f is None for f in figures.values()):
            continue  # not this role's page
        big = figures[chosen[-1]]
        if big and big[1] > TARGET_MS:
            slow.append(f"{role}: {page} ({path}) {big[1]:.0f} ms")
        counts = {f[0] for f in figures.values() if f}
        if len(counts) > 1:
            growing.append(f"{role}: {page} ({', '.join(str(c) for c in counts)} queries)")
        row["url"] = path
        rows.append(row)
    columns = ["role", "page"]
    for scale in chosen:
        columns += [f"queries {scale}", f"ms {scale}"]
    print(table(rows, [*columns, "url"]))
    print(f"\nover {TARGET_MS} ms at {chosen[-1]}: {len(slow)}")
    for line in slow:
        print("  " + line)
    if len(chosen) > 1:
        print(f"query counts that differ between sizes: {len(growing)}")
        for line in growing:
            print("  " + line)
