"""Mail queued before links were made at send time kept the password link in its body,
readable by whoever may read the outbox: hide it (the recipient has the mail already, and a
new link can be asked for at any time)."""

import re

from django.db import migrations

HIDDEN = "[a one-time link, sent only to the recipient]"
LINK = re.compile(r"""[^\s"'<>]*/accounts/reset/[^\s"'<>]+""")


def hide(apps, schema_editor):
    Notification = apps.get_model("notifications", "Notification")
    rows = Notification.objects.filter(body_text__contains="/accounts/reset/") | (
        Notification.objects.filter(body_html__contains="/accounts/reset/")
    )
    for row in rows.iterator():
        row.body_text = LINK.sub(HIDDEN, row.body_text)
        row.body_html = LINK.sub(HIDDEN, row.body_html)
        row.save(update_fields=["body_text", "body_html"])


class Migration(migrations.Migration):
    dependencies = [("notifications", "0002_render_later")]

    operations = [migrations.RunPython(hide, migrations.RunPython.noop)]
