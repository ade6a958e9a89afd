from functools import update_wrapper

from django.conf import settings
from django.contrib import admin
from django.contrib.admin.apps import AdminConfig
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import render
from django.utils.module_loading import import_string
from django.utils.translation import gettext_lazy as _

from .sso_session import end_session_url


class NoExistenceLeakMixin:
    """Added to every model admin of the site, ours and third parties' (groups, beat,
    axes): a page of an object answers the same whether or not the object exists. Without a
    permission on the model it is 403 before any lookup; a missing object is a 404 (Django's
    own admin would redirect for a missing one and refuse an existing one, which tells)."""

    def _refuse_without_model_permission(self, request, *, delete=False):
        allowed = (
            self.has_delete_permission(request)
            if delete
            else (self.has_view_or_change_permission(request))
        )
        if not allowed:
            raise PermissionDenied

    def change_view(self, request, object_id, form_url="", extra_context=None):
        self._refuse_without_model_permission(request)
        return super().change_view(request, object_id, form_url, extra_context)

    def history_view(self, request, object_id, extra_context=None):
        self._refuse_without_model_permission(request)
        return super().history_view(request, object_id, extra_context)

    def delete_view(self, request, object_id, extra_context=None):
        self._refuse_without_model_permission(request, delete=True)
        return super().delete_view(request, object_id, extra_context)

    def _get_obj_does_not_exist_redirect(self, request, opts, object_id):
        raise Http404(f"No {opts.verbose_name} matches the given query.")


class VeloryAdminSite(admin.AdminSite):
    site_header = _("Velory admin")
    site_title = _("Velory admin")
    # Translators: the title of the console's landing page (what waits on the user).
    index_title = _("Work")
    site_url = "/me/"
    index_template = "admin/dashboard.html"

    def index(self, request, extra_context=None):
        """The landing page: the role's dashboard (what waits on them, counted) above the
        list of tables. The dashboard is read by the console's own app, named in settings
        (this site sits below it)."""
        dashboard = import_string(settings.ADMIN_DASHBOARD)(request.user)
        return super().index(request, {**(extra_context or {}), "dashboard": dashboard})

    def logout(self, request, extra_context=None):
        """Signing out of the console ends a single sign-on session at its identity
        provider too, as the site's own sign-out does (``companies.views.SignOutView``)."""
        provider = end_session_url(request) if request.method == "POST" else ""
        response = super().logout(request, extra_context)
        return HttpResponseRedirect(provider) if provider else response

    def register(self, model_or_iterable, admin_class=None, **options):
        """Every model admin registered here, whoever wrote it, answers alike for a missing
        and a foreign object (``NoExistenceLeakMixin``)."""
        base = admin_class or admin.ModelAdmin
        if not issubclass(base, NoExistenceLeakMixin):
            base = type(
                base.__name__, (NoExistenceLeakMixin, base), {"__module__": base.__module__}
            )
        return super().register(model_or_iterable, base, **options)

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
