"""The console's own pages outside the model admins: the live part of the dashboard."""

from __future__ import annotations

from django.conf import settings
from django.shortcuts import render
from django.utils.module_loading import import_string
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET


@never_cache
@require_GET
def dashboard_live_view(request):
    """The dashboard's cards alone, for the page's live refresh (static/js/velory.js):
    the same partial and the same reads as the landing page, for the signed-in user's own
    scope (behind the admin's login and staff check)."""
    dashboard = import_string(settings.ADMIN_DASHBOARD)(request.user)
    return render(request, "admin/partials/dashboard_body.html", {"dashboard": dashboard})
