"""``manage.py rotate_api_keys``: after putting a new key first in FIELD_ENCRYPTION_KEY,
re-encrypt every stored API key with it; the old key can then be dropped."""

from django.core.management.base import BaseCommand

from partners.services import connections_rotate_keys


class Command(BaseCommand):
    help = "Re-encrypt the partners' stored API keys with the first FIELD_ENCRYPTION_KEY."

    def handle(self, *args, **options):
        rotated, unreadable = connections_rotate_keys()
        self.stdout.write(f"Re-encrypted {rotated} API key(s).")
        if unreadable:
            self.stderr.write(
                f"{unreadable} key(s) could not be read with any configured key: enter them "
                "again in the admin."
            )
