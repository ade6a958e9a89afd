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


def language_for(user) -> str:
    """The language ``user`` (a User, or None) has chosen, else their company's, else ''."""
    if user is None or not getattr(user, "is_authenticated", False):
        return ""
    own = getattr(user, "language", "")
    if own in LANGUAGE_CODES:
        return own
    company = user.company if getattr(user, "company_id", None) else None
    if company is not None and company.default_language in LANGUAGE_CODES:
        return company.default_language
    return ""


def time_zone_for(user) -> str:
    company = user.company if user is not None and getattr(user, "company_id", None) else None
    return (company.time_zone if company is not None else "") or settings.TIME_ZONE


@contextmanager
def for_recipient(user):
    """Render inside this block as ``user`` reads Velory: their language and time zone."""
    language = language_for(user) or settings.LANGUAGE_CODE
    with translation.override(language), timezone.override(_zone(time_zone_for(user))):
        yield


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
        language = language_for(user)
        if not language:
            language = translation.get_language_from_request(request)
        translation.activate(language)
        request.LANGUAGE_CODE = translation.get_language()
        zone = None
        if user is not None and user.is_authenticated:
            zone = _zone(time_zone_for(user))
            timezone.activate(zone)
        try:
            response = self.get_response(request)
        finally:
            if zone is not None:
                timezone.deactivate()
        patch_vary_headers(response, ("Accept-Language", "Cookie"))
        response.headers.setdefault("Content-Language", request.LANGUAGE_CODE)
        return response
