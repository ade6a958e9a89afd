"""A customer on the hosted pages, for tests and demos: opens a session's payment page over
real HTTP, submits a card, answers the 3-D Secure challenge when asked, and follows the
processor's own redirects until it is sent elsewhere (the success URL) or shown an error."""

from __future__ import annotations

import re
import urllib.error
import urllib.request
from dataclasses import dataclass
from html import unescape
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit

MAX_HOPS = 6
_MESSAGE = re.compile(r'<p class="(?:error-message|closed)"[^>]*>(.*?)</p>', re.S)


@dataclass(frozen=True)
class PayResult:
    """How a payment attempt ended: ``redirect`` (where the processor sent the customer
    outside itself, e.g. the success URL), else ``error`` (the message the page shows),
    or ``challenge`` (the 3-D Secure page, when asked not to answer it). ``status`` and
    ``page`` are the last answer's."""

    redirect: str | None = None
    error: str | None = None
    challenge: str | None = None
    status: int = 200
    page: str = ""


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # a 303 comes back as an answer, its Location read by pay()


def pay(
    base_url: str,
    public_url: str,
    session_id: str,
    *,
    card: str,
    three_ds: str | None,
    exp: str,
    cvc: str,
    name: str,
    timeout: float = 10.0,
) -> PayResult:
    """Pay session ``session_id`` with ``card``; ``three_ds`` "complete" or "fail" answers
    a challenge (None: stop at it)."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect)
    base_url, public_url = base_url.rstrip("/"), public_url.rstrip("/")

    def fetch(url: str, form: dict[str, str] | None = None) -> tuple[int, str | None, str]:
        data = urlencode(form).encode() if form is not None else None
        request = urllib.request.Request(url, data=data, method="POST" if form else "GET")  # noqa: S310
        try:
            with opener.open(request, timeout=timeout) as answer:
                return answer.status, answer.headers.get("Location"), answer.read().decode()
        except urllib.error.HTTPError as error:
            with error:
                return error.code, error.headers.get("Location"), error.read().decode()

    def own(location: str, current: str) -> str | None:
        """The processor's URL for a Location of its own; None for one elsewhere."""
        absolute = urljoin(current, location)
        for prefix in (base_url, public_url):
            if absolute == prefix or absolute.startswith(prefix + "/"):
                return base_url + absolute[len(prefix) :]
        return None

    url = f"{base_url}/pay/{session_id}"
    status, location, page = fetch(url)
    if status != 200 or 'name="card_number"' not in page:
        return PayResult(error=_message(page), status=status, page=page)
    status, location, page = fetch(url, {"card_number": card, "exp": exp, "cvc": cvc, "name": name})
    for _ in range(MAX_HOPS):
        if status not in (301, 302, 303, 307, 308) or not location:
            return PayResult(error=_message(page), status=status, page=page)
        target = own(location, url)
        if target is None:
            return PayResult(redirect=location, status=status, page=page)
        url = target
        if urlsplit(target).path.startswith("/3ds/"):
            if three_ds is None:
                return PayResult(challenge=target, status=status, page=page)
            status, location, page = fetch(target)  # the challenge, as the customer sees it
            if status == 200 and 'name="action"' in page:
                status, location, page = fetch(target, {"action": three_ds})
            continue
        status, location, page = fetch(target)
    return PayResult(error="Too many redirects.", status=status, page=page)


def _message(page: str) -> str | None:
    found = [unescape(message).strip() for message in _MESSAGE.findall(page)]
    return " ".join(found) or None
