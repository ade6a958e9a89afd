"""The page header's sign-out button, for a session that came from single sign-on."""

from django.conf import settings

from .sso_session import end_session_origin


class SSOSignOutFormActionMiddleware:
    """A session from single sign-on signs out at the identity provider too: the sign-out
    form's answer redirects there, and browsers check a form's redirects against the page's
    Content-Security-Policy ``form-action``. So the pages of such a session allow that one
    origin as well (read from the session; a password session's pages are unchanged).

    Listed after django-csp's middleware, so that it sets the update before the header is
    written."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if settings.SESSION_COOKIE_NAME not in request.COOKIES:
            return response  # no session: nothing to read (and no Vary: Cookie added)
        origin = end_session_origin(request)
        if origin:
            update = dict(getattr(response, "_csp_update", None) or {})
            update["form-action"] = [*update.get("form-action", []), origin]
            response._csp_update = update
        return response
