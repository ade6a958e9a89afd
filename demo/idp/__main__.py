"""python -m demo.idp [seed]: migrate the provider's own database, seed it, and serve it
(on 127.0.0.1 and the port of ``config.PORT``) unless only seeding."""

import os
import sys


def main(argv: list[str]) -> None:
    # Its own settings, whatever the shell exports for Velory (make exports Velory's).
    os.environ["DJANGO_SETTINGS_MODULE"] = "demo.idp.settings"
    import django
    from django.core.management import call_command

    django.setup()
    from . import config
    from .seed import seed

    call_command("migrate", interactive=False, verbosity=0)
    seed(config.load())
    if argv[:1] == ["seed"]:
        return
    print(f"Demo identity provider: {config.ISSUER}", flush=True)
    call_command("runserver", f"127.0.0.1:{config.PORT}", use_reloader=False, skip_checks=True)


if __name__ == "__main__":
    main(sys.argv[1:])
