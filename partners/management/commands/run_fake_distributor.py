"""``manage.py run_fake_distributor``: serve the fake distributor (orders/distributors/fake.py)
for the demo and benchmarks, with the misbehaviour switches of docs/distributor-api.md."""

from __future__ import annotations

import argparse
import os
import signal
import threading
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from partners.fake import FakeConfig, FakeDistributor


def _rate(value: str) -> float:
    """A share between 0 and 1 (argparse type)."""
    try:
        rate = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number") from None
    if not 0 <= rate <= 1:
        raise argparse.ArgumentTypeError(f"{value} is not between 0 and 1")
    return rate


class Command(BaseCommand):
    help = (
        "Serve the fake distributor (the Velory distributor API v1) for the demo and "
        "benchmarks. Orders move one step every --step-seconds; switches make it misbehave."
    )
    requires_system_checks: list[str] = []  # no database or models involved

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument(
            "--port", type=int, default=int(os.environ.get("FAKE_DISTRIBUTOR_PORT", "8765"))
        )
        parser.add_argument(
            "--step-seconds",
            type=float,
            default=float(os.environ.get("FAKE_DISTRIBUTOR_STEP_SECONDS", "60")),
            help="seconds between received, processing, shipped and delivered",
        )
        parser.add_argument(
            "--state-file",
            default=None,
            help="where orders are kept (default var/fake-distributor.json; '' for none)",
        )
        parser.add_argument("--latency-ms", type=float, default=0, help="every answer waits N ms")
        parser.add_argument("--error-rate", type=_rate, default=0, help="share of 503 answers")
        parser.add_argument(
            "--hang-rate", type=_rate, default=0, help="share of requests that hang"
        )
        parser.add_argument(
            "--hang-seconds", type=float, default=30.0, help="how long a hang lasts"
        )
        parser.add_argument(
            "--malformed-rate", type=_rate, default=0, help="share of answers that are not JSON"
        )
        parser.add_argument(
            "--unknown-status-rate",
            type=_rate,
            default=0,
            help="share of order entries with a status name outside the API's table",
        )
        parser.add_argument(
            "--stranger-rate",
            type=_rate,
            default=0,
            help="share of status answers that list an order nobody asked for",
        )
        parser.add_argument(
            "--rate-limit", type=int, default=0, help="requests per second per key (0: none)"
        )
        parser.add_argument(
            "--throttle-rate", type=_rate, default=0, help="share of requests answered 429"
        )
        parser.add_argument("--seed", type=int, default=None, help="for repeatable misbehaviour")
        parser.add_argument(
            "--exception-rate",
            type=_rate,
            default=float(os.environ.get("FAKE_DISTRIBUTOR_EXCEPTION_RATE", "0")),
            help="share of parcels that meet a delivery exception instead of being delivered",
        )
        push = parser.add_argument_group(
            "push mode",
            "push one key's orders to the Velory partner API instead of waiting "
            "to be polled (docs/partner-api.md)",
        )
        push.add_argument(
            "--push-to",
            default=os.environ.get("FAKE_DISTRIBUTOR_PUSH_URL") or None,
            help="the partner API's base URL, e.g. http://127.0.0.1:8000/api/partner/v1/",
        )
        push.add_argument(
            "--push-for",
            default=os.environ.get("FAKE_DISTRIBUTOR_PUSH_FOR") or None,
            help="the distributor API key whose orders are pushed (the others are polled)",
        )
        push.add_argument(
            "--push-key-file",
            default=os.environ.get("FAKE_DISTRIBUTOR_PUSH_KEY_FILE") or None,
            help="a file holding the partner API key (vpk_…), read at every round; "
            "seed_demo writes var/fake-distributor-push-key",
        )
        push.add_argument(
            "--push-interval", type=float, default=1.0, help="seconds between push rounds"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["step_seconds"] <= 0:
            raise CommandError("--step-seconds must be greater than 0.")
        if options["latency_ms"] < 0 or options["hang_seconds"] < 0 or options["rate_limit"] < 0:
            raise CommandError("--latency-ms, --hang-seconds and --rate-limit cannot be negative.")
        state_file = options["state_file"]
        if state_file is None:
            state_file = str(Path(settings.BASE_DIR) / "var" / "fake-distributor.json")
        if state_file:
            Path(state_file).resolve().parent.mkdir(parents=True, exist_ok=True)
        config = FakeConfig(
            host=options["host"],
            port=options["port"],
            step_seconds=options["step_seconds"],
            latency_ms=options["latency_ms"],
            error_rate=options["error_rate"],
            hang_rate=options["hang_rate"],
            hang_seconds=options["hang_seconds"],
            malformed_rate=options["malformed_rate"],
            unknown_status_rate=options["unknown_status_rate"],
            stranger_rate=options["stranger_rate"],
            rate_limit=options["rate_limit"],
            throttle_rate=options["throttle_rate"],
            state_file=state_file or None,
            seed=options["seed"],
            exception_rate=options["exception_rate"],
            push_url=options["push_to"],
            push_for=options["push_for"],
            push_key_file=options["push_key_file"],
            push_interval=options["push_interval"],
        )
        if bool(config.push_url) != bool(config.push_for):
            raise CommandError("--push-to and --push-for go together.")
        if config.push_interval <= 0:
            raise CommandError("--push-interval must be greater than 0.")
        try:
            fake = FakeDistributor(config)
        except OSError as error:
            raise CommandError(
                f"Cannot serve on {config.host}:{config.port}: {error.strerror}."
            ) from None
        except ValueError as error:
            raise CommandError(f"Cannot read the state file {state_file}: {error}") from None
        self.stdout.write(
            f"Fake distributor serving the Velory distributor API v1 at {fake.url} "
            f"(one step every {config.step_seconds:g} s)"
            + (
                f"; pushing the orders of key {config.push_for!r} to {config.push_url}"
                if config.push_url
                else ""
            )
        )
        self.stdout.flush()
        main = threading.current_thread() is threading.main_thread()
        # honcho and docker stop it with SIGTERM: leave as cleanly as on Ctrl-C.
        previous = signal.signal(signal.SIGTERM, _interrupt) if main else None
        try:
            fake.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            fake.stop()
            if main:
                signal.signal(signal.SIGTERM, previous)


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt
