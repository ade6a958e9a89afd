"""The site's address for absolute links in mail.

Production names it: ``SITE_URL`` (VELORY_SITE_URL). The demo (``make run``) may be served
on another host or port than that default, so its settings turn ``SITE_URL_FROM_REQUEST``
on and name a ``SITE_URL_FILE``: then the address follows the one actually served. The
middleware below records each request's origin (its host already checked by Django against
ALLOWED_HOSTS); mail rendered during a request uses that request's origin, and mail
rendered later by the worker (the poller, the daily jobs: other processes) uses the origin
the web process last served, which it wrote to the file."""

from __future__ import annotations

import contextvars
import logging
from pathlib import Path

from django.conf import settings

logger = logging.getLogger(__name__)

_current: contextvars.ContextVar[str] = contextvars.ContextVar("velory_site_url", default="")
_written = {"origin": ""}  # this process's last write: the file is written once per change


def _follows_requests() -> bool:
    return bool(getattr(settings, "SITE_URL_FROM_REQUEST", False))


def _file() -> Path | None:
    name = getattr(settings, "SITE_URL_FILE", None)
    return Path(name) if name else None


def site_url() -> str:
    """Where links in mail point: the served origin in the demo, else SITE_URL."""
    if _follows_requests():
        origin = _current.get()
        if not origin and (path := _file()) is not None:
            try:
                origin = path.read_text().strip()
            except OSError:
                origin = ""
        if origin:
            return origin
    return settings.SITE_URL


def _record(origin: str) -> None:
    path = _file()
    if path is None or _written["origin"] == origin:
        return
    try:
        path.write_text(origin + "\n")
    except OSError:
        logger.warning("could not record the served site URL in %s", path)
        return
    _written["origin"] = origin


class ServedSiteURLMiddleware:
    """Records the origin a request was served on (only where SITE_URL_FROM_REQUEST)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not _follows_requests():
            return self.get_response(request)
        origin = f"{request.scheme}://{request.get_host()}"
        _record(origin)
        token = _current.set(origin)
        try:
            return self.get_response(request)
        finally:
            _current.reset(token)
