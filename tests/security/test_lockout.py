"""Hole 3: the lockout holds whatever the letter case or surrounding space of the address.

Before the fix django-axes counted failures per raw spelling while sign-in ignores case:
after five failures for ben@acme.example, Ben@acme.example still got in, and 25 guesses over
five spellings locked nothing."""

import pytest
from django.urls import reverse

from notifications.models import Notification
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db


def spellings(email):
    return [email, email.upper(), f" {email} ", email.title(), email.capitalize()]


def post_login(client, email, password):
    return client.post("/accounts/login/", {"username": email, "password": password})


def test_failures_in_every_spelling_count_towards_one_lockout(client, acme, settings):
    for spelling in spellings(acme.employee.email)[: settings.AXES_FAILURE_LIMIT]:
        post_login(client, spelling, "wrong")
    for spelling in spellings(acme.employee.email):
        response = post_login(client, spelling, PASSWORD)
        assert response.status_code == 429, spelling
    assert "_auth_user_id" not in client.session


def test_a_locked_account_cannot_be_entered_by_another_spelling(client, acme, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        post_login(client, acme.employee.email, "wrong")
    response = post_login(client, acme.employee.email.capitalize(), PASSWORD)
    assert response.status_code == 429
    assert "_auth_user_id" not in client.session


def test_the_right_password_in_any_spelling_still_signs_in_before_a_lockout(client, acme):
    response = post_login(client, f"  {acme.employee.email.upper()} ", PASSWORD)
    assert response.status_code == 302


def test_reset_requests_in_many_spellings_send_one_mail(client, acme):
    for spelling in spellings(acme.employee.email):
        response = client.post(reverse("password_reset"), {"email": spelling})
        assert response.status_code == 302
    assert Notification.objects.filter(kind="password_reset").count() == 1
