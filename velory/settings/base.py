"""Velory settings, read once from the environment with django-environ.

Every variable is listed with its default in README.md. local.py, test.py and production.py
import this module and change only what differs."""

from datetime import timedelta
from pathlib import Path

import environ
from redis.backoff import NoBackoff
from redis.retry import Retry as RedisRetry

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = BASE_DIR / "var"  # SQLite files, the embedded broker, collected static, mail

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DJANGO_DEBUG", default=False)
SECRET_KEY = env("DJANGO_SECRET_KEY", default="")
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])
SITE_URL = env("VELORY_SITE_URL", default="http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    # Shared code; first, so its start-up (the console's automatic names, translated) runs
    # before the admin's; its management command: catalogues (the translations).
    "core",
    "companies.admin_site.VeloryAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_celery_beat",
    "django_fsm",
    "django_fsm_log",
    "axes",
    "csp",
    "rest_framework",
    "drf_spectacular",
    "companies",
    "notifications",
    "devices",
    "budgets",
    "leasing",
    "orders",
    "partners",
    "people",
    "backoffice",
    "portal",
    "demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "core.i18n.LanguageMiddleware",  # the person's language and their company's time zone
    "core.middleware.SecurityHeadersMiddleware",  # no-store for signed-in pages, Permissions-Policy
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "companies.middleware.SSOSignOutFormActionMiddleware",  # after CSP: sets its update first
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    # Axes last: it turns a locked-out login into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "velory.urls"
WSGI_APPLICATION = "velory.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",  # LANGUAGE_CODE for <html lang>
                "companies.context_processors.shell",
            ],
            # {{ amount|money:currency }} everywhere, e-mails included (core.money).
            "builtins": ["core.templatetags.money_tags"],
        },
    },
]

# --- Database ------------------------------------------------------------------------------
DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'velory.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The embedded mode runs web, worker and beat against one file: WAL lets readers and a
    # writer work at once, IMMEDIATE takes the write lock at BEGIN so two writers queue
    # instead of failing half-way, and the timeout lets them wait for each other.
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = env.bool(
        "DATABASE_CONN_HEALTH_CHECKS", default=True
    )
    # Parameters travel apart from the SQL (psycopg's server-side binding): the batched
    # writes of the tracking poller carry thousands of them, and formatting them into the
    # statement in Python costs more than running it.
    if env.bool("DATABASE_SERVER_SIDE_BINDING", default=True):
        DATABASES["default"].setdefault("OPTIONS", {})["server_side_binding"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Auth -------------------------------------------------------------------------------------
AUTH_USER_MODEL = "companies.User"
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "companies.backends.EmailBackend",
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"  # by role: the console for admins and partner staff, else Your Details
AUTH_PASSWORD_VALIDATORS = [
    # ASVS V2.1.1: at least 12 characters, and nothing like the person's name or address.
    {
        "NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator",
        "OPTIONS": {"user_attributes": ("email", "full_name")},
    },
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
PASSWORD_RESET_TIMEOUT = 60 * 60 * 24  # a reset link is valid for one day

# django-axes: lock a sign-in name from one address after repeated failures.
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_USERNAME_FORM_FIELD = "username"  # AuthenticationForm names the e-mail field "username"
# Failures count against the normalised address: a change of letter case is the same account.
AXES_USERNAME_CALLABLE = "companies.backends.axes_username"
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False

SESSION_ENGINE = "core.sessions"  # database sessions, read without the ORM's per-request SQL
SESSION_COOKIE_AGE = 60 * 60 * 12
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"

# --- I18N -------------------------------------------------------------------------------------
# The languages Velory speaks (docs/glossary.md; README: adding a language). A person's own
# choice wins, then their company's, then the browser's (core.i18n.LanguageMiddleware).
LANGUAGE_CODE = "en-gb"
LANGUAGES = [
    ("en-gb", "English"),
    ("sv", "Svenska"),
    ("fi", "Suomi"),
    ("nb", "Norsk bokmål"),
    ("da", "Dansk"),
]
# seed_demo gives Anna Swedish and Olli and Saga Finnish and Swedish (tests keep English).
DEMO_PROFILE_LANGUAGES = env.bool("VELORY_DEMO_PROFILE_LANGUAGES", default=True)
LOCALE_PATHS = [Path(env("VELORY_LOCALE_DIR", default=str(BASE_DIR / "locale")))]
TIME_ZONE = env("VELORY_TIME_ZONE", default="Europe/Stockholm")
USE_I18N = True
USE_TZ = True

# --- Static files -----------------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = "/media/"
MEDIA_ROOT = VAR_DIR / "media"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = DEBUG

# --- Security headers (production tightens the cookie and HTTPS settings) -----------------------
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Everything is served from our own origin; the Django admin needs inline styles only.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
        "base-uri": ["'self'"],
        "object-src": ["'none'"],
    }
}

# --- The partner push API (/api/partner/v1/, partners/api/) ------------------------------------
# Django REST framework serves only that API: JSON in and out (no browsable pages, which
# would need scripts our CSP refuses), a partner's API key as the one credential.
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Velory partner API",
    "DESCRIPTION": "Partners push order acceptance, item statuses, shipments, serial numbers "
    "and confirmed returns to Velory. See docs/partner-api.md.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": r"/api/partner/v1",
    "COMPONENT_SPLIT_REQUEST": True,
}
# Requests per API key in a moving window ("N/s", "N/m", "N/h"): over it, 429 + Retry-After.
PARTNER_API_RATE = env("PARTNER_API_RATE", default="600/m")

# --- Mail -------------------------------------------------------------------------------------
EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://")
vars().update(EMAIL_CONFIG)
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="Velory <no-reply@velory.example>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# --- Redis, cache ------------------------------------------------------------------------------

REDIS_URL = env("REDIS_URL", default="")
# Fail fast: a dead Redis is a cache miss within tens of milliseconds, with no retries, and
# core.cache's breaker then skips it for a few seconds.
REDIS_CACHE_OPTIONS = {
    "socket_connect_timeout": 0.05,
    "socket_timeout": 0.25,
    "retry": RedisRetry(NoBackoff(), 0),
}
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "TIMEOUT": 300,
            "OPTIONS": REDIS_CACHE_OPTIONS,
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": "velory",
        }
    }

# --- Celery -----------------------------------------------------------------------------------
# Without REDIS_URL the embedded mode uses kombu's SQLAlchemy transport on a SQLite file, so
# `make run` needs no other service.
CELERY_BROKER_URL = env(
    "CELERY_BROKER_URL",
    default=REDIS_URL or f"sqla+sqlite:///{VAR_DIR / 'celery-broker.sqlite3'}",
)
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TIMEZONE = TIME_ZONE

# --- Logging ----------------------------------------------------------------------------------
LOG_LEVEL = env("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain"},
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "axes": {"level": "WARNING"},
    },
}

# --- Velory -----------------------------------------------------------------------------------
DJANGO_FSM_LOG_STORAGE_METHOD = "django_fsm_log.backends.SimpleBackend"
# Device history is its own table (with source and note, tenant-scoped, bulk-written by the
# poller); django-fsm-log keeps the audit of the other state machines.
DJANGO_FSM_LOG_IGNORED_MODELS = ["devices.models.Device"]
OUTBOX_RETRY_AFTER_SECONDS = 60  # the periodic job re-sends rows pending for longer than this
# Shortens every recovery timer at once (core/timers.py): only the recovery-bound test sets it.
RECOVERY_TIME_SCALE = env.float("VELORY_RECOVERY_TIME_SCALE", default=1.0)
# With the backoff capped at an hour, 30 attempts keep trying for about a day; after that
# a row is "failed" and an admin can send it again from the mail list.
OUTBOX_MAX_ATTEMPTS = 30
# Outbound webhooks (notifications/webhooks.py, docs/webhooks.md): short timeouts, so a slow
# receiver holds a worker for seconds, never a page; retried with backoff up to the limit.
WEBHOOK_CONNECT_TIMEOUT = 3.0
WEBHOOK_READ_TIMEOUT = 5.0
WEBHOOK_DEADLINE = 15.0  # seconds for a whole delivery, however the receiver trickles
WEBHOOK_MAX_ATTEMPTS = 12  # 1 min doubling to a 6-hour cap: about a day of retries
# http:// endpoints on 127.0.0.1/localhost, for a receiver under test (never in production).
WEBHOOKS_ALLOW_LOCAL_HTTP = env.bool("VELORY_WEBHOOKS_ALLOW_LOCAL_HTTP", default=True)
BENCHMARK_BARE_VIEW = env.bool("VELORY_BENCH_BARE_VIEW", default=False)
# Your Details keeps its rendered hardware sections in the cache (keyed by profile version).
PAGE_CACHE = env.bool("VELORY_PAGE_CACHE", default=True)

# The console's landing dashboard (companies.admin_site reads it through this name).
ADMIN_DASHBOARD = "backoffice.dashboard.dashboard_for"

# --- Card payments -------------------------------------------------------------------------
# One gateway: Stripe's API through the official library. By default it talks to the local
# sandbox processor that `make run` starts (manage.py run_sandbox_processor, same API, test
# cards, hosted page and signed webhooks); production sets Stripe's own address and keys.
PAYMENTS_GATEWAY = env("PAYMENTS_GATEWAY", default="budgets.payments.stripe_gateway.StripeGateway")
SANDBOX_PROCESSOR_URL = env("SANDBOX_PROCESSOR_URL", default="http://127.0.0.1:8766")
STRIPE_SECRET_KEY = env("STRIPE_SECRET_KEY", default="sk_test_velory_sandbox")
STRIPE_API_BASE = env("STRIPE_API_BASE", default=SANDBOX_PROCESSOR_URL)
STRIPE_WEBHOOK_SECRET = env("STRIPE_WEBHOOK_SECRET", default="whsec_velory_sandbox")
STRIPE_WEBHOOK_TOLERANCE = 300  # seconds: an older signed timestamp is refused (replays)
STRIPE_TIMEOUT = env.int("STRIPE_TIMEOUT", default=10)
# A hold (capture_method=manual) lasts 7 days at the card schemes; Velory asks the employee to
# authorize again when one runs out before a decision.
PAYMENTS_RECONCILE_DAYS = 3
# The processor's hosted page: the one other origin a form of ours may lead to (the request
# form redirects there). Stripe Checkout's in production.
PAYMENTS_CHECKOUT_ORIGIN = env("PAYMENTS_CHECKOUT_ORIGIN", default=SANDBOX_PROCESSOR_URL)
CONTENT_SECURITY_POLICY["DIRECTIVES"]["form-action"] = ["'self'", PAYMENTS_CHECKOUT_ORIGIN]

# --- Partners' APIs ------------------------------------------------------------------------
# Keys for secrets stored in the database, comma-separated: the first encrypts, all decrypt
# (add a new key first to rotate, re-save the secrets, then drop the old one). Empty in
# development: derived from SECRET_KEY. Production requires it.
FIELD_ENCRYPTION_KEYS = env.list("FIELD_ENCRYPTION_KEY", default=[])
FAKE_DISTRIBUTOR_URL = env("FAKE_DISTRIBUTOR_URL", default="http://127.0.0.1:8765")
# seed_demo writes the demo's partner push key here, for the fake distributor's push mode
# (Procfile: --push-key-file); empty: not written.
FAKE_DISTRIBUTOR_PUSH_KEY_FILE = env(
    "FAKE_DISTRIBUTOR_PUSH_KEY_FILE", default=str(BASE_DIR / "var" / "fake-distributor-push-key")
)
