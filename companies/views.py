"""Signing in and out: e-mail first, then the company's identity provider or a password.

Thin views: which company an address belongs to and the token's checks are in
``companies.sso``, the flow's two halves are mozilla-django-oidc's views and backend given
the company's provider (``companies.oidc``), and finding the person is a service
(``companies.services.user_sso_match``)."""

from __future__ import annotations

import logging
import time
from urllib.parse import parse_qs, urlencode, urlsplit

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.http import HttpResponseRedirect
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import translation
from django.utils.decorators import method_decorator
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST
from django.views.generic import TemplateView, View
from mozilla_django_oidc.views import OIDCAuthenticationCallbackView, OIDCAuthenticationRequestView

from core import i18n

from . import services, sso
from .backends import normalized_email
from .forms import EmailAuthenticationForm, EmailStepForm
from .models import Company
from .oidc import SESSION_BACKEND, CompanyOIDCBackend
from .sso_session import end_session_url, sso_session_remember

logger = logging.getLogger(__name__)

# The company (and address) the sign-in's first step chose, for "Continue with single
# sign-on" (so the link carries no address).
START_KEY = "velory_sso_start"


class SignInView(auth_views.LoginView):
    """E-mail first. The first step asks for the address alone; its domain says how the
    person signs in: through their company's identity provider ("Continue with single
    sign-on"), with a password, or either while the company still allows passwords. Each
    step is a page, so it works without JavaScript.

    A POST that carries a password signs in at once (the second step, or any client that
    sends both), through the sign-in backend and django-axes' lockout as before."""

    authentication_form = EmailAuthenticationForm
    redirect_authenticated_user = True

    def post(self, request, *args, **kwargs):
        if "password" in request.POST:
            return super().post(request, *args, **kwargs)
        step = EmailStepForm(request.POST)
        if not step.is_valid():
            return self.render_to_response(self.get_context_data(email_form=step))
        email = normalized_email(step.cleaned_data["username"])
        form = self.get_form_class()(request, initial={"username": email})
        return self._password_step(form, email, step.sso_company)

    def form_invalid(self, form):
        email = normalized_email(form.data.get("username"))
        return self._password_step(form, email, form.sso_company)

    def _password_step(self, form, email, company):
        form.fields["password"].widget.attrs["autofocus"] = True
        if company is not None:
            self.request.session[START_KEY] = {"company": company.pk, "email": email}
        elif START_KEY in self.request.session:
            del self.request.session[START_KEY]
        return self.render_to_response(
            self.get_context_data(
                form=form,
                step="password",
                step_email=email,
                sso_company=company,
                password_allowed=company is None or company.sso_password_allowed,
            )
        )

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        if context.get("step") != "password":
            context["step"] = "email"
            context.setdefault("email_form", EmailStepForm())
        next_url = context.get("next") or ""
        suffix = "?" + urlencode({"next": next_url}) if next_url else ""
        context["sso_url"] = reverse("oidc_start") + suffix
        context["restart_url"] = reverse("login") + suffix
        return context


@method_decorator(login_not_required, name="dispatch")
class SSOStartView(OIDCAuthenticationRequestView):
    """The authorization code flow's first half, for the company the sign-in's first step
    chose: a redirect to its provider's authorization endpoint with a new state, nonce and
    PKCE challenge (mozilla-django-oidc's), and the address as ``login_hint``. The state's
    entry in the session names the company, so the callback checks against it alone."""

    get_settings = staticmethod(sso.oidc_setting)

    def __init__(self, **kwargs):
        View.__init__(self, **kwargs)  # the provider is the company's, not from settings
        self.login_hint = ""

    def get(self, request):
        start = request.session.get(START_KEY) or {}
        company = Company.objects.filter(pk=start.get("company") or 0).first()
        if company is None or not company.sso_enabled:
            messages.error(request, _("Enter your e-mail address to sign in."))
            return redirect("login")
        try:
            metadata = sso.provider_metadata(company)
        except sso.SSORefused as exc:
            messages.error(request, str(exc))
            return redirect("login")
        self.OIDC_OP_AUTH_ENDPOINT = metadata["authorization_endpoint"]
        self.OIDC_RP_CLIENT_ID = company.sso_client_id
        self.login_hint = start.get("email", "")
        response = super().get(request)
        state = parse_qs(urlsplit(response.url).query)["state"][0]
        request.session["oidc_states"][state]["company"] = company.pk
        request.session.modified = True
        return response

    def get_extra_params(self, request):
        return {"login_hint": self.login_hint} if self.login_hint else {}


@method_decorator(login_not_required, name="dispatch")
class SSOCallbackView(OIDCAuthenticationCallbackView):
    """Where the provider sends the person back. The state must be one this browser's
    session started, less than ten minutes ago, and it is used once (a replay, or a state
    from another browser, is refused). The code is exchanged and the ID token checked for
    the company that state names (``CompanyOIDCBackend``); the person found is signed in,
    and the session remembers the provider for signing out there too."""

    get_settings = staticmethod(sso.oidc_setting)

    def get(self, request):
        state = request.GET.get("state", "")
        states = request.session.get("oidc_states")
        entry = states.pop(state, None) if isinstance(states, dict) and state else None
        if entry is not None:
            request.session["oidc_states"] = states  # used once: a replay finds nothing
            request.session.save()
        company = Company.objects.filter(pk=(entry or {}).get("company") or 0).first()
        if company is None:
            return self.refused(
                _(
                    "That sign-in cannot be completed: it was used already, or started in "
                    "another browser. Start again."
                )
            )
        if time.time() - float(entry.get("added_on") or 0) > sso.STATE_SECONDS:
            return self.refused(_("That sign-in took longer than ten minutes. Start again."))
        if request.GET.get("error"):
            reason = request.GET.get("error_description") or request.GET["error"]
            return self.refused(
                # Translators: %(reason)s is the identity provider's own message, as it sent it.
                _("%(company)s's identity provider did not sign you in (%(reason)s).")
                % {"company": company.name, "reason": reason[:200]}
            )
        backend = CompanyOIDCBackend()
        try:
            user = backend.authenticate(
                request,
                company=company,
                nonce=entry.get("nonce"),
                code_verifier=entry.get("code_verifier"),
            )
        except sso.SSORefused as exc:
            logger.info("SSO: sign-in at %s refused: %s", company, exc)
            return self.refused(str(exc))
        except Exception:
            logger.exception("SSO: sign-in at %s failed", company)
            return self.refused(
                _(
                    "The sign-in with %(company)s's identity provider could not be completed. "
                    "Try again, or ask your IT admin."
                )
                % {"company": company.name}
            )
        if user is None:
            return self.refused(_("That sign-in cannot be completed. Start again."))
        user.backend = SESSION_BACKEND
        self.user = user
        response = self.login_success()
        sso_session_remember(
            request,
            company_id=company.pk,
            client_id=company.sso_client_id,
            id_token=backend.id_token,
            end_session=sso.provider_metadata(company).get("end_session_endpoint"),
        )
        request.session.pop(START_KEY, None)
        return response

    def refused(self, message: str):
        messages.error(self.request, message)
        return redirect("login")


class SignOutView(auth_views.LogoutView):
    """Sign out. A session that came from single sign-on goes on to the provider's
    end-session endpoint (RP-initiated logout), which signs the person out there too and
    sends them back to "You are signed out"; a password session ends here as before."""

    def post(self, request, *args, **kwargs):
        provider = end_session_url(request)  # read before the session ends
        response = super().post(request, *args, **kwargs)
        return HttpResponseRedirect(provider) if provider else response


@method_decorator(login_not_required, name="dispatch")
class SignedOutView(TemplateView):
    """Where the identity provider sends a person back after signing them out."""

    template_name = "registration/logged_out.html"


@login_not_required
@require_POST
def language_view(request):
    """The language switch (profile menu, and the footer before sign-in): a signed-in
    person's choice is saved on their profile, so pages and e-mails follow it everywhere;
    before sign-in it is kept in a cookie. Back to the page it was chosen on."""
    code = request.POST.get("language", "")
    back = request.POST.get("next") or request.headers.get("referer") or "/"
    if not url_has_allowed_host_and_scheme(back, {request.get_host()}, request.is_secure()):
        back = "/"
    response = redirect(back)
    if code not in i18n.LANGUAGE_CODES:
        messages.error(request, _("Choose one of the languages in the list."))
        return response
    if request.user.is_authenticated:
        services.user_language_set(user=request.user, language=code)
    response.set_cookie(
        settings.LANGUAGE_COOKIE_NAME,
        code,
        max_age=365 * 24 * 60 * 60,
        samesite="Lax",
        secure=settings.SESSION_COOKIE_SECURE,
        httponly=True,
    )
    with translation.override(code):
        # Translators: after the language switch; the language's own name, e.g. "Svenska".
        done = _("Velory is now in %(language)s.") % {"language": i18n.LANGUAGE_NAMES[code]}
    messages.success(request, done)
    return response
