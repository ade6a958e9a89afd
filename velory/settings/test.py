"""Settings for the test suite: PostgreSQL and Redis when DATABASE_URL/REDIS_URL are set,
SQLite and in-memory otherwise."""

import os

from .base import *  # noqa: F403
from .base import env

DEBUG = False
SECRET_KEY = "test-only-key"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # speed, tests only
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=True)
CELERY_TASK_EAGER_PROPAGATES = False
# The tests' sandbox processor listens on a port of the system's choosing.
CONTENT_SECURITY_POLICY["DIRECTIVES"]["form-action"] = ["'self'", "http://127.0.0.1:*"]  # noqa: F405
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
AXES_FAILURE_LIMIT = 5
LOGGING["root"]["level"] = "WARNING"  # noqa: F405
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # noqa: F405  (whitenoise looks for it)
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):  # noqa: F405
    # A file, not shared memory: the browser tests' live server gets connections of its own.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test.sqlite3")}  # noqa: F405

# Parallel runs (pytest -n): each worker has a test database of its own, and gets a Redis
# database of its own too, so one worker's cache.clear() or rate-limit slots never reach
# another's (REDIS_URL's database number, counting down: 15 → 13, 12, ...).
_worker = os.environ.get("PYTEST_XDIST_WORKER", "")
if _worker.startswith("gw") and CACHES["default"]["BACKEND"].endswith("RedisCache"):  # noqa: F405
    _location = CACHES["default"]["LOCATION"]  # noqa: F405
    _base, _, _db = _location.rpartition("/")
    if _db.isdigit():
        CACHES["default"]["LOCATION"] = f"{_base}/{max(int(_db) - 2 - int(_worker[2:]), 0)}"  # noqa: F405

# seed_demo's push key for the fake distributor: the tests that want it say where.
FAKE_DISTRIBUTOR_PUSH_KEY_FILE = ""
# The demo's people read Velory in English in tests that click its buttons by name; the
# languages of the demo are checked with this on (tests/demo, tests/e2e/test_languages.py).
DEMO_PROFILE_LANGUAGES = False
