"""Deployment checks for card payments: production must talk to the real processor with
its own keys over HTTPS, never to the sandbox with its published defaults."""

from django.conf import settings
from django.core.checks import Tags, Warning, register

SANDBOX_DEFAULTS = {"sk_test_velory_sandbox", "whsec_velory_sandbox"}


@register(Tags.security, deploy=True)
def payments_configured(app_configs=None, **kwargs):
    problems = []
    if not settings.STRIPE_API_BASE.startswith("https://"):
        problems.append(
            Warning(
                f"STRIPE_API_BASE is {settings.STRIPE_API_BASE}: card payments must go to the "
                "processor over HTTPS in production.",
                id="velory.W001",
            )
        )
    secrets = {settings.STRIPE_SECRET_KEY, settings.STRIPE_WEBHOOK_SECRET}
    if not all(secrets) or secrets & SANDBOX_DEFAULTS:
        problems.append(
            Warning(
                "STRIPE_SECRET_KEY and STRIPE_WEBHOOK_SECRET are not both set to your own: "
                "card payments will be refused until they are.",
                id="velory.W002",
            )
        )
    return problems
