"""Hole 2: a link that sets someone's password is never stored where anyone can read it.

Before the fix the outbox kept the reset and invitation links in the mail's body, which
company admins (and partner staff, for their colleagues) may read in the admin: an admin
asked for a colleague's reset, read the link and signed in as them."""

import importlib

import pytest
from django.contrib.auth.tokens import default_token_generator
from django.core import mail as django_mail
from django.urls import reverse

from companies.services import user_invite
from notifications.models import Notification
from notifications.services import notification_send


@pytest.fixture
def links_queued(client, acme):
    client.post(reverse("password_reset"), {"email": acme.employee.email})
    user_invite(user=acme.colleague, actor=acme.admin)
    client.post(reverse("password_reset"), {"email": acme.partner_staff.email})
    return Notification.objects.filter(kind__in=["password_reset", "invite"])


def tokens(*users):
    return [default_token_generator.make_token(u) for u in users]


def test_no_admin_of_any_role_finds_a_working_link_in_the_outbox(
    links_queued, acme, superuser, login
):
    assert links_queued.count() == 3
    secrets = tokens(acme.employee, acme.colleague, acme.partner_staff)
    for who in (acme.admin, acme.partner_staff, superuser):
        client = login(who)
        pages = ["/admin/notifications/notification/"]
        for row in links_queued:
            base = f"/admin/notifications/notification/{row.pk}"
            pages += [f"{base}/change/", f"{base}/history/"]
        for page in pages:
            content = client.get(page).content.decode()
            assert "/accounts/reset/" not in content, (who, page)
            assert not any(token in content for token in secrets), (who, page)


def test_the_stored_row_holds_no_link_and_the_sent_mail_a_working_one(links_queued, acme, client):
    row = links_queued.get(recipient=acme.employee)
    assert "/accounts/reset/" not in row.body_text + row.body_html + str(row.context)
    assert notification_send(row.pk) == "sent"
    link = next(w for w in django_mail.outbox[-1].body.split() if "/accounts/reset/" in w)
    form = client.get(link.split("127.0.0.1:8000", 1)[1], follow=True)
    assert form.status_code == 200 and "new_password1" in form.content.decode()


def test_a_mail_sent_again_gets_a_fresh_working_link(links_queued, acme):
    row = links_queued.get(recipient=acme.colleague)
    assert notification_send(row.pk) == "sent"
    Notification.objects.filter(pk=row.pk).update(status=Notification.Status.PENDING)
    assert notification_send(row.pk) == "sent"
    assert "/accounts/reset/" in django_mail.outbox[-1].body


def test_links_stored_by_the_previous_version_are_hidden_by_the_migration(acme):
    from django.apps import apps

    row = Notification.objects.create(
        to_email=acme.employee.email,
        kind="password_reset",
        subject="Reset",
        body_text="Go to http://127.0.0.1:8000/accounts/reset/MQ/abc-123def/ now",
        body_html='<a href="http://127.0.0.1:8000/accounts/reset/MQ/abc-123def/">here</a>',
        dedup_key="old",
    )
    migration = importlib.import_module("notifications.migrations.0003_hide_stored_links")
    migration.hide(apps, None)
    row.refresh_from_db()
    assert "/accounts/reset/" not in row.body_text + row.body_html
    assert migration.HIDDEN in row.body_text
