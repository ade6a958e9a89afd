from django import forms
from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm, PasswordResetForm
from django.contrib.auth.tokens import default_token_generator
from django.urls import reverse
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from notifications.services import notify


class EmailAuthenticationForm(AuthenticationForm):
    username = forms.EmailField(
        label="E-mail",
        widget=forms.EmailInput(attrs={"autofocus": True, "autocomplete": "email"}),
    )
    error_messages = {
        # Deliberately the same whether or not the address exists.
        "invalid_login": "That e-mail and password do not match an account. Check both and "
        "try again, or reset your password.",
        "inactive": "That e-mail and password do not match an account.",
    }


def send_password_link(user, *, kind: str = "password_reset", dedup_suffix: str = "") -> None:
    """Queue a one-time link to choose a password, through the outbox."""
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    token = default_token_generator.make_token(user)
    link = settings.SITE_URL + reverse(
        "password_reset_confirm", kwargs={"uidb64": uid, "token": token}
    )
    notify(
        kind=kind,
        recipient=user,
        context={"user": user, "link": link},
        dedup_key=f"{kind}:{user.pk}:{dedup_suffix or timezone.now().isoformat()}",
    )


class OutboxPasswordResetForm(PasswordResetForm):
    """Password reset whose mail goes through the outbox: a mail server that is down does
    not fail the page, and the message is retried. The page says the same whether or not
    the address has an account."""

    email = forms.EmailField(
        label="E-mail", max_length=254, widget=forms.EmailInput(attrs={"autocomplete": "email"})
    )

    def save(self, **kwargs):
        for user in self.get_users(self.cleaned_data["email"]):
            send_password_link(user)
