"""What a signed-in session remembers of its single sign-on, for signing out at the identity
provider too (OpenID Connect RP-initiated logout).

No models here: the admin site imports this module while the apps are still loading."""

from __future__ import annotations

from urllib.parse import urlencode, urlsplit

from django.urls import reverse

SESSION_KEY = "velory_sso"


def sso_session_remember(request, *, company_id: int, client_id: str, id_token: str, end_session):
    """Keep, in the new session, what signing out at the provider needs: its end-session
    endpoint (read at sign-in, so signing out needs no call to the provider), the client
    and the ID token as the hint of whom to sign out."""
    request.session[SESSION_KEY] = {
        "company": company_id,
        "client_id": client_id,
        "id_token": id_token,
        "end_session": end_session or "",
    }


def end_session_url(request) -> str:
    """Where to send a person who signs out of a session that came from single sign-on: the
    provider's end-session endpoint, which signs them out there too and sends them back to
    Velory's "You are signed out" page. Empty for a password session, or a provider
    without the endpoint (then only Velory's session ends)."""
    sso = request.session.get(SESSION_KEY) or {}
    endpoint = sso.get("end_session")
    if not endpoint:
        return ""
    query = urlencode(
        {
            "id_token_hint": sso.get("id_token", ""),
            "client_id": sso.get("client_id", ""),
            "post_logout_redirect_uri": request.build_absolute_uri(reverse("signed_out")),
        }
    )
    return f"{endpoint}{'&' if '?' in endpoint else '?'}{query}"


def end_session_origin(request) -> str:
    """The provider's origin, when this session signs out there (for the pages' form-action:
    the sign-out button is a form whose answer redirects to the provider)."""
    endpoint = (getattr(request, "session", None) or {}).get(SESSION_KEY, {}).get("end_session")
    if not endpoint:
        return ""
    parts = urlsplit(endpoint)
    return f"{parts.scheme}://{parts.netloc}"
