from django import forms
from django.contrib.auth.forms import AuthenticationForm, PasswordResetForm
from django.utils import timezone

from notifications.services import PasswordLink, notify

from .backends import normalized_email


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
    """Queue a one-time link to choose a password, through the outbox. The link is made
    when the mail is sent and is never stored (``PasswordLink``)."""
    notify(
        kind=kind,
        recipient=user,
        context={"user": user, "link": PasswordLink(user.pk)},
        dedup_key=f"{kind}:{user.pk}:{dedup_suffix or timezone.now().isoformat()}",
    )


# How often one account can be sent a reset link (a second request in the window sends none).
RESET_WINDOW_SECONDS = 15 * 60


class OutboxPasswordResetForm(PasswordResetForm):
    """Password reset whose mail goes through the outbox: a mail server that is down does
    not fail the page, and the message is retried. The page says the same whether or not
    the address has an account."""

    email = forms.EmailField(
        label="E-mail", max_length=254, widget=forms.EmailInput(attrs={"autocomplete": "email"})
    )

    def save(self, **kwargs):
        # One reset mail per account in each window, whatever the letter case or how often
        # it is asked: the address is looked up case-insensitively and the window is the
        # mail's dedup key, so asking again only repeats the mail already queued.
        window = int(timezone.now().timestamp() // RESET_WINDOW_SECONDS)
        for user in self.get_users(normalized_email(self.cleaned_data["email"])):
            send_password_link(user, dedup_suffix=f"window:{window}")
