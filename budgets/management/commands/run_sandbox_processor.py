"""``manage.py run_sandbox_processor``: serve the sandbox card processor
(budgets/payments/processor, docs/sandbox-processor.md), which answers Velory's Stripe calls
locally, serves the hosted card page and sends signed webhooks to Velory."""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from budgets.payments.processor import ProcessorConfig, SandboxProcessor

DEFAULT_WEBHOOK_URL = "http://127.0.0.1:8000/payments/webhooks/stripe/"


class Command(BaseCommand):
    help = (
        "Serve the sandbox card processor: Stripe's API for Checkout Sessions, PaymentIntents, "
        "refunds and events, the hosted card page with Stripe's test cards, signed webhooks."
    )
    requires_system_checks: list[str] = []  # no database or models involved

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument(
            "--port", type=int, default=int(os.environ.get("SANDBOX_PROCESSOR_PORT", "8766"))
        )
        parser.add_argument(
            "--api-key",
            default=os.environ.get("STRIPE_SECRET_KEY") or "sk_test_velory_sandbox",
            help="the secret key callers must send as 'Authorization: Bearer <key>'",
        )
        parser.add_argument(
            "--webhook-url",
            default=os.environ.get("SANDBOX_WEBHOOK_URL", DEFAULT_WEBHOOK_URL),
            help="where events are POSTed ('' for none: they wait in the processor)",
        )
        parser.add_argument(
            "--webhook-secret",
            default=os.environ.get("STRIPE_WEBHOOK_SECRET") or "whsec_velory_sandbox",
            help="the secret webhooks are signed with (Stripe-Signature)",
        )
        parser.add_argument(
            "--state-file",
            default=None,
            help="where payments are kept (default var/sandbox-processor.json; '' for none)",
        )
        parser.add_argument(
            "--public-url",
            default=None,
            help="the address customers reach the hosted pages at, if not this one",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        state_file = options["state_file"]
        if state_file is None:
            state_file = str(Path(settings.BASE_DIR) / "var" / "sandbox-processor.json")
        if state_file:
            Path(state_file).resolve().parent.mkdir(parents=True, exist_ok=True)
        if not options["api_key"]:
            raise CommandError("--api-key cannot be empty.")
        config = ProcessorConfig(
            host=options["host"],
            port=options["port"],
            api_key=options["api_key"],
            webhook_url=options["webhook_url"] or None,
            webhook_secret=options["webhook_secret"],
            state_file=state_file or None,
            public_url=options["public_url"] or None,
        )
        try:
            processor = SandboxProcessor(config)
        except OSError as error:
            raise CommandError(
                f"Cannot serve on {config.host}:{config.port}: {error.strerror}."
            ) from None
        except ValueError as error:
            raise CommandError(f"Cannot read the state file {state_file}: {error}") from None
        webhooks = f"webhooks to {config.webhook_url}" if config.webhook_url else "no webhooks"
        self.stdout.write(
            f"Sandbox card processor answering like Stripe at {processor.url} ({webhooks})"
        )
        self.stdout.flush()
        main = threading.current_thread() is threading.main_thread()
        # honcho and docker stop it with SIGTERM: leave as cleanly as on Ctrl-C.
        previous = signal.signal(signal.SIGTERM, _interrupt) if main else None
        try:
            processor.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            processor.stop()
            if main:
                signal.signal(signal.SIGTERM, previous)


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt
