from django.contrib.auth.decorators import login_not_required
from django.db import connection
from django.http import HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from . import selectors


@require_GET
def home(request):
    user = request.user
    if user.is_staff and not user.company_id:
        return redirect("admin:index")
    return redirect("me")


@require_GET
def me(request):
    return render(request, "portal/me.html", {"nav": "me"})


@require_GET
def support(request):
    return render(
        request,
        "portal/support.html",
        {"nav": "support", **selectors.support_contacts_for(request.user)},
    )


@login_not_required
@never_cache
@require_GET
def health(request):
    """Liveness for the load balancer and docker compose: the database answers."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})


@login_not_required
@require_GET
def bare(request):
    """The benchmark's baseline: no work behind the same middleware."""
    return HttpResponse("ok")
