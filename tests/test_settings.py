"""Production settings: no secret, no start; `check --deploy` reports nothing."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def run_manage(*args, **env):
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    full_env.update(env)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_production_refuses_to_start_without_a_secret_key():
    result = run_manage(
        "check", DJANGO_SETTINGS_MODULE="velory.settings.production", DJANGO_ALLOWED_HOSTS="x"
    )
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY is not set" in result.stderr


def test_check_deploy_is_clean():
    result = run_manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        DJANGO_SETTINGS_MODULE="velory.settings.production",
        DJANGO_SECRET_KEY="x" * 20 + "a-long-random-production-secret-0123456789",
        DJANGO_ALLOWED_HOSTS="velory.example",
        FIELD_ENCRYPTION_KEY="a-field-encryption-key-for-the-test",
        STRIPE_SECRET_KEY="sk_live_the-companys-own",
        STRIPE_WEBHOOK_SECRET="whsec_the-endpoints-own",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


@pytest.mark.parametrize(
    ("extra", "warning"),
    [
        ({}, "velory.W002"),  # no processor keys: card payments would be refused
        (
            {"STRIPE_SECRET_KEY": "sk_test_velory_sandbox", "STRIPE_WEBHOOK_SECRET": "whsec_x"},
            "velory.W002",  # the sandbox's published key
        ),
        (
            {
                "STRIPE_SECRET_KEY": "sk_live_x",
                "STRIPE_WEBHOOK_SECRET": "whsec_x",
                "STRIPE_API_BASE": "http://127.0.0.1:8766",
            },
            "velory.W001",  # the sandbox processor, over plain HTTP
        ),
    ],
)
def test_check_deploy_warns_about_card_payments_not_set_up_for_real(extra, warning):
    result = run_manage(
        "check",
        "--deploy",
        DJANGO_SETTINGS_MODULE="velory.settings.production",
        DJANGO_SECRET_KEY="x" * 20 + "a-long-random-production-secret-0123456789",
        DJANGO_ALLOWED_HOSTS="velory.example",
        FIELD_ENCRYPTION_KEY="a-field-encryption-key-for-the-test",
        **extra,
    )
    assert warning in result.stdout + result.stderr


def test_production_sends_security_headers(client, settings, db):
    response = client.get("/accounts/login/")
    csp = response["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"


def test_the_bench_settings_start_on_their_own():
    """`make bench` runs on production's settings with its own stand-in secrets."""
    result = run_manage("check", DJANGO_SETTINGS_MODULE="velory.settings.bench")
    assert result.returncode == 0, result.stdout + result.stderr
