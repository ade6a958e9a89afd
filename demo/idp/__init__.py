"""The demo's identity provider: a small Django project of its own (django-oauth-toolkit
with OpenID Connect), so that Acme's single sign-on can be tried on one machine with only
Python. ``make run`` starts it on http://127.0.0.1:8767 (Procfile ``idp``); the tests start
it on a free port with people and applications of their own.

    python -m demo.idp          migrate its own SQLite file, seed, serve
    python -m demo.idp seed     seed only (people and applications, idempotent)

Nothing of Velory is imported here, and Velory imports only ``demo.idp.config``."""
