"""Settings of the demo identity provider (a project of its own: own SQLite file, own
cookies, own port). Development only: its secret key and signing key are local."""

import os
from pathlib import Path
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from . import config

BASE_DIR = Path(__file__).resolve().parent
VAR_DIR = Path(os.environ.get("VELORY_IDP_VAR") or BASE_DIR.parent.parent / "var")
VAR_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = False
SECRET_KEY = os.environ.get("VELORY_IDP_SECRET_KEY", "demo-idp-local-only-insecure-key")
ALLOWED_HOSTS = sorted({"127.0.0.1", "localhost", urlsplit(config.URL).hostname or ""} - {""})
# Velory is served from the same host on another port, and cookies do not keep ports
# apart: the provider's cookies have names of their own.
SESSION_COOKIE_NAME = "velory_idp_session"
CSRF_COOKIE_NAME = "velory_idp_csrftoken"
SESSION_COOKIE_AGE = 60 * 60 * 8

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "oauth2_provider",
]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
ROOT_URLCONF = "demo.idp.urls"
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
            ]
        },
    }
]
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("VELORY_IDP_DATABASE") or str(VAR_DIR / "idp.sqlite3"),
        "OPTIONS": {"timeout": 30},
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTHENTICATION_BACKENDS = ["demo.idp.auth.EmailBackend"]
LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/"
USE_TZ = True
TIME_ZONE = "UTC"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.PBKDF2PasswordHasher"]
if os.environ.get("VELORY_IDP_FAST_HASHES"):  # the tests' provider: seconds saved per start
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("VELORY_IDP_LOG_LEVEL", "WARNING")},
}


def _signing_key() -> str:
    """The provider's RSA key (ID tokens are signed RS256), made on the first start."""
    path = VAR_DIR / "idp-signing-key.pem"
    if not path.exists():
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        partial = path.with_suffix(f".{os.getpid()}.tmp")
        partial.write_bytes(pem)
        partial.chmod(0o600)
        if not path.exists():
            partial.replace(path)
        else:
            partial.unlink()
    return path.read_text()


OAUTH2_PROVIDER = {
    "OIDC_ENABLED": True,
    "OIDC_RSA_PRIVATE_KEY": _signing_key(),
    "OIDC_ISS_ENDPOINT": config.ISSUER,
    "OAUTH2_VALIDATOR_CLASS": "demo.idp.validator.DemoValidator",
    "SCOPES": {
        "openid": "Sign you in",
        "email": "Your e-mail address",
        "profile": "Your name",
    },
    "DEFAULT_SCOPES": ["openid"],
    "PKCE_REQUIRED": True,
    "ID_TOKEN_EXPIRE_SECONDS": 300,
    "ACCESS_TOKEN_EXPIRE_SECONDS": 300,
    # Velory signs people out here too, and they come straight back (no "are you sure?").
    "OIDC_RP_INITIATED_LOGOUT_ENABLED": True,
    "OIDC_RP_INITIATED_LOGOUT_ALWAYS_PROMPT": False,
}
