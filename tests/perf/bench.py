"""`make bench`: measured figures, printed (never a timed test).

    python -m tests.perf.bench            # every section
    python -m tests.perf.bench pages      # one section (make bench BENCH_ARGS=pages)

Runs on PostgreSQL (DATABASE_URL, else postgres://postgres@127.0.0.1:5432/velory_bench,
created when missing). Each section seeds what it needs through the services, except the
admin section (tests/perf/admin_lists.py): a million devices in set-based SQL, in databases
of its own (velory_bench_admin, velory_bench_admin_1k; ``own_database``). The pages
section loads with wrk, installing it (apt-get, as root) when it is missing, else with the
Python generator of tests/perf/loadgen.py; VELORY_BENCH_LOADGEN=python forces that one.
The mixed section (tests/perf/mixed.py) has 20 employees and 2 admins click through the
portal and the admin for BENCH_MIXED_SECONDS (60) against gunicorn with 2 workers, then
again with its own Redis killed for BENCH_MIXED_OUTAGE (30) seconds in the middle."""

from __future__ import annotations

import contextlib
import os
import sys
import time

SECTIONS = {}


def section(name):
    def register(fn):
        SECTIONS[name] = fn
        return fn

    return register


def setup_django() -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = "velory.settings.bench"
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        url = "postgres://postgres@127.0.0.1:5432/velory_bench"
        os.environ["DATABASE_URL"] = url
    ensure_database(url)
    if not os.environ.get("REDIS_URL") and redis_answers("127.0.0.1", 6379):
        os.environ["REDIS_URL"] = "redis://127.0.0.1:6379/14"  # the cache, as in production
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


@contextlib.contextmanager
def own_database(name: str):
    """Run a section against database ``name`` on the same server (created and migrated
    when missing), so that its data never mixes with the other sections'; the connection
    goes back to the bench's database afterwards."""
    from django.core.management import call_command
    from django.db import connections

    connection = connections["default"]
    previous = connection.settings_dict["NAME"]
    ensure_database(os.environ["DATABASE_URL"].rsplit("/", 1)[0] + "/" + name)
    connection.close()
    connection.settings_dict["NAME"] = name
    try:
        call_command("migrate", verbosity=0)
        yield
    finally:
        connection.close()
        connection.settings_dict["NAME"] = previous


def redis_answers(host: str, port: int) -> bool:
    import socket

    try:
        with socket.create_connection((host, port), timeout=0.5) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def ensure_database(url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1].split("?")[0]
    admin_url = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')


def table(rows: list[dict], columns: list[str]) -> str:
    widths = {c: max(len(c), *(len(str(r.get(c, ""))) for r in rows)) for c in columns}
    line = "  ".join(c.ljust(widths[c]) for c in columns)
    out = [line, "  ".join("-" * widths[c] for c in columns)]
    for r in rows:
        out.append("  ".join(str(r.get(c, "")).ljust(widths[c]) for c in columns))
    return "\n".join(out)


def main(argv: list[str]) -> int:
    setup_django()
    # Run as __main__, this module is not the one the sections import: use that one's table.
    from tests.perf import (  # noqa: F401
        admin_lists,
        api,
        bench,
        leasing,
        mixed,
        money,
        pages,
        polling,
        races,
    )

    sections = bench.SECTIONS
    chosen = argv or list(sections)
    for name in chosen:
        if name not in sections:
            print(f"unknown section {name!r}; choose from {', '.join(sections)}")
            return 2
    started = time.monotonic()
    for name in chosen:
        print(f"\n=== {name} ===", flush=True)
        sections[name]()
    print(f"\nbench finished in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
