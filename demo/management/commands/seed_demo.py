from django.core.management.base import BaseCommand

from demo.data import DEMO_PASSWORD, seed_demo


class Command(BaseCommand):
    help = "Load the demo companies, partners, people and hardware (safe to run again)."

    def handle(self, *args, **options):
        report = seed_demo()
        if report.created:
            self.stdout.write(f"Demo data: created {len(report.created)} items.")
        else:
            self.stdout.write("Demo data: already in place, nothing changed.")
        self.stdout.write(
            f"Sign in at /accounts/login/ as anna@acme.example (or any demo user) with "
            f"password {DEMO_PASSWORD!r}."
        )
