"""The demo's identity provider (``demo/idp``: django-oauth-toolkit with OpenID Connect) as
a real provider for the tests: its own process, on a free port of 127.0.0.1, with its own
SQLite file and signing key in a temporary folder, and the people and applications the
tests name. Nothing is mocked: Velory talks to it over HTTP (discovery, keys, the token
endpoint), and a test plays the person's browser at its pages with httpx."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx

from demo.idp import config as idp_config

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = idp_config.PASSWORD
START_SECONDS = 60


class LocalIdP:
    def __init__(self, folder: Path, port: int, conf: dict):
        self.folder, self.port, self.conf = folder, port, conf
        self.url = f"http://127.0.0.1:{port}"
        self.issuer = f"{self.url}/o"
        self.process = None
        self.config_path = folder / "idp-config.json"

    def _env(self) -> dict:
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("DJANGO_", "PYTEST_", "DATABASE_"))
        }
        env.update(
            VELORY_IDP_PORT=str(self.port),
            VELORY_IDP_URL=self.url,
            VELORY_IDP_VAR=str(self.folder),
            VELORY_IDP_CONFIG=str(self.config_path),
            VELORY_IDP_FAST_HASHES="1",
        )
        return env

    def _write(self) -> None:
        self.config_path.write_text(json.dumps(self.conf))

    def start(self) -> LocalIdP:
        self._write()
        log = (self.folder / "idp.log").open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "demo.idp"],
            cwd=ROOT,
            env=self._env(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the identity provider exited: {self.log()}")
            try:
                if httpx.get(f"{self.issuer}/.well-known/openid-configuration").is_success:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"the identity provider did not start: {self.log()}")

    def log(self) -> str:
        path = self.folder / "idp.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    def reseed(self, conf: dict) -> None:
        """What an admin of the provider does: change people (an address), while it runs."""
        self.conf = conf
        self._write()
        subprocess.run(
            [sys.executable, "-m", "demo.idp", "seed"],
            cwd=ROOT,
            env=self._env(),
            check=True,
            capture_output=True,
        )

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()


class Browser:
    """The person's browser at the provider: its own cookies, redirects followed by hand
    so a test sees where the provider sends it."""

    def __init__(self):
        self.http = httpx.Client(follow_redirects=False, timeout=10)

    def close(self):
        self.http.close()

    def sign_in(self, authorize_url: str, email: str, password: str = PASSWORD) -> str:
        """Open the authorization URL, sign in on the provider's page when it asks, and
        return where the provider sends the browser back (Velory's callback URL)."""
        response = self.http.get(authorize_url)
        if response.status_code == 302 and "/login/" in response.headers["location"]:
            login_url = urljoin(authorize_url, response.headers["location"])
            page = self.http.get(login_url)
            assert page.status_code == 200, page.text
            next_url = parse_qs(urlsplit(login_url).query)["next"][0]
            response = self.http.post(
                login_url,
                data={
                    "username": email,
                    "password": password,
                    "next": next_url,
                    "csrfmiddlewaretoken": self.http.cookies["velory_idp_csrftoken"],
                },
            )
            assert response.status_code == 302, f"IdP sign-in refused: {response.text[:300]}"
            response = self.http.get(urljoin(authorize_url, response.headers["location"]))
        assert response.status_code == 302, response.text[:500]
        return response.headers["location"]

    def follow(self, url: str) -> httpx.Response:
        return self.http.get(url)


def path_of(url: str) -> str:
    """An absolute URL of Velory's test server as the test client takes it."""
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")
