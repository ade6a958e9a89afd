"""Settings for `make run` on a developer's machine."""

from .base import *  # noqa: F403
from .base import MIDDLEWARE, VAR_DIR, env

# The demo shows what users see: the branded 404 and 500 pages (templates/404.html,
# 500.html), not Django's debug page, which would also show settings and code to anyone
# who mistypes an address. Errors still reach the console through the django.request
# logger; DJANGO_DEBUG=true brings the debug page back for development.
DEBUG = env.bool("DJANGO_DEBUG", default=False)
SECRET_KEY = env("DJANGO_SECRET_KEY", default="local-only-insecure-key-do-not-use-in-production")
# Static files come from whitenoise with or without DEBUG: straight from the app and project
# directories (no collectstatic needed), re-read when they change.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # noqa: F405  (whitenoise looks for it)

# Links in mail follow the address the demo is actually served on (another port, a LAN
# address) unless VELORY_SITE_URL names one: see notifications/site.py.
SITE_URL_FROM_REQUEST = not env.str("VELORY_SITE_URL", default="")
SITE_URL_FILE = VAR_DIR / "served-site-url"
MIDDLEWARE = [*MIDDLEWARE, "notifications.site.ServedSiteURLMiddleware"]
