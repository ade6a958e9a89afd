from urllib.parse import parse_qs, urlsplit

from django.contrib.auth import views as auth_views


class SignInView(auth_views.LoginView):
    """The provider's plain sign-in page. The address Velory passed on (``login_hint`` in
    the authorization request this page returns to) is filled in."""

    template_name = "idp/login.html"

    def get_initial(self):
        query = parse_qs(urlsplit(self.request.GET.get("next", "")).query)
        hint = (query.get("login_hint") or [""])[0]
        return {"username": hint} if hint else {}
