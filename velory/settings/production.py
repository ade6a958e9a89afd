"""Production settings: no default secret, HTTPS only, hashed static files."""

import sys

from django.core.exceptions import ImproperlyConfigured

from .base import *  # noqa: F403
from .base import env

DEBUG = False
SECRET_KEY = env("DJANGO_SECRET_KEY", default="")
if not SECRET_KEY:
    message = (
        "DJANGO_SECRET_KEY is not set. Production refuses to start without it: "
        "generate one with `python -c 'import secrets; print(secrets.token_urlsafe(50))'` "
        "and set it in the environment."
    )
    print(f"ERROR: {message}", file=sys.stderr)
    raise ImproperlyConfigured(message)

FIELD_ENCRYPTION_KEYS = env.list("FIELD_ENCRYPTION_KEY", default=[])
if not FIELD_ENCRYPTION_KEYS:
    message = (
        "FIELD_ENCRYPTION_KEY is not set. Production refuses to start without it: it encrypts "
        "the partners' API keys (give several, comma-separated, to rotate: the first encrypts)."
    )
    print(f"ERROR: {message}", file=sys.stderr)
    raise ImproperlyConfigured(message)

# Card payments: Stripe's own API with real keys, never the sandbox's defaults.
STRIPE_API_BASE = env("STRIPE_API_BASE", default="https://api.stripe.com")
STRIPE_SECRET_KEY = env("STRIPE_SECRET_KEY", default="")
STRIPE_WEBHOOK_SECRET = env("STRIPE_WEBHOOK_SECRET", default="")
PAYMENTS_CHECKOUT_ORIGIN = env("PAYMENTS_CHECKOUT_ORIGIN", default="https://checkout.stripe.com")
CONTENT_SECURITY_POLICY["DIRECTIVES"]["form-action"] = ["'self'", PAYMENTS_CHECKOUT_ORIGIN]  # noqa: F405

# Webhook endpoints are on the internet: never this machine (its Redis, its database).
WEBHOOKS_ALLOW_LOCAL_HTTP = False

ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS")  # required: no default in production

SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=60 * 60 * 24 * 365)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SESSION_COOKIE_NAME = "__Host-sessionid"
CSRF_COOKIE_NAME = "__Host-csrftoken"

STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = False
