"""Django's database sessions, read with a statement written once per process instead of
an ORM query built on every request (core.fastread): the same rows, the same expiry, the
same writes. ``SESSION_ENGINE = "core.sessions"``."""

from django.contrib.sessions.backends.db import SessionStore as DBStore
from django.utils import timezone

from .fastread import session_data


class SessionStore(DBStore):
    def load(self):
        data = session_data(self.model, self.session_key, timezone.now())
        if data is None:
            self._session_key = None  # as Django does for a missing or expired session
            return {}
        return self.decode(data)
