#!/usr/bin/env python
"""Django's command-line utility for administrative tasks."""

import os
import sys


def main():
    if not os.environ.get("DJANGO_SETTINGS_MODULE"):
        # No silent fallback to the development settings (DEBUG on, a known key): the
        # Makefile sets velory.settings.local; production sets velory.settings.production.
        sys.exit(
            "Set DJANGO_SETTINGS_MODULE: velory.settings.local to develop (make does), "
            "velory.settings.production to serve."
        )
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
