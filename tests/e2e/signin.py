"""Signing in as a demo user in Chromium, for every browser test."""

from demo.data import DEMO_PASSWORD


def sign_in(page, base_url: str, email: str, password: str = DEMO_PASSWORD) -> None:
    """The sign-in page asks for the address first ("Continue"), then the password."""
    page.goto(f"{base_url}/accounts/login/")
    page.get_by_label("E-mail").fill(email)
    page.get_by_role("button", name="Continue").click()
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def signed_in(browser, live_server, email: str, *, width=1280, height=900, **options):
    """A new page of a new browser context (``width`` × ``height``), signed in as ``email``."""
    context = browser.new_context(viewport={"width": width, "height": height}, **options)
    context.set_default_timeout(10_000)
    page = context.new_page()
    sign_in(page, live_server.url, email)
    return page
