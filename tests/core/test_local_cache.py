"""The per-process cache in front of Redis for versioned keys (core.cache.LocalCache)."""

import time

import pytest

from core.cache import LocalCache


def test_it_keeps_the_newest_entries_up_to_its_size():
    local = LocalCache(size=2, seconds=60)
    local.set("a", 1)
    local.set("b", 2)
    assert local.get("a") == 1  # a is now the most recent
    local.set("c", 3)
    assert local.get("b") is None and local.get("a") == 1 and local.get("c") == 3


def test_an_entry_ages_out_like_the_shared_one():
    local = LocalCache(size=10, seconds=0.05)
    local.set("a", "html")
    assert local.get("a") == "html"
    time.sleep(0.06)
    assert local.get("a") is None


@pytest.mark.django_db
def test_a_new_version_is_a_new_key(acme, login):
    """Your Details after a change: the profile version in the key moves on, so the
    process's copy of the old sections is never served."""
    from tests.helpers import place_order

    client = login(acme.employee)
    assert "ThinkPad T14" not in client.get("/me/").content.decode()
    place_order(acme)  # a new device bumps the profile version
    assert "ThinkPad T14" in client.get("/me/").content.decode()
