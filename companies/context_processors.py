from functools import cache

from django.conf import settings
from django.urls import get_script_prefix, reverse
from django.utils import translation
from django.utils.html import format_html_join
from django.utils.safestring import mark_safe
from django.utils.translation import gettext, gettext_noop

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


# The page shell's words, translated once per process and language: sixteen {% translate %}
# tags in base.html were a sixth of a cached Your Details.
SHELL_TEXT = {
    "skip": gettext_noop("Skip to content"),
    "home": gettext_noop("Velory home"),
    "main": gettext_noop("Main"),
    "me": gettext_noop("Your Details"),
    "catalogue": gettext_noop("Catalogue"),
    "profile_menu": gettext_noop("Profile menu:"),
    "support": gettext_noop("Support"),
    "admin": gettext_noop("Admin"),
    "password_change": gettext_noop("Change password"),
    "logout": gettext_noop("Log out"),
    "language": gettext_noop("Language"),
    "change": gettext_noop("Change"),
    "updated": gettext_noop("This section was updated."),
    "tagline": gettext_noop("Velory — your company's hardware, in one place."),
}
SUPPORT_LINE = gettext_noop('Questions about an order? See <a href="%(support)s">Support</a>.')


@cache
def _shell_text(language: str, prefix: str) -> dict:
    with translation.override(language):
        text = {key: gettext(source) for key, source in SHELL_TEXT.items()}
        support = _shell_urls(prefix)["support"]
        text["support_line"] = mark_safe(gettext(SUPPORT_LINE) % {"support": support})  # noqa: S308  (our catalogue, our URL)
        # The language list, the current one selected (each name in its own language).
        text["language_options"] = format_html_join(
            "",
            '<option value="{}" lang="{}"{}>{}</option>',
            (
                (code, code, mark_safe(" selected") if code == language else "", name)
                for code, name in settings.LANGUAGES
            ),
        )
    return text


def shell(request):
    """What the page shell needs: no queries (the user is loaded with company and partner)."""
    prefix = get_script_prefix()
    urls = {
        "urls": _shell_urls(prefix),
        "shell": _shell_text(translation.get_language() or settings.LANGUAGE_CODE, prefix),
    }
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
