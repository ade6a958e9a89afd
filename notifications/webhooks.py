"""Signed outbound webhooks: what companies and partners are told, as it happens.

``emit`` (and ``emit_many``) is called inside the transaction of the change it reports: it
writes one delivery row per active endpoint of that company and of that partner that is
subscribed to the event (one SELECT of the endpoints, one INSERT; nothing when no endpoint
wants it), keyed by a dedup key so that a retried use case emits nothing twice, and after
commit asks a worker to send, one task per endpoint. Nothing here ever sends during a
request: a receiver that is down or slow costs a worker a few seconds, never a page.

Sending (``webhooks_send_events``, the periodic ``webhooks_send_due``) claims each row with
``core.jobs.claim`` (one sender at a time), signs it (docs/webhooks.md: HMAC-SHA256 of
"{event id}.{timestamp}.{body}" with the endpoint's secret), POSTs it with short timeouts,
and on failure backs off (``WEBHOOK_RETRY``) until ``WEBHOOK_MAX_ATTEMPTS``, then marks it
failed. One endpoint's failure ends only that endpoint's batch: each endpoint is sent in a
task of its own, so one receiver's timeouts never hold another's deliveries.

This module knows no other app: callers pass ids and plain data."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import ipaddress
import json
import logging
import secrets
import signal
import socket
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

import httpcore
import httpx
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from core import crypto
from core.jobs import Retry, claim, enqueue_named
from core.tenancy import Role
from core.timers import scaled_delta

from .models import (
    LOCAL_HOSTS,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
    webhook_url_validator,
)

logger = logging.getLogger(__name__)

EVENT_TYPES = frozenset(WebhookEvent.values)
SECRET_PREFIX = "whsec_"
USER_AGENT = "Velory-Webhooks/1"
# The receiver is told to refuse a signature whose timestamp is further than this from its
# own clock (docs/webhooks.md): a recorded request cannot be replayed later.
TOLERANCE_SECONDS = 300
# The after-commit task normally sends at once; the sweeper takes a row over only when it
# has not been sent this long after it was written (broker down, worker lost).
RETRY_AFTER_SECONDS = 60
# 1 min, 2, 4, ... capped at 6 hours; failed after WEBHOOK_MAX_ATTEMPTS (about a day).
WEBHOOK_RETRY = Retry(base=60, cap=6 * 3600)
# Rows one sweep hands out; a sweep runs well inside the task's soft time limit.
DUE_BATCH_SIZE = 500
# What of a receiver's answer is read: its status is what counts, the body is not kept.
ANSWER_BYTES = 1024
SEND_TASK = "notifications.tasks.send_webhooks"
SEND_DUE_TASK = "notifications.tasks.send_due_webhooks"


def claim_seconds() -> int:
    """A sender holds a row this long: well past one request's timeouts (connect, write,
    read), so a slow but alive sender is never doubled; a dead one is replaced after it."""
    per_read = settings.WEBHOOK_CONNECT_TIMEOUT + 2 * settings.WEBHOOK_READ_TIMEOUT
    return int(max(per_read, settings.WEBHOOK_DEADLINE)) + 45


def max_attempts() -> int:
    return int(settings.WEBHOOK_MAX_ATTEMPTS)


# --- Emitting -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Event:
    """One event to emit. ``data`` may be a callable: it is built only when some endpoint
    wants the event (the device engine moves thousands of devices for nobody)."""

    type: str
    dedup_key: str
    data: dict | Callable[[], dict]
    company_id: int | None = None
    partner_id: int | None = None


def emit(
    *,
    event: str,
    company_id: int | None,
    partner_id: int | None,
    data: dict | Callable[[], dict],
    dedup_key: str,
) -> int:
    """Emit one event to the company's and the partner's endpoints subscribed to it (in the
    caller's transaction; sent after commit). Returns how many deliveries it wrote."""
    return emit_many([Event(event, dedup_key, data, company_id, partner_id)])


def emit_many(events: Iterable[Event]) -> int:
    """Emit many events at a constant cost: one SELECT of the endpoints of their companies
    and partners, and one INSERT of the deliveries when any endpoint is subscribed. The same
    dedup key for the same endpoint is written once: a repeat (a retried use case, a second
    device of an order already accepted) writes and sends nothing."""
    events = [e for e in events if e.company_id or e.partner_id]
    for e in events:
        if e.type not in EVENT_TYPES:
            raise ValueError(f"Unknown webhook event {e.type!r}")
    if not events:
        return 0
    companies = {e.company_id for e in events if e.company_id}
    partners = {e.partner_id for e in events if e.partner_id}
    endpoints = list(
        WebhookEndpoint.objects.active()
        .filter(Q(company_id__in=companies) | Q(partner_id__in=partners))
        .order_by()
        .values_list("pk", "company_id", "partner_id", "events")
    )
    if not endpoints:
        return 0
    of_company, of_partner = defaultdict(list), defaultdict(list)
    for pk, company_id, partner_id, subscribed in endpoints:
        owner = of_company[company_id] if company_id else of_partner[partner_id]
        owner.append((pk, frozenset(subscribed or ())))
    now = timezone.now()
    next_at = now + scaled_delta(RETRY_AFTER_SECONDS)
    rows, seen = [], set()
    batches: dict[int, list[str]] = defaultdict(list)
    for e in events:
        targets = [
            pk
            for pk, subscribed in (
                of_company.get(e.company_id, []) + of_partner.get(e.partner_id, [])
            )
            if e.type in subscribed and (pk, e.dedup_key) not in seen
        ]
        if not targets:
            continue
        payload = _json_safe(e.data() if callable(e.data) else e.data)
        event_id = uuid.uuid4()
        for pk in targets:
            seen.add((pk, e.dedup_key))
            batches[pk].append(str(event_id))
            rows.append(
                WebhookDelivery(
                    endpoint_id=pk,
                    event_id=event_id,
                    event_type=e.type,
                    dedup_key=e.dedup_key[:200],
                    created_at=now,
                    payload=payload,
                    next_attempt_at=next_at,
                )
            )
    if not rows:
        return 0
    # A row whose dedup key is there already stays as it is; the task is given the event
    # ids just made, so it finds (and sends) only the rows this call wrote.
    WebhookDelivery.objects.bulk_create(rows, ignore_conflicts=True)
    transaction.on_commit(lambda: _enqueue_batches(batches))
    return len(rows)


def _json_safe(data: dict) -> dict:
    return json.loads(json.dumps(data, cls=DjangoJSONEncoder))


def _enqueue_batches(batches: dict[int, list[str]]) -> None:
    # By name: the tasks module imports this one. One task per endpoint: isolation.
    for endpoint_id, event_ids in batches.items():
        enqueue_named(SEND_TASK, endpoint_id, event_ids)


# --- The body and its signature -------------------------------------------------------------------


def delivery_body(delivery: WebhookDelivery) -> bytes:
    """The request body: the same bytes on every attempt and replay of a delivery."""
    envelope = {
        "id": str(delivery.event_id),
        "type": delivery.event_type,
        "created": int(delivery.created_at.timestamp()),
        "data": delivery.payload,
    }
    return json.dumps(envelope, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def signature(secret: str, event_id: str, timestamp: int, body: bytes) -> str:
    """``v1=`` and the hex HMAC-SHA256 of "{event_id}.{timestamp}.{body}" keyed with the
    endpoint's secret (the whole string, ``whsec_`` included)."""
    signed = f"{event_id}.{timestamp}.".encode() + body
    return "v1=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def signed_headers(secret: str, event_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "Velory-Event-Id": event_id,
        "Velory-Timestamp": str(timestamp),
        "Velory-Signature": signature(secret, event_id, timestamp, body),
    }


# --- Endpoints: made, changed and rotated by their owner -----------------------------------------


def _new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def _owner_of(actor) -> dict:
    """Whose an endpoint made by ``actor`` is: a company admin's company, or partner
    staff's partner. Nobody else makes endpoints (superusers support, they do not own)."""
    role = getattr(actor, "role", None)
    if role == Role.COMPANY_ADMIN and getattr(actor, "company_id", None):
        return {"company_id": actor.company_id}
    if role == Role.PARTNER_STAFF and getattr(actor, "partner_id", None):
        return {"partner_id": actor.partner_id}
    raise ValidationError(_("Only a company's admins or a partner's staff register webhooks."))


def _checked(url: str, events: Iterable[str]) -> tuple[str, list[str]]:
    url = (url or "").strip()
    webhook_url_validator(url)
    chosen = [e for e in WebhookEvent.values if e in set(events or ())]
    unknown = set(events or ()) - EVENT_TYPES
    if unknown:
        raise ValidationError(
            # Translators: the event names are technical ones, such as device.shipped.
            _("Unknown events: %(events)s.") % {"events": ", ".join(sorted(unknown))}
        )
    if not chosen:
        raise ValidationError(_("Choose at least one event."))
    return url, chosen


def _may_manage(actor, endpoint: WebhookEndpoint) -> bool:
    if getattr(actor, "is_superuser", False):
        return True
    if endpoint.company_id:
        return actor.role == Role.COMPANY_ADMIN and actor.company_id == endpoint.company_id
    return actor.role == Role.PARTNER_STAFF and actor.partner_id == endpoint.partner_id


def _endpoint_for(actor, endpoint_id: int, *, lock: bool = False) -> WebhookEndpoint:
    rows = WebhookEndpoint.objects.visible_to(actor)
    if lock:
        rows = rows.select_for_update()
    endpoint = rows.get(pk=endpoint_id)  # another tenant's: DoesNotExist, a 404
    if not _may_manage(actor, endpoint):
        raise ValidationError(_("Only the endpoint's owners change it."))
    return endpoint


@transaction.atomic
def webhook_endpoint_create(
    *, actor, url: str, events: Iterable[str], description: str = ""
) -> tuple[WebhookEndpoint, str]:
    """Register an endpoint for the actor's company (company admin) or partner (partner
    staff). Returns it with its secret, to be shown once: only the encrypted secret is kept."""
    owner = _owner_of(actor)
    url, chosen = _checked(url, events)
    raw = _new_secret()
    endpoint = WebhookEndpoint.objects.create(
        **owner,
        url=url,
        events=chosen,
        description=(description or "").strip()[:200],
        secret_encrypted=crypto.encrypt(raw),
        created_by=actor if getattr(actor, "pk", None) else None,
    )
    return endpoint, raw


@transaction.atomic
def webhook_endpoint_update(
    *,
    endpoint_id: int,
    actor,
    url: str,
    events: Iterable[str],
    description: str = "",
    is_active: bool = True,
) -> WebhookEndpoint:
    """Change an endpoint's URL, events or description, or (de)activate it. An inactive
    endpoint is sent nothing new; what was queued for it is failed when its turn comes."""
    endpoint = _endpoint_for(actor, endpoint_id, lock=True)
    url, chosen = _checked(url, events)
    endpoint.url, endpoint.events, endpoint.is_active = url, chosen, bool(is_active)
    endpoint.description = (description or "").strip()[:200]
    endpoint.save(update_fields=["url", "events", "description", "is_active"])
    return endpoint


@transaction.atomic
def webhook_secret_rotate(*, endpoint_id: int, actor) -> tuple[WebhookEndpoint, str]:
    """A new secret for the endpoint, returned once. The old one stops signing at once:
    deliveries the receiver refuses meanwhile are retried, and can be replayed."""
    endpoint = _endpoint_for(actor, endpoint_id, lock=True)
    raw = _new_secret()
    endpoint.secret_encrypted = crypto.encrypt(raw)
    endpoint.secret_rotated_at = timezone.now()
    endpoint.save(update_fields=["secret_encrypted", "secret_rotated_at"])
    return endpoint, raw


def webhook_deliveries_replay(*, actor, delivery_ids: Iterable[int]) -> int:
    """Queue deliveries again, whatever became of them: a new round of attempts with the
    same event id and body (signed anew, with a new timestamp). A delivery being sent at
    this moment, or of an inactive endpoint, is left alone. Returns how many."""
    now = timezone.now()
    rows = (
        WebhookDelivery.objects.visible_to(actor)
        .filter(pk__in=list(delivery_ids), endpoint__is_active=True)
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
    )
    chosen = list(rows.values_list("pk", "endpoint_id"))
    if not chosen:
        return 0
    with transaction.atomic():
        count = (
            WebhookDelivery.objects.filter(pk__in=[pk for pk, _ in chosen])
            .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
            .update(
                status=WebhookDelivery.Status.PENDING,
                attempts=0,
                next_attempt_at=now + scaled_delta(RETRY_AFTER_SECONDS),
                claimed_until=None,
                error="",
            )
        )
        groups: dict[int, list[int]] = defaultdict(list)
        for pk, endpoint_id in chosen:
            groups[endpoint_id].append(pk)
        transaction.on_commit(lambda: _enqueue_replays(groups))
    return count


def _enqueue_replays(groups: dict[int, list[int]]) -> None:
    for endpoint_id, ids in groups.items():
        enqueue_named(SEND_DUE_TASK, endpoint_id, ids, False)


# --- Sending ------------------------------------------------------------------------------------


class _PublicAddressesOnly(httpcore.SyncBackend):
    """Connects to a receiver only at an address on the internet, checked when connecting:
    a name that resolved outside when it was registered and points into Velory's own
    network now (DNS rebinding) is refused, and the connection goes to the very address
    that was checked (TLS still verifies the name). This machine's own receivers pass
    where the URL check lets them (``WEBHOOKS_ALLOW_LOCAL_HTTP``: the demo and tests)."""

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        address = _public_address(host, port)
        return super().connect_tcp(
            address,
            port,
            timeout=timeout,
            local_address=local_address,
            socket_options=socket_options,
        )


def _public_address(host: str, port: int) -> str:
    if host.lower() in LOCAL_HOSTS and getattr(settings, "WEBHOOKS_ALLOW_LOCAL_HTTP", False):
        return host
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise httpcore.ConnectError(
            f"The receiver's name {host} does not resolve: {exc}."
        ) from None
    addresses = [ipaddress.ip_address(info[4][0].split("%")[0]) for info in found]
    inside = [a for a in addresses if not a.is_global]
    if inside or not addresses:
        raise httpcore.ConnectError(
            f"{host} resolves to {inside[0] if inside else 'nothing'}, not an address on the "
            "internet: not sent (a webhook is not a way into Velory's network)."
        )
    return str(addresses[0])


def _client() -> httpx.Client:
    timeout = httpx.Timeout(
        connect=settings.WEBHOOK_CONNECT_TIMEOUT,
        read=settings.WEBHOOK_READ_TIMEOUT,
        write=settings.WEBHOOK_READ_TIMEOUT,
        pool=settings.WEBHOOK_CONNECT_TIMEOUT,
    )
    transport = httpx.HTTPTransport(retries=0)
    # httpx has no setting for the network backend: its pool's is replaced (httpx and
    # httpcore are pinned; tests/notifications/test_webhooks.py proves the check runs).
    transport._pool._network_backend = _PublicAddressesOnly()
    # No redirects (a receiver answers where it was registered) and no proxy from the
    # environment: the request goes to the URL the owner gave.
    return httpx.Client(
        timeout=timeout, follow_redirects=False, trust_env=False, transport=transport
    )


class _Overdue(Exception):
    """The receiver did not finish answering within ``WEBHOOK_DEADLINE``."""


@contextlib.contextmanager
def _deadline(seconds: float):
    """A hard limit on one request, whatever the receiver does (httpx's timeouts are per
    read, so a receiver trickling a byte every few seconds would hold a worker for hours):
    a timer signal in the worker's main thread, where Celery's prefork pool runs tasks. In
    another thread (a test's live server) only the reading loop's own check applies."""
    if threading.current_thread() is not threading.main_thread() or seconds <= 0:
        yield
        return

    def overdue(signum, frame):
        raise _Overdue

    previous = signal.signal(signal.SIGALRM, overdue)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _retry_after(response: httpx.Response | None) -> float:
    if response is None or response.status_code not in (429, 503):
        return 0
    try:
        return min(float(response.headers.get("Retry-After", "0")), WEBHOOK_RETRY.cap)
    except ValueError:
        return 0


def webhook_send(delivery_id: int, *, client: httpx.Client, wait_for_due: bool = False) -> str:
    """Send one delivery. Returns "sent" (the receiver answered 2xx), "skipped" (done, or
    held by another sender, or not due), "error" (kept pending for a later attempt, with
    its backoff) or "failed" (given up after the limit, or its endpoint deactivated)."""
    rows = WebhookDelivery.objects.filter(pk=delivery_id, status=WebhookDelivery.Status.PENDING)
    token = claim(
        rows, hold_seconds=claim_seconds(), due_field="next_attempt_at" if wait_for_due else None
    )
    if token is None:
        return "skipped"
    delivery = WebhookDelivery.objects.select_related("endpoint").get(pk=delivery_id)
    mine = WebhookDelivery.objects.filter(pk=delivery_id, claimed_until=token)
    endpoint = delivery.endpoint
    if not endpoint.is_active:
        mine.update(
            status=WebhookDelivery.Status.FAILED,
            claimed_until=None,
            error="The endpoint is inactive.",
        )
        return "failed"
    secret = crypto.decrypt(endpoint.secret_encrypted)
    body = delivery_body(delivery)
    event_id = str(delivery.event_id)
    code, error, response = None, "", None
    started = time.monotonic()
    if not secret:
        error = "The endpoint's secret cannot be read (encryption key missing): rotate it."
    else:
        headers = signed_headers(secret, event_id, int(time.time()), body)
        deadline = settings.WEBHOOK_DEADLINE
        try:
            with (
                _deadline(deadline),
                client.stream("POST", endpoint.url, content=body, headers=headers) as response,
            ):
                code = response.status_code
                read = 0
                for chunk in response.iter_bytes():  # read a little, never a huge answer
                    read += len(chunk)
                    if read >= ANSWER_BYTES or time.monotonic() - started > deadline:
                        break
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"[:2000] or type(exc).__name__
        except _Overdue:
            if not (code is not None and 200 <= code < 300):  # a 2xx was its answer: sent
                error = f"The receiver did not finish answering within {deadline:g} s."
    duration_ms = int((time.monotonic() - started) * 1000)
    if code is not None and 200 <= code < 300:
        mine.update(
            status=WebhookDelivery.Status.SENT,
            response_code=code,
            duration_ms=duration_ms,
            error="",
            delivered_at=timezone.now(),
            claimed_until=None,
        )
        return "sent"
    error = error or f"The receiver answered HTTP {code}."
    gives_up = WEBHOOK_RETRY.gives_up(delivery.attempts, max_attempts())
    mine.update(
        status=WebhookDelivery.Status.FAILED if gives_up else WebhookDelivery.Status.PENDING,
        response_code=code,
        duration_ms=duration_ms,
        error=error,
        claimed_until=None,
        next_attempt_at=WEBHOOK_RETRY.next_at(delivery.attempts, at_least=_retry_after(response)),
    )
    log = logger.error if gives_up else logger.warning
    log(
        "webhook delivery %s id=%s event=%s endpoint=%s attempts=%s: %s",
        "failed for good" if gives_up else "failed",
        delivery.pk,
        delivery.event_type,
        endpoint.pk,
        delivery.attempts,
        error,
    )
    return "failed" if gives_up else "error"


def _send_batch(ids: list[int], *, wait_for_due: bool) -> dict[str, int]:
    """One endpoint's deliveries, oldest first, on one connection. After a failure the rest
    wait for their next attempt: a receiver that is down costs one timeout per batch."""
    counts = {"sent": 0, "skipped": 0, "error": 0, "failed": 0}
    with _client() as client:
        for pk in ids:
            result = webhook_send(pk, client=client, wait_for_due=wait_for_due)
            counts[result] += 1
            if result == "error":
                break
    return counts


def webhooks_send_events(endpoint_id: int, event_ids: list[str]) -> dict[str, int]:
    """After commit: send the deliveries of these events to this endpoint."""
    ids = list(
        WebhookDelivery.objects.filter(
            endpoint_id=endpoint_id,
            event_id__in=event_ids,
            status=WebhookDelivery.Status.PENDING,
        )
        .order_by("created_at", "pk")
        .values_list("pk", flat=True)
    )
    return _send_batch(ids, wait_for_due=False)


def webhooks_send_ids(endpoint_id: int, delivery_ids: list[int], wait_for_due: bool = True):
    """Send these deliveries of one endpoint (the sweeper's and the replay's batches)."""
    ids = list(
        WebhookDelivery.objects.filter(endpoint_id=endpoint_id, pk__in=delivery_ids)
        .order_by("created_at", "pk")
        .values_list("pk", flat=True)
    )
    return _send_batch(ids, wait_for_due=wait_for_due)


def webhooks_send_due(limit: int = DUE_BATCH_SIZE, now: datetime | None = None) -> dict[str, int]:
    """Periodic: hand the deliveries whose time has come (never enqueued, or due for a
    retry) to one task per endpoint; when the broker takes none, send them here."""
    rows = (
        WebhookDelivery.objects.due(now)
        .order_by("next_attempt_at", "pk")
        .values_list("pk", "endpoint_id")[:limit]
    )
    groups: dict[int, list[int]] = defaultdict(list)
    for pk, endpoint_id in rows:
        groups[endpoint_id].append(pk)
    counts = {"endpoints": len(groups), "queued": 0, "sent_here": 0}
    for endpoint_id, ids in groups.items():
        if enqueue_named(SEND_DUE_TASK, endpoint_id, ids, True):
            counts["queued"] += len(ids)
        else:
            counts["sent_here"] += _send_batch(ids, wait_for_due=True)["sent"]
    return counts


__all__ = [
    "EVENT_TYPES",
    "TOLERANCE_SECONDS",
    "Event",
    "delivery_body",
    "emit",
    "emit_many",
    "signature",
    "webhook_deliveries_replay",
    "webhook_endpoint_create",
    "webhook_endpoint_update",
    "webhook_secret_rotate",
    "webhook_send",
    "webhooks_send_due",
    "webhooks_send_events",
    "webhooks_send_ids",
]
