"""Which language and time zone a person reads Velory in, on pages and in e-mails.

A person's own choice (their profile's language) wins, then their company's default, then
what their browser asks for, then English. Time zones are the company's. The middleware
below activates both for each request; ``for_recipient`` does the same around an e-mail
rendered by a worker, so a message reads as its recipient's pages do."""

from __future__ import annotations

import zoneinfo
from contextlib import contextmanager

from django.conf import settings
from django.utils import timezone, translation
from django.utils.cache import patch_vary_headers

LANGUAGE_CODES = {code for code, _name in settings.LANGUAGES}
LANGUAGE_NAMES = dict(settings.LANGUAGES)
# The partner API and SCIM answer programs: their messages and labels stay English.
MACHINE_PATHS = ("/api/", "/scim/")
PAGES_FOR_PEOPLE = {
    "/api/partner/v1/docs/"
}  # the API's reference page, read by developers  # each in its own language: "Svenska", "Suomi"


def language_for(user) -> str:
    """The language ``user`` (a User, or None) has chosen, else their company's, else ''."""
    if user is None or not getattr(user, "is_authenticated", False):
        return ""
    own = getattr(user, "language", "")
    if own in LANGUAGE_CODES:
        return own
    return _company_language(user.company if getattr(user, "company_id", None) else None)


def time_zone_for(user) -> str:
    company = user.company if user is not None and getattr(user, "company_id", None) else None
    return _company_zone(company)


def _company_language(company) -> str:
    language = getattr(company, "default_language", "") if company is not None else ""
    return language if language in LANGUAGE_CODES else ""


def _company_zone(company) -> str:
    return (getattr(company, "time_zone", "") if company is not None else "") or settings.TIME_ZONE


@contextmanager
def _reading(language: str, zone: str):
    with translation.override(language or settings.LANGUAGE_CODE), timezone.override(_zone(zone)):
        yield


def for_recipient(user):
    """Render inside this block as ``user`` reads Velory: their language and time zone."""
    return _reading(language_for(user), time_zone_for(user))


def for_company(company):
    """Render inside this block for a mail to one of ``company``'s addresses that is no
    person's (a partner's support address, for an order of the company): the company's
    language and time zone (English and the site's zone without a company)."""
    return _reading(_company_language(company), _company_zone(company))


def _zone(name: str):
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo(settings.TIME_ZONE)


class LanguageMiddleware:
    """After authentication: the person's language (or the browser's, via Django's own
    negotiation, for pages before sign-in) and their company's time zone."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if (
            request.path_info.startswith(MACHINE_PATHS)
            and request.path_info not in PAGES_FOR_PEOPLE
        ):
            language = settings.LANGUAGE_CODE  # machines read one language, whoever asks
        else:
            language = language_for(user) or translation.get_language_from_request(request)
        before = translation.get_language()
        translation.activate(language)
        request.LANGUAGE_CODE = translation.get_language()
        zone = None
        if user is not None and user.is_authenticated:
            zone = _zone(time_zone_for(user))
            timezone.activate(zone)
        try:
            response = self.get_response(request)
        finally:
            # The thread goes back as it came (a worker thread serves the next person next).
            translation.activate(before) if before else translation.deactivate()
            if zone is not None:
                timezone.deactivate()
        patch_vary_headers(response, ("Accept-Language", "Cookie"))
        response.headers.setdefault("Content-Language", request.LANGUAGE_CODE)
        return response
