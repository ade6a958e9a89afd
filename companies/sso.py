"""Single sign-on with OpenID Connect, one identity provider per company.

A company's IT admin enters its provider (issuer URL), the client ID and secret Velory was
registered with there, and the e-mail domains whose people sign in through it
(``Company.sso_*``). This module is the relying party's side that is not a view or a write:

- which company an address belongs to (``company_for_email``), by its domain;
- the provider's metadata (``/.well-known/openid-configuration``) and signing keys (JWKS),
  fetched over HTTP and cached;
- the ID token's checks (``id_token_claims``): an RS256 signature by one of the provider's
  keys, the issuer, the audience (the company's client ID), expiry and the nonce;
- the checks of what an admin may enter (``issuer_check``, ``domains_check``).

The flow itself is mozilla-django-oidc's (``companies.views``, ``companies.oidc``): its
views and backend, given the company's provider instead of settings."""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import re
from urllib.parse import urlsplit

import jwt
import requests
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from core.cache import cache_get, cache_set

from .backends import normalized_email
from .models import Company, User

logger = logging.getLogger(__name__)

# A provider's metadata and keys change rarely (keys roll over with notice, and a token
# signed by a key we have not seen makes us fetch the keys again at once).
METADATA_SECONDS = 60 * 60
HTTP_TIMEOUT_SECONDS = 10
# How far the provider's clock may be from ours when checking exp and iat.
CLOCK_SKEW_SECONDS = 60
# A sign-in started longer ago than this is refused at the callback: start again.
STATE_SECONDS = 10 * 60
SIGNING_ALGORITHMS = ["RS256"]

# What mozilla-django-oidc reads from settings, answered here: the company's own provider
# comes from the company (companies.oidc, companies.views), these are Velory's choices.
OIDC_SETTINGS = {
    "OIDC_RP_SCOPES": "openid email profile",
    "OIDC_RP_SIGN_ALGO": "RS256",
    "OIDC_USE_NONCE": True,
    "OIDC_USE_PKCE": True,
    "OIDC_PKCE_CODE_CHALLENGE_METHOD": "S256",
    "OIDC_AUTHENTICATION_CALLBACK_URL": "oidc_callback",
    "OIDC_TIMEOUT": HTTP_TIMEOUT_SECONDS,
    "OIDC_CREATE_USER": False,  # people are added by an admin, SCIM or a CSV import
    "OIDC_STORE_ACCESS_TOKEN": False,
    "OIDC_STORE_ID_TOKEN": False,  # kept for sign-out by companies.sso_session instead
    "OIDC_AUTH_REQUEST_EXTRA_PARAMS": {},
}


def oidc_setting(attr, *default):
    """mozilla-django-oidc's ``get_settings``, answered by ``OIDC_SETTINGS`` first."""
    if attr in OIDC_SETTINGS:
        return OIDC_SETTINGS[attr]
    if default:
        return getattr(settings, attr, default[0])
    return getattr(settings, attr)


class SSORefused(Exception):
    """A single sign-on refused, with the message the person sees on the sign-in page."""


class ProviderError(SSORefused):
    """The provider did not answer, or answered something Velory cannot use."""


# --- Which company --------------------------------------------------------------------------


def email_domain(email: str) -> str:
    return normalized_email(email).rpartition("@")[2]


def company_for_email(email: str) -> Company | None:
    """The company whose single sign-on covers this address's domain (None: sign in with a
    password). A domain belongs to one company at most (``domains_check``)."""
    domain = email_domain(email)
    if not domain:
        return None
    candidates = Company.objects.filter(sso_domains__icontains=domain).exclude(sso_issuer="")
    for company in candidates.exclude(sso_client_id=""):
        if domain in company.sso_domain_list:
            return company
    return None


# --- The provider's metadata and keys -----------------------------------------------------------


def _issuer(company: Company) -> str:
    return company.sso_issuer.rstrip("/")


def _cache_key(kind: str, url: str) -> str:
    return f"sso:{kind}:{hashlib.sha256(url.encode()).hexdigest()}"


def _get_json(url: str, *, what: str, company: Company) -> dict:
    try:
        response = requests.get(url, timeout=HTTP_TIMEOUT_SECONDS)
        response.raise_for_status()
        data = response.json()
    except (requests.RequestException, ValueError) as exc:
        logger.warning("SSO: %s of %s (%s) failed: %s", what, company, url, exc)
        raise ProviderError(
            _(
                "%(company)s's identity provider does not answer right now. Try again in a "
                "minute, or ask your IT admin."
            )
            % {"company": company.name}
        ) from exc
    if not isinstance(data, dict):
        raise ProviderError(
            _("%(company)s's identity provider answered something unexpected.")
            % {"company": company.name}
        )
    return data


def provider_metadata(company: Company) -> dict:
    """The provider's OpenID configuration (cached an hour). Its issuer must be the one the
    company entered, and it must name the endpoints of the authorization code flow."""
    issuer = _issuer(company)
    key = _cache_key("metadata", issuer)
    metadata = cache_get(key)
    if metadata is None:
        url = f"{issuer}/.well-known/openid-configuration"
        metadata = _get_json(url, what="discovery", company=company)
        if str(metadata.get("issuer", "")).rstrip("/") != issuer:
            logger.warning("SSO: %s's discovery names issuer %r", company, metadata.get("issuer"))
            raise ProviderError(
                _(
                    "%(company)s's identity provider names another issuer than the one "
                    "entered in Velory. Ask your IT admin to check the issuer URL."
                )
                % {"company": company.name}
            )
        missing = [
            name
            for name in ("authorization_endpoint", "token_endpoint", "jwks_uri")
            if not metadata.get(name)
        ]
        if missing:
            raise ProviderError(
                _(
                    # Translators: %(missing)s lists technical names of OpenID Connect endpoints,
                    # such as token_endpoint: keep them as they are.
                    "%(company)s's identity provider does not offer the sign-in Velory uses "
                    "(no %(missing)s)."
                )
                % {"company": company.name, "missing": ", ".join(missing)}
            )
        cache_set(key, metadata, METADATA_SECONDS)
    return metadata


def _jwks(company: Company, *, fresh: bool = False) -> dict:
    uri = provider_metadata(company)["jwks_uri"]
    key = _cache_key("jwks", uri)
    jwks = None if fresh else cache_get(key)
    if jwks is None:
        jwks = _get_json(uri, what="keys", company=company)
        cache_set(key, jwks, METADATA_SECONDS)
    return jwks


def _matching_key(jwks: dict, header: dict):
    for candidate in jwks.get("keys") or []:
        if not isinstance(candidate, dict) or candidate.get("kty") != "RSA":
            continue
        if header.get("kid") and candidate.get("kid") != header["kid"]:
            continue
        if candidate.get("alg", header["alg"]) != header["alg"]:
            continue
        if candidate.get("use", "sig") != "sig":
            continue
        return jwt.PyJWK(candidate, algorithm=header["alg"])
    return None


def signing_key(company: Company, header: dict):
    """The provider's public key that signed a token: from the cached keys, or, for a key
    we have not seen (the provider rolled its keys over), from the keys fetched anew."""
    key = _matching_key(_jwks(company), header)
    if key is None:
        key = _matching_key(_jwks(company, fresh=True), header)
    if key is None:
        raise SSORefused(
            _(
                "The answer of %(company)s's identity provider is signed with a key it does "
                "not publish. Sign-in refused."
            )
            % {"company": company.name}
        )
    return key


# --- The ID token -------------------------------------------------------------------------------


def id_token_claims(token: str, *, company: Company, nonce: str | None) -> dict:
    """The claims of an ID token the company's provider issued for Velory in this sign-in:
    signed (RS256) by one of the provider's published keys, issued by the company's issuer,
    for the company's client ID (``aud``, and ``azp`` when there are several audiences), not
    expired (60 s of clock skew), with this sign-in's nonce. Anything else is refused."""
    names = {"company": company.name}
    if not token or not isinstance(token, str):
        raise SSORefused(
            _("%(company)s's identity provider sent a sign-in Velory cannot accept (no ID token).")
            % names
        )
    try:
        header = jwt.get_unverified_header(token)
    except jwt.InvalidTokenError as exc:
        raise SSORefused(
            _("%(company)s's identity provider sent a sign-in Velory cannot accept (not a token).")
            % names
        ) from exc
    if header.get("alg") not in SIGNING_ALGORITHMS:
        raise SSORefused(
            _(
                # Translators: %(algorithm)s is a signature algorithm's technical name,
                # such as 'HS256'.
                "%(company)s's identity provider sent a sign-in Velory cannot accept (signed "
                "with %(algorithm)s, not RS256)."
            )
            % {**names, "algorithm": repr(header.get("alg"))}
        )
    key = signing_key(company, header)
    issuer = provider_metadata(company)["issuer"]
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=SIGNING_ALGORITHMS,
            audience=company.sso_client_id,
            issuer=issuer,
            leeway=CLOCK_SKEW_SECONDS,
            options={"require": ["iss", "aud", "exp", "iat", "sub"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise SSORefused(
            _(
                "%(company)s's identity provider sent a sign-in Velory cannot accept: it had "
                "expired. Sign in again."
            )
            % names
        ) from exc
    except jwt.InvalidAudienceError as exc:
        raise SSORefused(_other_application() % names) from exc
    except jwt.InvalidIssuerError as exc:
        raise SSORefused(
            _(
                "%(company)s's identity provider sent a sign-in Velory cannot accept: it names "
                "another issuer."
            )
            % names
        ) from exc
    except jwt.InvalidTokenError as exc:
        raise SSORefused(
            # Translators: %(error)s is the token library's own description of the problem.
            _("%(company)s's identity provider sent a sign-in Velory cannot accept (%(error)s).")
            % {**names, "error": exc}
        ) from exc
    audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
    if len(audiences) > 1 and claims.get("azp") != company.sso_client_id:
        raise SSORefused(_other_application() % names)
    if nonce is None or claims.get("nonce") != nonce:
        raise SSORefused(
            _(
                "%(company)s's identity provider sent a sign-in Velory cannot accept: it "
                "belongs to another sign-in. Start again."
            )
            % names
        )
    if not isinstance(claims["sub"], str) or not claims["sub"]:
        raise SSORefused(
            _("%(company)s's identity provider sent a sign-in Velory cannot accept (no subject).")
            % names
        )
    return claims


def _other_application() -> str:
    return _(
        "%(company)s's identity provider sent a sign-in Velory cannot accept: it was meant "
        "for another application."
    )


# --- What an admin may enter ------------------------------------------------------------------

LOOPBACK_HOSTS = {"localhost"}
DOMAIN_RE = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


def _is_loopback(host: str) -> bool:
    if host in LOOPBACK_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def issuer_check(value: str) -> str:
    """An issuer is an https URL without query or fragment; plain http only on this machine
    (127.0.0.1, localhost: a local provider for development and the demo)."""
    value = (value or "").strip()
    if not value:
        return ""
    parts = urlsplit(value)
    if parts.query or parts.fragment or not parts.hostname:
        raise ValidationError(_("Enter the issuer URL alone, e.g. https://login.example.com/."))
    if parts.scheme == "https":
        return value
    if parts.scheme == "http" and _is_loopback(parts.hostname):
        return value
    raise ValidationError(
        _("The issuer must be an https:// address (plain http only for 127.0.0.1 or localhost).")
    )


def domains_check(value: str, *, company: Company, actor=None) -> str:
    """Comma-separated domains, each a domain name (``acme.example``), none already another
    company's. A company admin may add only domains where their own company has people and
    no other company has anyone: otherwise an admin could send another company's people
    to their own identity provider. Superusers may add any."""
    domains = []
    for raw in (value or "").split(","):
        domain = raw.strip().lower().lstrip("@")
        if not domain:
            continue
        if not DOMAIN_RE.match(domain):
            raise ValidationError(
                _("“%(value)s” is not a domain name (e.g. acme.example).") % {"value": raw.strip()}
            )
        if domain not in domains:
            domains.append(domain)
    for domain in domains:
        others = Company.objects.exclude(pk=company.pk).filter(sso_domains__icontains=domain)
        if any(domain in other.sso_domain_list for other in others):
            raise ValidationError(
                _("%(domain)s is already used by another company's single sign-on.")
                % {"domain": domain}
            )
        added = domain not in company.sso_domain_list
        if added and actor is not None and not getattr(actor, "is_superuser", False):
            at_domain = User.objects.filter(email__iendswith=f"@{domain}")
            if at_domain.exclude(company=company).exists() or not at_domain.exists():
                raise ValidationError(
                    _(
                        "%(domain)s: only a domain of your own company's people can be added. "
                        "Ask Velory support."
                    )
                    % {"domain": domain}
                )
    return ", ".join(domains)
