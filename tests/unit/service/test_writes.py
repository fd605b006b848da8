"""One unit of work per change: all of it or none, whatever fails (shared/service/writes.py).

On real parts (tests/support/world.py): SQLite and a local keyring in a temporary directory, the
provider stand-ins over HTTP, a recording queue.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any
import pytest
from shared.adapters.sqlite_store import SqliteStore
from shared.domain.errors import (
    StoreError,
)
import sqlite3
from typing import Any
import pytest
from shared.adapters.sqlite_store import SqliteStore
from shared.domain.errors import (
    StoreError,
)
from tests.support.faults import FaultyStore
from tests.support.world import ORG, World


def test_store_failure_writing_a_new_integration_leaves_no_orphan_credential(make_world, tmp_path: Path) -> None:
    store = FaultyStore(SqliteStore(tmp_path / "flaky" / "integrations.db"))
    world = make_world(store=store)
    store.fail("commit")
    with pytest.raises(StoreError):
        world.setup("openai", world.key("openai"))
    assert world.stored() is None and world.credential_rows() == []


def test_store_failure_replacing_a_credential_leaves_the_old_one_intact(make_world, tmp_path: Path) -> None:
    store = FaultyStore(SqliteStore(tmp_path / "flaky" / "integrations.db"))
    world = make_world(store=store)
    old = world.active("openai")
    before, rows = world.stored(), world.credential_rows()
    store.fail("commit")
    with pytest.raises(StoreError):
        world.setup("openai", world.key("openai"))
    store.fail("commit")
    with pytest.raises(StoreError):
        world.service.setups.rotate(world.actor, "openai", {"credential": world.key("openai")})
    assert world.stored() == before and world.credential_rows() == rows
    assert world.service.pipelines.decrypt_for_pipeline(ORG, "openai", "test").value == old


class SetupWhenDeleted:
    """A store that runs `then()` the instant the integration row is gone, before the delete
    returns: the window in which a concurrent setup stores its new credential."""

    def __init__(self, inner: SqliteStore) -> None:
        self.inner = inner
        self.then: Any = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def _fire(self) -> None:
        then, self.then = self.then, None
        if then:
            then()

    def delete_integration(self, *args: Any) -> None:  # the old delete's first step
        self.inner.delete_integration(*args)
        self._fire()

    def commit(self, write: Any) -> Any:
        saved = self.inner.commit(write)
        if write.integration is None:
            self._fire()
        return saved


def test_delete_racing_a_setup_never_destroys_the_new_credential(make_world, tmp_path) -> None:
    store = SetupWhenDeleted(SqliteStore(tmp_path / "race" / "integrations.db"))
    world: World = make_world(store=store)
    world.active("openai")
    new_key = world.key("openai")
    store.then = lambda: world.setup("openai", new_key, wait=True)
    world.service.integrations.delete(world.actor, "openai")

    view = world.get()
    assert view["status"] == "active" and view["credential"]["version"] == 1
    assert world.service.pipelines.decrypt_for_pipeline(ORG, "openai", "costs").value == new_key
    assert {r.credential_id for r in world.credential_rows()} == {world.stored().credential.credential_id}
    assert world.setup("openai", new_key)["status"] == "active", "the same key again is a no-op, not a 404"


def test_full_disk_saves_neither_the_change_nor_its_event(make_world) -> None:
    world: World = make_world()
    world.active("openai")
    world.service.integrations.edit(world.actor, "openai", {"name": "Name one"})
    before, events = world.stored(), world.events()
    conn = world.service.store._connect()  # this thread's connection: the one the edit below uses
    (pages,) = conn.execute("PRAGMA page_count").fetchone()
    conn.execute(f"PRAGMA max_page_count = {pages}")  # SQLite's own "database or disk is full"
    try:
        with pytest.raises(sqlite3.OperationalError, match="full"):
            for i in range(10_000):  # other orgs' events fill the disk up to the last byte
                conn.execute(
                    "INSERT INTO audit_events (event_id, org_slug, provider, at, action, actor, outcome)"
                    " VALUES (?, 'other_org', 'x', '2026-01-01', 'edit', 'k', 'ok')",
                    (f"filler{i:08d}",),
                )
        with pytest.raises(StoreError):  # the same length: the change itself still fits, its event does not
            world.service.integrations.edit(world.actor, "openai", {"name": "Name two"})
    finally:
        conn.execute("PRAGMA max_page_count = 1073741823")
    assert world.stored() == before, "the change was saved although the request failed"
    assert world.events() == events


def test_a_failed_commit_leaves_no_event_behind(make_world, tmp_path) -> None:
    store = FaultyStore(SqliteStore(tmp_path / "faulty" / "integrations.db"))
    world: World = make_world(store=store)
    world.active("openai")
    events = world.events()
    for action in (
        lambda: world.service.integrations.disable(world.actor, "openai"),
        lambda: world.service.integrations.delete(world.actor, "openai"),
        lambda: world.service.integrations.edit(world.actor, "openai", {"name": "Renamed"}),
    ):
        store.fail("commit")
        with pytest.raises(StoreError):
            action()
        assert world.events() == events and world.get()["status"] == "active"
