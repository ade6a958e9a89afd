"""What the demo provider says about a person, and for how long."""

from datetime import timedelta

from django.utils import timezone
from oauth2_provider.oauth2_validators import OAuth2Validator

from . import config

# People whose address the provider has not verified are in this group.
UNVERIFIED_GROUP = "Unverified e-mail"


class DemoValidator(OAuth2Validator):
    def get_additional_claims(self, request):
        """The standard claims of the scopes asked for (email, profile)."""
        user = request.user
        return {
            "email": user.email,
            "email_verified": not user.groups.filter(name=UNVERIFIED_GROUP).exists(),
            "name": user.get_full_name(),
            "given_name": user.first_name,
            "family_name": user.last_name,
            "preferred_username": user.email,
        }

    def get_id_token_dictionary(self, token, token_handler, request):
        """An application may have an ID-token lifetime of its own (``id_token_seconds``
        in the configuration; the tests register one whose tokens are already expired)."""
        claims, expiration = super().get_id_token_dictionary(token, token_handler, request)
        seconds = _client_settings(request.client.client_id).get("id_token_seconds")
        if seconds is not None:
            expiration = timezone.now() + timedelta(seconds=int(seconds))
            claims["exp"] = int(expiration.timestamp())
        return claims, expiration


def _client_settings(client_id: str) -> dict:
    for client in config.load().get("clients", []):
        if client.get("client_id") == client_id:
            return client
    return {}
