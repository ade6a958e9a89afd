from functools import update_wrapper

from django.contrib import admin
from django.contrib.admin.apps import AdminConfig
from django.shortcuts import render


class VeloryAdminSite(admin.AdminSite):
    site_header = "Velory admin"
    site_title = "Velory admin"
    index_title = "Work"
    site_url = "/me/"

    def admin_view(self, view, cacheable=False):
        inner = super().admin_view(view, cacheable)

        def guarded(request, *args, **kwargs):
            user = request.user
            if user.is_authenticated and user.is_active and not user.is_staff:
                # An employee: the admin is not for them; say so instead of showing a login.
                return render(request, "403.html", {"reason": "admin"}, status=403)
            return inner(request, *args, **kwargs)

        return update_wrapper(guarded, inner)


class VeloryAdminConfig(AdminConfig):
    """The Django admin with Velory's site (INSTALLED_APPS names this instead of
    django.contrib.admin)."""

    default_site = "companies.admin_site.VeloryAdminSite"
