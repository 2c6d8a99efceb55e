"""The per-project cache: an entry never outlives a change, committed or rolled back."""

from __future__ import annotations

import pytest

from distribution.accounts.project_cache import CACHE, GenerationCache, changed
from distribution.errors import ConflictError
from distribution.events.distributions import active_rules, set_distribution_status
from distribution.storage.db import Database
from tests.builders import distribute, publish_template
from tests.conftest import ProjectCredentials


class Loads:
    """A loader that counts its calls and returns the call number."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> int:
        self.calls += 1
        return self.calls


def test_an_entry_is_reused_until_its_scope_changes() -> None:
    cache = GenerationCache()
    load = Loads()
    assert [cache.get("p1", "k", load) for _ in range(3)] == [1, 1, 1]
    cache.bump("p2")
    assert cache.get("p1", "k", load) == 1
    cache.bump("p1")
    assert cache.get("p1", "k", load) == 2


def test_an_entry_expires_after_the_ttl_whatever_the_generation() -> None:
    # Another process's change bumps nothing here: the TTL is what bounds staleness.
    cache = GenerationCache(ttl=0.0)
    load = Loads()
    assert [cache.get("p", "k", load) for _ in range(3)] == [1, 2, 3]


def test_a_failed_load_is_not_cached() -> None:
    cache = GenerationCache()

    def fail() -> int:
        raise ConflictError("not there yet")

    with pytest.raises(ConflictError):
        cache.get("p", "k", fail)
    assert cache.get("p", "k", Loads()) == 1


def test_what_was_read_before_a_commit_is_not_used_after_it(
    database: Database, project: ProjectCredentials
) -> None:
    pid = project.project.id
    key = ("test-entry", pid)
    load = Loads()
    with database.session() as session:
        changed(session, pid)
        # Another thread reads now: it sees the old rows, whatever generation it reads.
        assert CACHE.get(pid, key, load) == 1
        assert CACHE.get(pid, key, load) == 1
    assert CACHE.get(pid, key, load) == 2  # the commit bumped again


def _pause_then_fail(database: Database, project_id: str, distribution_id: str) -> None:
    with database.session() as session:
        set_distribution_status(session, project_id, distribution_id, "paused", actor="test")
        session.flush()
        # The writer reads its own uncommitted change (and a loader may cache it)...
        assert active_rules(session, project_id) == {}
        raise RuntimeError("...then the change fails and rolls back")


def test_what_was_read_inside_a_rolled_back_change_is_dropped(
    database: Database, project: ProjectCredentials
) -> None:
    pid = project.project.id
    template = publish_template(database, pid)
    kept = distribute(database, pid, "cache.tested", [("email", template, "capture")])
    with pytest.raises(RuntimeError):
        _pause_then_fail(database, pid, kept)
    with database.reader() as session:
        assert [r.distribution.id for r in active_rules(session, pid)["cache.tested"]] == [kept]


def test_pausing_a_distribution_empties_its_trigger_at_once(
    database: Database, project: ProjectCredentials
) -> None:
    pid = project.project.id
    template = publish_template(database, pid)
    first = distribute(database, pid, "cache.tested", [("email", template, "capture")])
    second = distribute(database, pid, "cache.tested", [("email", template, "capture")])
    with database.reader() as session:
        rules = active_rules(session, pid)["cache.tested"]
        assert [r.distribution.id for r in rules] == sorted([first, second])
        assert active_rules(session, pid) is active_rules(session, pid)
    with database.session() as session:
        set_distribution_status(session, pid, first, "paused", actor="test")
    with database.reader() as session:
        assert [r.distribution.id for r in active_rules(session, pid)["cache.tested"]] == [second]
