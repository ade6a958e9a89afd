"""Writing to and sending from the outbox.

``notify`` is called inside the caller's transaction: the row commits with the change it
reports, or not at all. Sending happens after commit, in a task; the periodic job sends what
the task could not (a broker that was down, a mail server that refused)."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import logging
import time
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from django.apps import apps
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.tokens import default_token_generator
from django.core.mail import EmailMultiAlternatives
from django.db import InterfaceError, OperationalError, connection, models, transaction
from django.template import Context, Engine, TemplateDoesNotExist, engines
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from django.utils.translation import gettext_lazy

from core.i18n import for_company, for_recipient
from core.jobs import Retry, claim, enqueue_named
from core.timers import scaled_delta

from .models import Notification
from .site import site_url

logger = logging.getLogger(__name__)


# A sender holds a row this long; a sender that died is replaced after it. It must exceed
# one SMTP conversation (connect and send, each within EMAIL_TIMEOUT) so that a slow but
# alive sender is never doubled, and be short so that a dead one is replaced soon.
def claim_seconds() -> int:
    return 3 * settings.EMAIL_TIMEOUT + 5


# Rows one batch of the periodic run sends; a run takes batch after batch while it has time
# (well inside the task's soft time limit), so a backlog drains at the mail server's pace.
PENDING_BATCH_SIZE = 200
PENDING_RUN_SECONDS = 50
# The status write after the mail server took the message is tried again in place on a
# dropped connection: the mail is out, so it must be recorded, not sent again.
SENT_WRITE_ATTEMPTS = 5


@dataclass(frozen=True)
class Message:
    """One message to queue: used by ``notify_many`` for the bulk paths."""

    kind: str
    dedup_key: str
    context: dict
    recipient: object | None = None
    to_email: str = ""
    from_email: str = ""
    reply_to: str = ""


@functools.cache
def _text_engine() -> Engine:
    """The site's templates without HTML escaping: a subject or a plain-text body shows
    "Smith & O'Neill" and a link's "&" as written (the HTML body stays escaped)."""
    base = engines["django"].engine
    return Engine(
        dirs=base.dirs,
        app_dirs=base.app_dirs,
        libraries=base.libraries,
        builtins=[b for b in base.builtins if b not in Engine.default_builtins],
        debug=base.debug,
        autoescape=False,
    )


def _render_text(name: str, ctx: dict) -> str:
    return _text_engine().get_template(name).render(Context(ctx, autoescape=False))


def _company_in(context: dict):
    """The company a mail without a person to go to is about: a company in its context, or
    the company of the first object there that has one (an order, for its partner)."""
    company_model = apps.get_model("companies", "Company")
    values = [v for v in context.values() if isinstance(v, models.Model)]
    for value in values:
        if isinstance(value, company_model):
            return value
    for value in values:
        if getattr(value, "company_id", None):
            return value.company
    return None


def _as_read_by(recipient, context: dict):
    """The language and time zone the mail is read in: its recipient's (``for_recipient``),
    or, for an address that is no person's, the company's it is about."""
    if recipient is not None:
        return for_recipient(recipient)
    return for_company(_company_in(context))


def _render(kind: str, context: dict) -> tuple[str, str, str]:
    """Subject, text and HTML of a message, in the language and time zone of its recipient
    (``context["recipient"]``), whoever renders it (a request in another language, a worker)."""
    ctx = {"site_url": site_url(), **context}
    with _as_read_by(ctx.get("recipient"), ctx):
        subject = _render_text(f"notifications/email/{kind}_subject.txt", ctx)
        subject = " ".join(subject.split())[:200]
        text = _render_text(f"notifications/email/{kind}.txt", ctx).strip() + "\n"
        try:
            html = render_to_string(f"notifications/email/{kind}.html", ctx)
        except TemplateDoesNotExist:
            html = ""
    return subject, text, html


# -- secrets: made when the mail is sent, never stored ------------------------------------------

# Translators: stands in a stored e-mail, read in the console's outbox, where the recipient's
# password link was: the link itself is made only when the mail is sent.
HIDDEN = gettext_lazy("[a one-time link, sent only to the recipient]")


@dataclass(frozen=True)
class PasswordLink:
    """A context value for a link that sets the user's password (reset, invitation). It is
    made when the mail is sent and goes only into the message handed to the mail server:
    the outbox row keeps a reference (the user's id) and shows ``HIDDEN`` in its place, so
    nobody who may read the outbox can use it to take over the account."""

    user_id: int


def _password_link(user_id: int) -> str:
    user = get_user_model()._default_manager.filter(pk=user_id).first()
    if user is None:
        return HIDDEN
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    token = default_token_generator.make_token(user)
    return site_url() + reverse("password_reset_confirm", kwargs={"uidb64": uid, "token": token})


def _has_secret(frozen) -> bool:
    if isinstance(frozen, dict):
        return "$password_link" in frozen or any(_has_secret(v) for v in frozen.values())
    if isinstance(frozen, list):
        return any(_has_secret(v) for v in frozen)
    return False


# -- rendering later ---------------------------------------------------------------------------
# A bulk path (the tracking poller) queues hundreds of messages in one transaction; their
# templates are rendered when they are sent, from a context frozen to JSON: model instances
# become references that are loaded again at send time.


def _freeze(value):
    if isinstance(value, PasswordLink):
        return {"$password_link": value.user_id}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _freeze(dataclasses.asdict(value))  # read back as a dict: same template syntax
    if isinstance(value, models.Model):
        return {"$model": value._meta.label, "pk": value.pk}
    if (
        isinstance(value, models.QuerySet | list | tuple)
        and value
        and all(isinstance(v, models.Model) for v in value)
    ):
        return {"$models": value[0]._meta.label, "pks": [v.pk for v in value]}
    if isinstance(value, dict):
        return {str(k): _freeze(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_freeze(v) for v in value]
    if isinstance(value, Decimal):
        return {"$decimal": str(value)}
    if isinstance(value, datetime):
        return {"$datetime": value.isoformat()}
    if isinstance(value, date):
        return {"$date": value.isoformat()}
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def _thaw(value, *, reveal: bool = False):
    """The context again; a secret is made only when ``reveal`` (for the mail server)."""
    if isinstance(value, dict):
        if "$password_link" in value:
            return _password_link(value["$password_link"]) if reveal else HIDDEN
        if "$model" in value:
            return apps.get_model(value["$model"])._default_manager.filter(pk=value["pk"]).first()
        if "$models" in value:
            found = apps.get_model(value["$models"])._default_manager.in_bulk(value["pks"])
            return [found[pk] for pk in value["pks"] if pk in found]
        if "$decimal" in value:
            return Decimal(value["$decimal"])
        if "$datetime" in value:
            return datetime.fromisoformat(value["$datetime"])
        if "$date" in value:
            return date.fromisoformat(value["$date"])
        return {k: _thaw(v, reveal=reveal) for k, v in value.items()}
    if isinstance(value, list):
        return [_thaw(v, reveal=reveal) for v in value]
    return value


def notification_rendered(n: Notification) -> Notification:
    """The message with its subject and bodies (rendering it now if it was queued in bulk)."""
    if n.rendered:
        return n
    n.subject, n.body_text, n.body_html = _render(n.kind, _thaw(n.context))
    n.rendered, n.context = True, {}
    Notification.objects.filter(pk=n.pk).update(
        subject=n.subject, body_text=n.body_text, body_html=n.body_html, rendered=True, context={}
    )
    return n


def _build(msg: Message, *, render: bool = True) -> Notification:
    recipient = msg.recipient
    to_email = msg.to_email or getattr(recipient, "email", "")
    if not to_email:
        raise ValueError(f"Notification {msg.kind!r} has no address to go to.")
    context = {"recipient": recipient, **msg.context}
    secret = any(isinstance(v, PasswordLink) for v in msg.context.values())
    if secret:
        # Stored as people may read it (the link hidden); made whole only when sent.
        frozen = _freeze(context)
        subject, text, html = _render(msg.kind, _thaw(frozen))
        render = True
    elif render:
        subject, text, html = _render(msg.kind, context)
        frozen = {}
    else:
        subject, text, html = "", "", ""
        frozen = _freeze(context)
    now = timezone.now()
    return Notification(
        recipient=recipient if getattr(recipient, "pk", None) else None,
        to_email=to_email,
        from_email=msg.from_email,
        reply_to=msg.reply_to,
        kind=msg.kind,
        subject=subject,
        body_text=text,
        body_html=html,
        dedup_key=msg.dedup_key[:200],
        context=frozen,
        rendered=render,
        created_at=now,
        # The after-commit task normally sends at once; the periodic job takes over only
        # when it has not happened by then.
        next_attempt_at=now + scaled_delta(settings.OUTBOX_RETRY_AFTER_SECONDS),
    )


def notify(
    *,
    kind: str,
    dedup_key: str,
    context: dict | None = None,
    recipient=None,
    to_email: str = "",
    from_email: str = "",
    reply_to: str = "",
) -> Notification:
    """Queue one e-mail. The same ``dedup_key`` queues (and sends) it once only: a second
    call returns the first row and schedules nothing."""
    msg = Message(kind, dedup_key, context or {}, recipient, to_email, from_email, reply_to)
    return notify_many([msg], render=True)[0]


def notify_many(messages: list[Message], *, render: bool = False) -> list[Notification]:
    """Queue many e-mails with one INSERT and one lookup; sending is one task after commit.
    They are rendered when sent (``render=True`` renders them now).

    Rows whose dedup key exists already are left as they are (and not sent again)."""
    if not messages:
        return []
    rows = [_build(m, render=render) for m in messages]
    keys = [r.dedup_key for r in rows]
    existing = set(
        Notification.objects.filter(dedup_key__in=keys).values_list("dedup_key", flat=True)
    )
    Notification.objects.bulk_create(
        [r for r in rows if r.dedup_key not in existing], ignore_conflicts=True
    )
    saved = Notification.objects.filter(dedup_key__in=keys)
    if not render:  # the bulk paths need only the ids: do not read back the bodies
        saved = saved.only("pk", "dedup_key", "kind", "to_email", "rendered")
    saved = {n.dedup_key: n for n in saved}
    new_ids = [saved[k].pk for k in keys if k not in existing and k in saved]
    if new_ids:
        transaction.on_commit(lambda: _enqueue_send(new_ids))
    return [saved[k] for k in keys if k in saved]


def _enqueue_send(ids: list[int]) -> None:
    # By name: the tasks module imports this one.
    enqueue_named("notifications.tasks.send_notifications", ids)


def _claim(notification_id: int, *, due_only: bool) -> bool:
    """Take the row for sending; only one sender can hold it (``core.jobs.claim``).

    The after-commit send claims at once; the periodic job (``due_only``) waits for the
    row's next attempt time, so it never races the task that was just scheduled."""
    rows = Notification.objects.filter(pk=notification_id, status=Notification.Status.PENDING)
    token = claim(
        rows, hold_seconds=claim_seconds(), due_field="next_attempt_at" if due_only else None
    )
    return token is not None


def notifications_resend(*, actor, notification_ids) -> int:
    """Put mail that failed for good (the mail server was down for a day) back in the
    outbox, with a fresh count of attempts; it goes out after commit. Returns how many."""
    ids = list(
        Notification.objects.visible_to(actor)
        .filter(pk__in=list(notification_ids), status=Notification.Status.FAILED)
        .values_list("pk", flat=True)
    )
    if not ids:
        return 0
    with transaction.atomic():
        count = Notification.objects.filter(pk__in=ids, status=Notification.Status.FAILED).update(
            status=Notification.Status.PENDING,
            attempts=0,
            next_attempt_at=timezone.now(),
            claimed_until=None,
        )
        transaction.on_commit(lambda: _enqueue_send(ids))
    return count


# 1 min, 2, 4, 8 ... capped at 1 hour; given up after OUTBOX_MAX_ATTEMPTS (about a day).
OUTBOX_RETRY = Retry(base=60, cap=3600)


def backoff_seconds(attempts: int) -> int:
    return OUTBOX_RETRY.delay(attempts)


def _message_id(n: Notification) -> str:
    # Stable per dedup key: if a crash after the SMTP hand-off makes us send again, the
    # receiving side sees the same Message-ID and can drop the copy.
    digest = hashlib.sha256(n.dedup_key.encode()).hexdigest()[:40]
    return f"<{digest}@velory.example>"


def notification_send(notification_id: int, *, wait_for_due: bool = False) -> str:
    """Send one queued e-mail. Returns "sent", "skipped" (already sent, failed for good, or
    held by another sender) or "error" (kept pending with its error for a later attempt)."""
    if not _claim(notification_id, due_only=wait_for_due):
        return "skipped"
    n = notification_rendered(Notification.objects.get(pk=notification_id))
    subject, body_text, body_html = n.subject, n.body_text, n.body_html
    if _has_secret(n.context):  # the link is made now, for this message only
        subject, body_text, body_html = _render(n.kind, _thaw(n.context, reveal=True))
    email = EmailMultiAlternatives(
        subject=subject,
        body=body_text,
        from_email=n.from_email or settings.DEFAULT_FROM_EMAIL,
        to=[n.to_email],
        reply_to=[n.reply_to] if n.reply_to else None,
        headers={"Message-ID": _message_id(n), "X-Velory-Kind": n.kind},
    )
    if body_html:
        email.attach_alternative(body_html, "text/html")
    try:
        email.send(fail_silently=False)
    except Exception as exc:  # any transport error: keep the row, try again later
        failed_for_good = OUTBOX_RETRY.gives_up(n.attempts, settings.OUTBOX_MAX_ATTEMPTS)
        Notification.objects.filter(pk=n.pk).update(
            status=Notification.Status.FAILED if failed_for_good else Notification.Status.PENDING,
            last_error=f"{type(exc).__name__}: {exc}"[:2000],
            claimed_until=None,
            next_attempt_at=OUTBOX_RETRY.next_at(n.attempts),
        )
        logger.warning(
            "outbox send failed id=%s kind=%s attempts=%s error=%s",
            n.pk,
            n.kind,
            n.attempts,
            type(exc).__name__,
        )
        return "error"
    _record_sent(n.pk)
    return "sent"


def _write_sent(pk: int) -> None:
    Notification.objects.filter(pk=pk).update(
        status=Notification.Status.SENT, sent_at=timezone.now(), claimed_until=None, last_error=""
    )


def _record_sent(pk: int) -> None:
    """Record that the mail server took the message, trying again in place (on a fresh
    connection) when the database connection drops: otherwise the row would be sent again
    once its claim ran out."""
    for attempt in range(1, SENT_WRITE_ATTEMPTS + 1):
        try:
            _write_sent(pk)
            return
        except (OperationalError, InterfaceError):
            if attempt == SENT_WRITE_ATTEMPTS:
                raise
            logger.warning("outbox: recording mail %s as sent failed; trying again", pk)
            connection.close()  # the next statement opens a fresh one
            time.sleep(0.2 * attempt)


def notifications_send_pending(
    limit: int = PENDING_BATCH_SIZE, seconds: float = PENDING_RUN_SECONDS
) -> dict[str, int]:
    """Send rows still pending after their next attempt time (the periodic job), batch
    after batch while there are some and time allows."""
    counts = {"sent": 0, "skipped": 0, "error": 0}
    ends = time.monotonic() + seconds
    tried: set[int] = set()
    while time.monotonic() < ends:
        due = Notification.objects.due().exclude(pk__in=tried).order_by("next_attempt_at")
        ids = list(due.values_list("pk", flat=True)[:limit])
        if not ids:
            break
        for pk in ids:
            tried.add(pk)
            counts[notification_send(pk, wait_for_due=True)] += 1
            if time.monotonic() >= ends:
                break
    return counts
