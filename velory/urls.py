from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from backoffice.search import search_view
from backoffice.views import dashboard_live_view
from companies import views as sso_views
from companies.forms import OutboxPasswordResetForm
from portal.views import bare

accounts = [
    path("language/", sso_views.language_view, name="language"),
    # E-mail first: the company's identity provider (single sign-on) or a password.
    path("login/", sso_views.SignInView.as_view(), name="login"),
    path("oidc/start/", sso_views.SSOStartView.as_view(), name="oidc_start"),
    path("oidc/callback/", sso_views.SSOCallbackView.as_view(), name="oidc_callback"),
    path("logout/", sso_views.SignOutView.as_view(), name="logout"),
    path("signed-out/", sso_views.SignedOutView.as_view(), name="signed_out"),
    path(
        "password-reset/",
        auth_views.PasswordResetView.as_view(form_class=OutboxPasswordResetForm),
        name="password_reset",
    ),
    path(
        "password-reset/sent/",
        auth_views.PasswordResetDoneView.as_view(),
        name="password_reset_done",
    ),
    path(
        "reset/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path(
        "reset/done/",
        auth_views.PasswordResetCompleteView.as_view(),
        name="password_reset_complete",
    ),
    path(
        "password-change/",
        auth_views.PasswordChangeView.as_view(),
        name="password_change",
    ),
    path(
        "password-change/done/",
        auth_views.PasswordChangeDoneView.as_view(),
        name="password_change_done",
    ),
]

urlpatterns = [
    path("accounts/", include(accounts)),
    path("scim/v2/", include("people.urls")),
    path("api/partner/v1/", include("partners.api.urls")),
    path("admin/search/", admin.site.admin_view(search_view), name="admin-search"),
    path(
        "admin/live/dashboard/",
        admin.site.admin_view(dashboard_live_view),
        name="admin-dashboard-live",
    ),
    path("admin/", admin.site.urls),
    path("", include("portal.urls")),
]

if settings.DEBUG or settings.BENCHMARK_BARE_VIEW:
    urlpatterns.append(path("bench/bare/", bare, name="bench-bare"))
