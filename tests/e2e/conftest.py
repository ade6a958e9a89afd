import pytest


@pytest.fixture(autouse=True)
def _role_groups(transactional_db):
    """Browser tests run on committed data, and the database is flushed after each one,
    taking the role groups (made by a migration) with it: put them back."""
    from django.apps import apps

    from companies.roles import sync_role_groups

    sync_role_groups(apps)


@pytest.fixture
def axe():
    """axe-core for a browser test (tests/e2e/axe.py): ``axe.check(page, "label")`` on each
    page, then ``axe.assert_clean()`` fails on every serious or critical violation found."""
    from tests.e2e.axe import AxeAudit

    return AxeAudit()
