"""The provider's people and applications, from ``config.load()``; running it again
changes only what the configuration changed (an address, a name, a password)."""

from django.contrib.auth.models import Group, User
from django.db import transaction
from oauth2_provider.models import Application

from .validator import UNVERIFIED_GROUP


@transaction.atomic
def seed(conf: dict) -> None:
    unverified, _ = Group.objects.get_or_create(name=UNVERIFIED_GROUP)
    for entry in conf.get("users", []):
        user, created = User.objects.get_or_create(username=entry["username"])
        user.email = entry["email"]
        user.first_name = entry.get("first_name", "")
        user.last_name = entry.get("last_name", "")
        user.is_active = entry.get("active", True)
        if created or not user.check_password(entry["password"]):
            user.set_password(entry["password"])
        user.save()
        if entry.get("email_verified", True):
            user.groups.remove(unverified)
        else:
            user.groups.add(unverified)
    for entry in conf.get("clients", []):
        app = Application.objects.filter(client_id=entry["client_id"]).first()
        app = app or Application(client_id=entry["client_id"])
        app.name = entry.get("name", entry["client_id"])
        app.client_type = Application.CLIENT_CONFIDENTIAL
        app.authorization_grant_type = Application.GRANT_AUTHORIZATION_CODE
        app.redirect_uris = " ".join(entry["redirect_uris"])
        app.post_logout_redirect_uris = " ".join(entry.get("post_logout_redirect_uris", []))
        app.algorithm = Application.RS256_ALGORITHM
        app.skip_authorization = True  # the company's own application: no consent page
        app.hash_client_secret = True
        app.client_secret = entry["client_secret"]  # hashed on save
        app.save()
