"""The one credential of the partner API: ``Authorization: Bearer <API key>``."""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed

from ..services.keys import api_key_authenticate

REALM = 'Bearer realm="Velory partner API"'


class ApiKeyAuthentication(BaseAuthentication):
    """A live key of a partner, made by its staff in the admin: the request acts as that
    partner (``PartnerApiActor``). A session cookie is no credential here: without a valid
    key every request is a 401."""

    def authenticate(self, request):
        header = get_authorization_header(request)
        if not header:
            return None  # 401 "not authenticated", with WWW-Authenticate
        scheme, _, raw = header.decode("latin-1").partition(" ")
        if scheme.lower() != "bearer" or not raw.strip():
            raise AuthenticationFailed("Send the API key as: Authorization: Bearer <key>.")
        actor = api_key_authenticate(raw.strip())
        if actor is None:
            raise AuthenticationFailed("This API key is not valid: it is wrong or revoked.")
        return actor, actor

    def authenticate_header(self, request):
        return REALM


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = ApiKeyAuthentication
    name = "partnerApiKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A partner API key (vpk_…), made by the partner's staff in the "
            "Velory admin (Partner API keys) and shown once.",
        }
