"""Hole 8: the smaller items. A neutral message for an address in use elsewhere, https-only
tracking links, no silent development settings, production's required secrets and key
rotation, no-store on signed-in pages, a Permissions-Policy, and passwords of 12 characters
unlike the person's name."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.test import override_settings

from backoffice.forms import ShipForm
from core import crypto
from devices import lifecycle
from devices.models import Source
from tests.helpers import device_in

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]


def test_an_address_used_in_another_company_is_refused_neutrally(acme, globex, login):
    response = login(acme.admin).post(
        "/admin/companies/user/add/",
        {
            "email": globex.employee.email.upper(),
            "full_name": "Some One",
            "role": "employee",
            "is_active": "on",
        },
    )
    page = response.content.decode()
    assert response.status_code == 200
    assert "cannot be used for a new account" in page
    assert "user_email_ci_unique" not in page and "Constraint" not in page
    assert globex.company.name not in page


def test_tracking_links_must_be_https(acme):
    form = ShipForm({"carrier": "DHL", "tracking_url": "http://track.example/1"})
    assert not form.is_valid() and "tracking_url" in form.errors
    device = device_in(acme, "preparing")
    with pytest.raises(ValidationError, match="https"):
        lifecycle.devices_ship(
            device_ids=[device.pk],
            actor=acme.partner_staff,
            source=Source.ADMIN,
            carrier="DHL",
            tracking_number="1",
            tracking_url="http://track.example/1",
        )


def run(args, **env):
    environ = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    environ.update(env)
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_manage_py_refuses_to_run_without_an_explicit_settings_module():
    result = run(["manage.py", "check"])
    assert result.returncode != 0
    assert "Set DJANGO_SETTINGS_MODULE" in result.stderr


def test_production_refuses_to_start_without_its_encryption_key():
    result = run(
        ["manage.py", "check"],
        DJANGO_SETTINGS_MODULE="velory.settings.production",
        DJANGO_SECRET_KEY="x" * 50,
        DJANGO_ALLOWED_HOSTS="velory.example",
        FIELD_ENCRYPTION_KEY="",
    )
    assert result.returncode != 0
    assert "FIELD_ENCRYPTION_KEY is not set" in result.stderr


def test_the_celery_app_never_falls_back_to_the_development_settings():
    # Without an explicit module the worker takes production's settings, which refuse to
    # start without their secrets: it never runs on the development ones.
    result = run(["-c", "import velory.celery"], DJANGO_SECRET_KEY="")
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY is not set" in result.stderr


def test_secrets_survive_a_key_rotation():
    with override_settings(FIELD_ENCRYPTION_KEYS=["old-key"]):
        token = crypto.encrypt("partner-secret")
    with override_settings(FIELD_ENCRYPTION_KEYS=["new-key", "old-key"]):
        assert crypto.decrypt(token) == "partner-secret"
        rotated = crypto.rotate(token)
    with override_settings(FIELD_ENCRYPTION_KEYS=["new-key"]):
        assert crypto.decrypt(rotated) == "partner-secret"
        assert crypto.decrypt(token) == ""  # the old key is gone: unreadable, not an error


def test_signed_in_pages_are_never_stored_and_features_are_off(acme, login, client):
    anonymous = client.get("/accounts/login/")
    assert "camera=()" in anonymous["Permissions-Policy"]
    signed_in = login(acme.employee)
    for url in ("/me/", "/support/", "/catalogue/"):
        assert signed_in.get(url)["Cache-Control"] == "no-store", url
    assert login(acme.admin).get("/admin/")["Cache-Control"] == "no-store"


def test_passwords_need_twelve_characters_unlike_the_persons_name(acme):
    with pytest.raises(ValidationError):
        validate_password("Tr0ub4dor&3", acme.employee)  # 11 characters
    acme.employee.full_name = "Ingrid Bergström"
    with pytest.raises(ValidationError):
        validate_password("ingridbergstrom", acme.employee)
    validate_password("correct-horse-battery-staple", acme.employee)


def test_stored_api_keys_are_re_encrypted_with_the_new_key(acme):
    from django.core.management import call_command

    from partners.models import Adapter, DistributorConnection

    with override_settings(FIELD_ENCRYPTION_KEYS=["old-key"]):
        connection = DistributorConnection(partner=acme.partner, adapter=Adapter.HTTP)
        connection.set_api_key("the-partners-key")
        connection.save()
    with override_settings(FIELD_ENCRYPTION_KEYS=["new-key", "old-key"]):
        call_command("rotate_api_keys")
    connection.refresh_from_db()
    with override_settings(FIELD_ENCRYPTION_KEYS=["new-key"]):
        assert connection.decrypted_api_key() == "the-partners-key"
