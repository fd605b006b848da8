"""How often a use case goes to the store (on BigQuery each call is a job of 0.5-2 s): one read,
then one unit of work per change, the rate limit counted with the change. (Refused from the
read before the key check: test_setups.py.) On real parts (tests/support/world.py), counted."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any

import pytest

from shared.domain.errors import RateLimitedError
from tests.support.faults import FaultyStore
from tests.support.world import ORG, World


class CountingStore(FaultyStore):
    """The world's store, every call counted (FaultyStore counts; nothing is armed here)."""

    def taken(self) -> Counter[str]:
        calls, self.calls = Counter(self.calls), {}
        return calls


@pytest.fixture
def counted(make_world, tmp_path) -> tuple[World, CountingStore]:
    from shared.adapters.sqlite_store import SqliteStore

    store = CountingStore(SqliteStore(tmp_path / "counted.db"))
    world = make_world(store=store)
    world.setup("anthropic", world.key("anthropic"))  # the local keyring's one-time look at the store
    store.taken()
    return world, store


def test_a_setup_reads_once_and_commits_once_attempt_included(counted) -> None:
    world, store = counted
    world.setup("openai", world.key())
    assert store.taken() == Counter({"read": 1, "commit": 1})

    world.setup("openai", world.key())  # replacing: the old ciphertext goes with the same commit
    assert store.taken() == Counter({"read": 1, "commit": 1})


def test_a_validator_message_reads_once_and_commits_the_mark_and_the_verdict(counted) -> None:
    world, store = counted
    world.setup("openai", world.key())
    store.taken()
    assert world.deliver_last() == "validated current: valid"
    assert store.taken() == Counter({"read": 1, "commit": 2})


def test_validate_counts_alone_only_when_nothing_changes_before_the_call(counted) -> None:
    world, store = counted
    world.setup("openai", world.key())
    store.taken()
    world.service.setups.validate(world.actor, "openai")  # pending: the mark carries the attempt
    assert store.taken() == Counter({"read": 1, "commit": 2})
    world.service.setups.validate(world.actor, "openai")  # active: the attempt alone, then the verdict
    assert store.taken() == Counter({"read": 1, "try_record_attempt": 1, "commit": 1})


@pytest.mark.parametrize("action", ["rotate", "enable", "edit", "disable", "delete"])
def test_every_other_change_is_one_read_and_one_commit(counted, action: str) -> None:
    world, store = counted
    world.active("openai")
    if action == "enable":
        world.service.integrations.disable(world.actor, "openai")
    store.taken()
    calls: dict[str, Any] = {
        "rotate": lambda: world.service.setups.rotate(world.actor, "openai", {"credential": world.key()}),
        "enable": lambda: world.service.integrations.enable(world.actor, "openai"),
        "edit": lambda: world.service.integrations.edit(world.actor, "openai", {"name": "Renamed"}),
        "disable": lambda: world.service.integrations.disable(world.actor, "openai"),
        "delete": lambda: world.service.integrations.delete(world.actor, "openai"),
    }
    calls[action]()
    taken = store.taken()
    assert taken["commit"] == 1 and taken["read"] + taken["get_integration"] == 1, taken
    assert "try_record_attempt" not in taken


def test_a_pipeline_s_credential_is_one_read_and_its_audit_event(counted) -> None:
    world, store = counted
    world.active("openai")
    store.taken()
    assert world.service.pipelines.get_credential(world.actor.org, "openai", "costs-daily").value
    assert store.taken() == Counter({"read": 1, "append_event": 1})


def test_a_window_filled_between_the_read_and_the_commit_refuses_the_whole_change(make_world) -> None:
    world = make_world(validation_rate_limit="1/600")
    store = world.service.store
    real_read = store.read

    def stale_read(*args: Any, **kwargs: Any) -> Any:  # another instance counts its attempt meanwhile
        seen = real_read(*args, **kwargs)
        assert store.try_record_attempt(ORG, "openai", world.clock(), 600, 1).allowed
        return seen

    store.read = stale_read
    with pytest.raises(RateLimitedError):
        world.setup("openai", world.key())
    del store.read
    assert store.get_integration(ORG, "openai") is None and store.list_credentials(None, 10) == []
    assert store.read(ORG, "openai", attempts_since=world.clock() - timedelta(seconds=600)).attempts == 1
