from django import forms
from django.contrib.auth.forms import AuthenticationForm, PasswordResetForm
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.translation import gettext_lazy

from notifications.services import PasswordLink, notify

from .backends import normalized_email
from .sso import company_for_email


class EmailStepForm(forms.Form):
    """The sign-in's first step: the address alone, which says how this person signs in
    (their company's identity provider, a password, or either)."""

    username = forms.EmailField(
        label=gettext_lazy("E-mail"),
        max_length=254,
        widget=forms.EmailInput(attrs={"autofocus": True, "autocomplete": "username"}),
    )

    @cached_property
    def sso_company(self):
        if not self.is_valid():
            return None
        return company_for_email(self.cleaned_data["username"])


class EmailAuthenticationForm(AuthenticationForm):
    username = forms.EmailField(
        label=gettext_lazy("E-mail"),
        widget=forms.EmailInput(attrs={"autofocus": True, "autocomplete": "email"}),
    )
    error_messages = {
        # Deliberately the same whether or not the address exists.
        "invalid_login": gettext_lazy(
            "That e-mail and password do not match an account. Check both and "
            "try again, or reset your password."
        ),
        "inactive": gettext_lazy("That e-mail and password do not match an account."),
        # By the address's domain alone, so these too say nothing of whether it has an
        # account: people without a Velory password (SSO-only) learn where to go instead.
        "invalid_login_sso": gettext_lazy(
            # Translators: %(company)s is the company's name; “Continue with single sign-on” is
            # the sign-in page's button below the message (use its translation).
            "That e-mail and password do not match an account. If you "
            "have no Velory password, sign in with %(company)s's single sign-on: “Continue with "
            "single sign-on” below."
        ),
        "sso_only": gettext_lazy(
            # Translators: %(company)s is the company's name; “Continue with single sign-on” is
            # the sign-in page's button below the message (use its translation).
            "%(company)s signs in with single sign-on only, not with a Velory "
            "password: use “Continue with single sign-on” below."
        ),
    }

    @cached_property
    def sso_company(self):
        return company_for_email(self.data.get("username", ""))

    def get_invalid_login_error(self):
        company = self.sso_company
        if company is None:
            return super().get_invalid_login_error()
        code = "invalid_login_sso" if company.sso_password_allowed else "sso_only"
        return forms.ValidationError(
            self.error_messages[code], code=code, params={"company": company.name}
        )


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
        label=gettext_lazy("E-mail"),
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
    )

    def save(self, **kwargs):
        # One reset mail per account in each window, whatever the letter case or how often
        # it is asked: the address is looked up case-insensitively and the window is the
        # mail's dedup key, so asking again only repeats the mail already queued.
        window = int(timezone.now().timestamp() // RESET_WINDOW_SECONDS)
        for user in self.get_users(normalized_email(self.cleaned_data["email"])):
            send_password_link(user, dedup_suffix=f"window:{window}")
