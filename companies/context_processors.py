from functools import cache

from django.conf import settings
from django.urls import get_script_prefix, reverse

from core.tenancy import Role

# The page shell's links, reversed once per process (and script prefix): nine {% url %}
# tags were a fifth of a cached Your Details.
SHELL_URLS = (
    "home",
    "me",
    "catalogue",
    "support",
    "password_change",
    "logout",
    "admin:index",
    "language",
)


@cache
def _shell_urls(prefix: str) -> dict[str, str]:
    return {name.replace("admin:", "admin_"): reverse(name) for name in SHELL_URLS}


def shell(request):
    """What the page shell needs: no queries (the user is loaded with company and partner)."""
    urls = {"urls": _shell_urls(get_script_prefix()), "shell_languages": settings.LANGUAGES}
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return urls
    if user.role == Role.PARTNER_STAFF and user.partner_id:
        tenant_name = user.partner.name
    elif user.company_id:
        tenant_name = user.company.name
    else:
        tenant_name = "Velory"
    return {**urls, "tenant_name": tenant_name, "can_use_admin": user.is_staff}
