"""The project's own contracts: compose file, pins, lock files."""

import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def test_compose_runs_the_whole_stack_with_health_checks():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"web", "worker", "beat", "db", "redis"} <= set(services)
    for name in ("web", "worker", "db", "redis"):
        assert "healthcheck" in services[name], name
    assert "gunicorn" in services["web"]["command"]
    assert services["web"]["environment"]["DATABASE_URL"].startswith("postgres://")
    assert services["worker"]["environment"]["REDIS_URL"].startswith("redis://")


def test_dependencies_are_pinned_exactly_and_locks_have_no_urls():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    deps = project["dependencies"] + project["optional-dependencies"]["dev"]
    assert all("==" in d for d in deps), [d for d in deps if "==" not in d]
    assert not any(d.lower().startswith("django-fsm==") for d in deps)
    for lock in ("requirements.lock", "requirements-dev.lock"):
        lines = [ln for ln in (ROOT / lock).read_text().splitlines() if ln and ln[0] != "#"]
        assert all("==" in ln and "://" not in ln and " @ " not in ln for ln in lines), lock
        names = {ln.split("==")[0].lower() for ln in lines}
        assert "django-fsm-2" in names and "django-fsm" not in names
