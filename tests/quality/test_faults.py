"""Faults, in process on real parts (SQLite file, local keyring or the Cloud KMS stand-in over
gRPC, the fake providers over HTTP), with the failing part wrapped where a fault must be forced:

- KMS failure: 502 encryption_failed and nothing stored;
- store failure at any commit of a setup or rotation (its unit of work, or the inline
  validation's): never an orphan credential, never an integration pointing at a missing one,
  the previous state intact when the commit failed;
- queue failure: pending with the documented status_message, and validate recovers it;
- provider timeout: bounded wall time, Provider unavailable;
- validator redelivery and stale messages: idempotent;
- a crash right after a commit: running again converges; an orphan ciphertext (what a store
  without multi-table transactions can leave) is collected once older than the orphan age.
"""

from __future__ import annotations

import json
import sqlite3
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterator

import pytest

from shared.adapters.local_keyring import LocalKeyring
from shared.adapters.sqlite_store import SqliteStore
from shared.domain.errors import (
    EncryptionError,
    ProviderUnavailableError,
    StoreError,
)
from shared.service.credentials import ORPHAN_AGE
from shared.service.validation import QUEUE_FAILED
from tests.support.doubles import RecordingStatusEvents
from tests.support.faults import FaultyStore
from tests.support.kms_server import KmsStandIn
from tests.support.world import INFERENCE_ONLY, build_world
from tests.support.provider_servers import (
    ProviderServers,
    gemini_key,
    openai_key,
)

ORG = "fault_org"


class Crash(BaseException):
    """The process dying mid-request (not an Exception: nothing in the service may catch it)."""


@pytest.fixture(scope="module")
def providers() -> Iterator[ProviderServers]:
    with ProviderServers() as servers:
        yield servers


class World:
    """The support World (tests/support/world.py) on a FaultyStore over SQLite, and what these
    tests read of the file itself."""

    def __init__(self, tmp_path: Path, providers: ProviderServers, cipher: Any = None, **settings: Any) -> None:
        self.tmp_path = tmp_path
        self.providers = providers
        self.store = FaultyStore(SqliteStore(tmp_path / "integrations.db"))
        world = build_world(
            providers,
            tmp_path,
            org=ORG,
            store=self.store,
            cipher=cipher or LocalKeyring(tmp_path / "keyring.json"),
            status_events=RecordingStatusEvents(),
            validation_rate_limit="1000/600",
            **settings,
        )
        world.clock.set(datetime(2026, 11, 25, 10, 0, tzinfo=timezone.utc))
        self.clock, self.queue, self.service, self.actor = world.clock, world.queue, world.service, world.actor

    def key(self, scenario: str = "valid") -> str:
        return self.providers.openai.set(openai_key(), scenario)

    def rows(self, provider: str = "openai") -> tuple[list[tuple], list[tuple]]:
        """(integration rows, credential rows) of ORG/provider, read from the file directly."""
        db = sqlite3.connect(self.tmp_path / "integrations.db")
        try:
            integrations = db.execute(
                "SELECT credential_id, credential_version, fingerprint, rotation, revision, status "
                "FROM org_integrations WHERE org_slug = ? AND provider = ?",
                (ORG, provider),
            ).fetchall()
            credentials = db.execute(
                "SELECT credential_id, version, fingerprint FROM org_credentials WHERE org_slug = ? AND provider = ?",
                (ORG, provider),
            ).fetchall()
        finally:
            db.close()
        return integrations, credentials

    def assert_consistent(self, provider: str = "openai") -> None:
        """Exactly the referenced credentials are stored, and the references match their rows."""
        integrations, credentials = self.rows(provider)
        stored = {row[0]: row for row in credentials}
        if not integrations:
            assert stored == {}, "ciphertext left without an integration"
            return
        credential_id, version, fingerprint, rotation, _, _ = integrations[0]
        referenced = {credential_id} | ({json.loads(rotation)["credential_id"]} if rotation else set())
        assert set(stored) == referenced, f"stored {sorted(stored)} != referenced {sorted(referenced)}"
        assert stored[credential_id][1:] == (version, fingerprint), "integration and credential row disagree"


# ---------------------------------------------------------------- KMS


def test_kms_failure_is_encryption_failed_and_stores_nothing(tmp_path: Path, providers: ProviderServers) -> None:
    from shared.adapters.cloudkms_cipher import CloudKmsCipher

    with KmsStandIn() as kms:
        cipher = CloudKmsCipher(kms.add_key(), endpoint=kms.endpoint, backoff_seconds=0.01)
        try:
            world = World(tmp_path, providers, cipher=cipher)
            kms.fail_next(10)
            with pytest.raises(EncryptionError) as raised:
                world.service.setups.setup(world.actor, "openai", {"credential": world.key()})
            assert (raised.value.code, raised.value.status) == ("encryption_failed", 502)
            assert world.rows() == ([], []), "nothing may be stored"

            kms.reset_faults()
            world.service.setups.setup(world.actor, "openai", {"credential": world.key()}, wait=True)
            before = world.rows()
            kms.fail_next(10)
            with pytest.raises(EncryptionError):
                world.service.setups.rotate(world.actor, "openai", {"credential": world.key()})
            assert world.rows() == before, "a failed rotation changes nothing"
            kms.reset_faults()
        finally:
            cipher.close()


# ---------------------------------------------------------------- store


def test_store_failure_in_a_first_setup_leaves_nothing(tmp_path: Path, providers: ProviderServers) -> None:
    world = World(tmp_path, providers)
    world.store.fail("commit")
    with pytest.raises(StoreError):
        world.service.setups.setup(world.actor, "openai", {"credential": world.key()})
    assert world.rows() == ([], [])


@pytest.mark.parametrize("action", ["setup", "rotate"])
@pytest.mark.parametrize("on_call", [1, 2, 3])
def test_store_failure_in_a_replacement_never_half_writes(
    tmp_path: Path, providers: ProviderServers, action: str, on_call: int
) -> None:
    """Commit 1: the new credential with the integration; 2 and 3: the inline validation's."""
    world = World(tmp_path, providers)
    world.service.setups.setup(world.actor, "openai", {"credential": world.key()}, wait=True)
    before = world.rows()
    world.store.fail("commit", on_call)
    with pytest.raises(StoreError):
        getattr(world.service.setups, action)(world.actor, "openai", {"credential": world.key()}, wait=True)
    world.assert_consistent()
    if on_call == 1:
        assert world.rows() == before, "the commit failed: the previous state stays as it was"
    # And the next request works normally.
    getattr(world.service.setups, action)(world.actor, "openai", {"credential": world.key()}, wait=True)
    world.assert_consistent()
    assert world.service.integrations.get(world.actor, "openai")["status"] == "active"


# ---------------------------------------------------------------- queue


def test_queue_failure_leaves_pending_with_a_message_and_validate_recovers(
    tmp_path: Path, providers: ProviderServers
) -> None:
    world = World(tmp_path, providers)
    world.queue.fail = 1
    view = world.service.setups.setup(world.actor, "openai", {"credential": world.key()})
    assert (view["status"], view["status_message"]) == ("pending", QUEUE_FAILED)
    assert QUEUE_FAILED == "Validation could not be queued: call validate to retry"
    assert world.service.integrations.get(world.actor, "openai")["status_message"] == QUEUE_FAILED
    assert world.queue.messages == []
    recovered = world.service.setups.validate(world.actor, "openai")
    assert (recovered["status"], recovered["status_message"]) == ("active", INFERENCE_ONLY)
    world.assert_consistent()


# ---------------------------------------------------------------- provider timeout


def test_provider_timeout_ends_in_bounded_time_with_provider_unavailable(
    tmp_path: Path, providers: ProviderServers
) -> None:
    timeout, attempts = 0.4, 2
    world = World(tmp_path, providers, provider_timeout_seconds=timeout, provider_max_attempts=attempts)
    providers.gemini.slow_seconds = 5  # far longer than the timeout
    key = providers.gemini.set(gemini_key(), "slow")
    bound = timeout * attempts + 1.5  # a bound (backoff, connection set-up), not a benchmark

    started = time.monotonic()
    with pytest.raises(ProviderUnavailableError):
        world.service.setups.setup(world.actor, "gemini", {"credential": key}, wait=True)
    assert time.monotonic() - started < bound
    view = world.service.integrations.get(world.actor, "gemini")
    assert view["status"] == "error" and view["status_message"].startswith("Provider unavailable")
    assert view["status_code"] == "provider_unavailable"

    started = time.monotonic()
    with pytest.raises(ProviderUnavailableError) as raised:
        world.service.setups.validate(world.actor, "gemini")
    assert time.monotonic() - started < bound
    assert (raised.value.status, raised.value.message) == (503, "Provider unavailable")
    providers.gemini.slow_seconds = 3.0


# ---------------------------------------------------------------- the validator


def test_validator_redelivery_is_idempotent(tmp_path: Path, providers: ProviderServers) -> None:
    world = World(tmp_path, providers)
    world.service.setups.setup(world.actor, "openai", {"credential": world.key()})
    message = world.queue.messages[-1]
    assert world.service.messages.handle(message, 1) == "validated current: valid"
    after_first = world.rows()
    events = world.service.integrations.events(world.actor, "openai", 500)["events"]
    assert world.service.messages.handle(message, 1) == "ignored: already settled"
    assert world.service.messages.handle(message, 3) == "ignored: already settled"
    assert world.rows() == after_first, "a redelivery writes nothing"
    assert world.service.integrations.events(world.actor, "openai", 500)["events"] == events

    world.service.setups.rotate(world.actor, "openai", {"credential": world.key()})
    rotation_message = world.queue.messages[-1]
    assert world.service.messages.handle(rotation_message, 1) == "validated rotation: valid"
    settled = world.rows()
    assert world.service.messages.handle(rotation_message, 2) == "ignored: already settled"
    assert world.rows() == settled
    world.assert_consistent()


def test_stale_message_for_a_superseded_version_is_ignored(tmp_path: Path, providers: ProviderServers) -> None:
    world = World(tmp_path, providers)
    world.service.setups.setup(world.actor, "openai", {"credential": world.key("valid")})
    stale = world.queue.messages[-1]
    world.service.setups.setup(world.actor, "openai", {"credential": world.key("valid")})
    current = world.queue.messages[-1]
    before = world.rows()
    assert world.service.messages.handle(stale, 1) == "ignored: superseded credential version"
    assert world.rows() == before
    assert world.service.integrations.get(world.actor, "openai")["status"] == "pending"
    assert world.service.messages.handle(current, 1) == "validated current: valid"
    assert world.service.messages.handle(stale, 2) == "ignored: superseded credential version"
    assert world.service.integrations.get(world.actor, "openai")["credential"]["version"] == 2
    world.assert_consistent()


# ---------------------------------------------------------------- crash between steps


def test_crash_right_after_a_commit_converges(tmp_path: Path, providers: ProviderServers) -> None:
    world = World(tmp_path, providers)
    world.store.fail("commit", 1, error=Crash, after=True)  # stored, then the process dies
    with pytest.raises(Crash):
        world.service.setups.setup(world.actor, "openai", {"credential": world.key()})
    world.assert_consistent()
    view = world.service.setups.setup(world.actor, "openai", {"credential": world.key()}, wait=True)
    assert view["status"] == "active" and view["credential"]["version"] == 2
    world.assert_consistent()


def test_an_orphan_is_collected_once_older_than_the_orphan_age(tmp_path: Path, providers: ProviderServers) -> None:
    world = World(tmp_path, providers)
    world.service.setups.setup(world.actor, "openai", {"credential": world.key()}, wait=True)
    stray = world.store.list_credentials(None, 10)[0].model_copy(update={"credential_id": "0" * 32})
    world.store.put_credential(stray)  # what a store without multi-table transactions can leave

    world.service.setups.setup(world.actor, "openai", {"credential": world.key()}, wait=True)
    assert stray.credential_id in {row[0] for row in world.rows()[1]}, "too young: could be a write in flight"
    world.clock.set(world.clock() + ORPHAN_AGE + timedelta(seconds=1))
    world.service.setups.setup(world.actor, "openai", {"credential": world.key()}, wait=True)
    world.assert_consistent()
