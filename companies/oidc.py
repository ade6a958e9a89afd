"""mozilla-django-oidc's backend, given the company's own identity provider.

The library reads one provider from settings; Velory has one per company. The company is
the one chosen where the sign-in started (by the address's domain) and kept with the
sign-in's state in the session, so a callback can only ever be checked against that
company's issuer, keys and client ID."""

from __future__ import annotations

from django.utils.translation import gettext as _
from mozilla_django_oidc.auth import OIDCAuthenticationBackend

from . import services, sso
from .models import Company, User

# The session is then read by the sign-in backend, as for a password (its fast user read).
SESSION_BACKEND = "companies.backends.EmailBackend"


class CompanyOIDCBackend(OIDCAuthenticationBackend):
    """The authorization code flow's second half for one company: the code is exchanged at
    the company's token endpoint with its client ID and secret (and the sign-in's PKCE
    verifier), the ID token is checked by ``sso.id_token_claims``, and the person is found
    by ``services.user_sso_match``. Refusals raise ``sso.SSORefused``.

    Called by ``companies.views.SSOCallbackView`` only, not listed in
    AUTHENTICATION_BACKENDS: a password sign-in never reaches it, and what it returns is
    signed in with the session backend above."""

    get_settings = staticmethod(sso.oidc_setting)

    def __init__(self, *args, **kwargs):
        # Nothing from settings: the provider is the company's (see authenticate).
        self.UserModel = User
        self.company = None
        self.id_token = ""

    def authenticate(self, request, company: Company | None = None, **kwargs):
        if request is None or company is None or not company.sso_enabled:
            return None
        metadata = sso.provider_metadata(company)
        self.company = company
        self.OIDC_OP_TOKEN_ENDPOINT = metadata["token_endpoint"]
        self.OIDC_OP_USER_ENDPOINT = metadata.get("userinfo_endpoint") or ""
        self.OIDC_OP_JWKS_ENDPOINT = metadata["jwks_uri"]
        self.OIDC_RP_CLIENT_ID = company.sso_client_id
        self.OIDC_RP_CLIENT_SECRET = company.decrypted_sso_client_secret()
        self.OIDC_RP_SIGN_ALGO = "RS256"
        self.OIDC_RP_IDP_SIGN_KEY = None
        return super().authenticate(request, **kwargs)

    def get_token(self, payload):
        try:
            return super().get_token(payload)
        except Exception as exc:  # the provider refused the code, or did not answer
            sso.logger.warning("SSO: token exchange with %s failed: %s", self.company, exc)
            raise sso.ProviderError(
                _("%(company)s's identity provider did not complete the sign-in. Start again.")
                % {"company": self.company.name}
            ) from exc

    def verify_token(self, token, **kwargs):
        return sso.id_token_claims(token, company=self.company, nonce=kwargs.get("nonce"))

    def store_tokens(self, access_token, id_token):
        self.id_token = id_token  # the hint for signing out at the provider

    def get_or_create_user(self, access_token, id_token, payload):
        """Find, never create. The claims are the ID token's; a provider that leaves the
        address out of the ID token is asked for it at its userinfo endpoint, whose answer
        counts only for the same subject."""
        claims = dict(payload)
        if not claims.get("email") and self.OIDC_OP_USER_ENDPOINT and access_token:
            info = self.get_userinfo(access_token, id_token, payload)
            if isinstance(info, dict) and info.get("sub") == claims["sub"]:
                claims = {**info, **claims}
        verified = claims.get("email_verified")
        return services.user_sso_match(
            company=self.company,
            subject=claims["sub"],
            email=str(claims.get("email") or ""),
            email_verified=verified is True or verified == "true",
        )
