"""The sandbox card processor: a local HTTP server that answers the part of Stripe's API
Velory uses (Checkout Sessions, PaymentIntents, refunds, events) as Stripe does, serves the
hosted card page and a 3-D Secure test challenge, signs and delivers webhooks, and follows
Stripe's test cards (docs/sandbox-processor.md). Velory talks to it through the official
``stripe`` library, pointed at ``url``. Standard library only (``stripe`` just for its API
version), no Django models, so it runs without a database.

``state`` holds the objects and what happens to them, ``cards`` the test cards and the
checks of a typed card, ``pages`` the HTML, ``webhooks`` signing and delivery, ``customer``
a customer driving the pages (``pay()``), ``server`` the HTTP side and SandboxProcessor,
which ties them together. Import from here: ``from budgets.payments.processor import
ProcessorConfig, SandboxProcessor``.
"""

from .cards import TEST_CARDS, format_amount
from .config import API_VERSION, AUTHORIZATION_SECONDS, ProcessorConfig
from .customer import PayResult
from .params import ApiError
from .server import SandboxProcessor
from .webhooks import signature_header

__all__ = [
    "API_VERSION",
    "AUTHORIZATION_SECONDS",
    "TEST_CARDS",
    "ApiError",
    "PayResult",
    "ProcessorConfig",
    "SandboxProcessor",
    "format_amount",
    "signature_header",
]
