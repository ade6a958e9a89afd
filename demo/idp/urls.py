from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import TemplateView
from oauth2_provider import urls as oauth2_urls

from .views import SignInView

oauth2 = oauth2_urls.base_urlpatterns + oauth2_urls.oidc_urlpatterns

urlpatterns = [
    path("", TemplateView.as_view(template_name="idp/home.html"), name="home"),
    path("login/", SignInView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(next_page="home"), name="logout"),
    path("o/", include((oauth2, "oauth2_provider"))),
]
