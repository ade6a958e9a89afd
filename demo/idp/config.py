"""Who the demo identity provider knows, and which applications may use it: plain data,
read by the provider (``demo.idp.seed``) and by Velory's demo seed (Acme's SSO settings).

Every value can be set from the environment, so the tests run a provider of their own:
``VELORY_IDP_PORT``, ``VELORY_IDP_URL`` (its address), ``VELORY_IDP_VAR`` (the folder of its
SQLite file and signing key) and ``VELORY_IDP_CONFIG`` (a JSON file of people and
applications, shaped like ``DEMO``)."""

from __future__ import annotations

import json
import os

PORT = int(os.environ.get("VELORY_IDP_PORT", "8767"))  # web 8000, distributor 8765, card 8766
URL = os.environ.get("VELORY_IDP_URL", f"http://127.0.0.1:{PORT}").rstrip("/")
ISSUER = f"{URL}/o"

# Velory's registration at the provider (what Acme's IT admin would copy into Velory).
CLIENT_ID = "velory-demo"
CLIENT_SECRET = "velory-demo-sso-secret"
PASSWORD = "velory-demo"  # every demo person's password at the provider too


def velory_sites() -> list[str]:
    """Where the demo's Velory is served: the redirect URIs are registered for each."""
    sites = ["http://127.0.0.1:8000", "http://localhost:8000"]
    served = os.environ.get("VELORY_SITE_URL", "").rstrip("/")
    if served and served not in sites:
        sites.append(served)
    return sites


def velory_client(client_id=CLIENT_ID, secret=CLIENT_SECRET, sites=None, **extra) -> dict:
    sites = sites or velory_sites()
    return {
        "client_id": client_id,
        "client_secret": secret,
        "name": "Velory",
        "redirect_uris": [f"{site}/accounts/oidc/callback/" for site in sites],
        "post_logout_redirect_uris": [f"{site}/accounts/signed-out/" for site in sites],
        **extra,
    }


def person(username, email, first_name, last_name, password=PASSWORD, **extra) -> dict:
    return {
        "username": username,
        "email": email,
        "first_name": first_name,
        "last_name": last_name,
        "password": password,
        **extra,
    }


DEMO = {
    "clients": [velory_client()],
    "users": [
        person("anna", "anna@acme.example", "Anna", "Andersson"),
        person("ben", "ben@acme.example", "Ben", "Berg"),
        person("alex", "admin@acme.example", "Alex", "Admin"),
        person("sam", "sam@acme.example", "Sam", "Sso"),  # in Velory: no password, SSO only
    ],
}


def load() -> dict:
    """The people and applications to seed: the file named by VELORY_IDP_CONFIG, or DEMO."""
    path = os.environ.get("VELORY_IDP_CONFIG")
    if not path:
        return DEMO
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)
