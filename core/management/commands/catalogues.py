"""The translation catalogues: ``catalogues update`` gathers the marked strings of the code and
templates into locale/<lang>/LC_MESSAGES/django.po (GNU gettext's makemessages) and compiles
them; ``catalogues check`` (in ``make lint``) fails when a marked string is missing from a
catalogue, when an entry is untranslated or fuzzy, or when a compiled .mo file is not the
compilation of its .po file.

Both need GNU gettext (Debian's ``gettext`` package); ``make run`` does not: the compiled
catalogues are committed."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from babel.messages.pofile import read_po
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from core.model_names import GENERATED, catalogue_source

IGNORED = [".venv", "var", "tests", "node_modules", "docs", "static", "locale", "*.egg-info"]


def languages() -> list[str]:
    """The catalogues' languages: every language but the source, in gettext's spelling."""
    return [code.replace("-", "_") for code, _name in settings.LANGUAGES if code != "en-gb"]


def locale_dir() -> Path:
    return Path(settings.LOCALE_PATHS[0])


def makemessages(target: Path) -> None:
    """Run makemessages for every language with the catalogues written under ``target``."""
    args = [sys.executable, "manage.py", "makemessages", "--no-obsolete", "--no-location"]
    args += [f"--locale={code}" for code in languages()]
    args += [f"--ignore={pattern}" for pattern in IGNORED]
    env = {**os.environ, "VELORY_LOCALE_DIR": str(target)}
    done = subprocess.run(  # noqa: S603  (our own manage.py, fixed arguments)
        args, cwd=settings.BASE_DIR, env=env, capture_output=True, text=True, check=False
    )
    if done.returncode:
        raise CommandError(f"makemessages failed:\n{done.stdout}{done.stderr}")


def catalogue(path: Path):
    with path.open("rb") as handle:
        return read_po(handle, abort_invalid=True)


def compiled(po: Path, out: Path) -> None:
    msgfmt = shutil.which("msgfmt") or "msgfmt"
    subprocess.run([msgfmt, "--check", "-o", str(out), str(po)], check=True)  # noqa: S603


class Command(BaseCommand):
    help = "Update (makemessages + compile) or check the translation catalogues."

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["update", "check"])

    def handle(self, *args, action, **options):
        if shutil.which("msgfmt") is None:
            raise CommandError("GNU gettext is missing: apt-get install gettext")
        if action == "update":
            GENERATED.write_text(catalogue_source())
            makemessages(locale_dir())
            for code in languages():
                po = locale_dir() / code / "LC_MESSAGES" / "django.po"
                compiled(po, po.with_suffix(".mo"))
            self.stdout.write(f"catalogues updated: {', '.join(languages())}")
            return
        problems = self.check_catalogues()
        if problems:
            raise CommandError("translation catalogues:\n  " + "\n  ".join(problems))
        self.stdout.write(f"catalogues complete and compiled: {', '.join(languages())}")

    def check_catalogues(self) -> list[str]:
        problems = []
        if not GENERATED.exists() or GENERATED.read_text() != catalogue_source():
            problems.append(f"{GENERATED.name} is stale: the models' names changed")
        with tempfile.TemporaryDirectory() as tmp:
            fresh = Path(tmp) / "locale"
            if locale_dir().exists():
                shutil.copytree(locale_dir(), fresh)
            makemessages(fresh)
            for code in languages():
                po = locale_dir() / code / "LC_MESSAGES" / "django.po"
                if not po.exists():
                    problems.append(f"{code}: no catalogue ({po})")
                    continue
                committed = catalogue(po)
                wanted = catalogue(fresh / code / "LC_MESSAGES" / "django.po")
                have = {
                    (m.context, m.id if isinstance(m.id, str) else m.id[0])
                    for m in committed
                    if m.id
                }
                for message in wanted:
                    if not message.id:
                        continue
                    key = (
                        message.context,
                        message.id if isinstance(message.id, str) else message.id[0],
                    )
                    if key not in have:
                        problems.append(f"{code}: not in the catalogue: {key[1]!r}")
                for message in committed:
                    if not message.id:
                        continue
                    strings = (
                        message.string if isinstance(message.string, tuple) else (message.string,)
                    )
                    if message.fuzzy or not all(strings):
                        problems.append(f"{code}: untranslated: {message.id!r}")
                mo = po.with_suffix(".mo")
                check = Path(tmp) / f"{code}.mo"
                compiled(po, check)
                if not mo.exists() or mo.read_bytes() != check.read_bytes():
                    problems.append(
                        f"{code}: {mo} is not the compilation of its .po (catalogues update)"
                    )
        return problems
