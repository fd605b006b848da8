"""The use cases under attack and failure (the hardening review): races, a full disk, lost
validation messages, rate-limit bypasses, hostile input. Each test failed on the code the
review found; the World (tests/support/world.py) is the one the other use-case tests use.
"""

from __future__ import annotations

import base64
import logging
import sqlite3
from datetime import timedelta
from typing import Any

import pytest

from shared.adapters.sqlite_store import SqliteStore
from shared.domain.errors import (
    BadRequestError,
    DecryptionError,
    ProviderUnavailableError,
    RateLimitedError,
    StoreError,
    UnknownProviderError,
)
from shared.pipelines import get_credential
from shared.domain.models import utcnow
from shared.ports import ValidationResult
from shared.service.revalidation import stuck_after
from tests.support.faults import FaultyStore
from tests.support.world import ORG, World

# ---------------------------------------------------------------- 7. delete racing a setup


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


# ---------------------------------------------------------------- 8. recovery after a crash


def test_recover_requeues_validations_whose_message_died(make_world) -> None:
    world: World = make_world()
    world.setup("openai", world.key("openai"))  # pending; its message "died with the process"
    rotated = world.active("anthropic")
    world.service.setups.rotate(world.actor, "anthropic", {"credential": world.key("anthropic")})
    assert rotated
    world.queue.messages.clear()

    assert world.service.revalidation.recover() == {"requeued": 0, "orphans_destroyed": 0}, "too young: could be in flight"
    world.clock.set(utcnow() + stuck_after(world.service.settings) + timedelta(seconds=1))
    assert world.service.revalidation.recover()["requeued"] == 2
    assert sorted((m.provider, m.version) for m in world.queue.messages) == [("anthropic", 2), ("openai", 1)]
    for message in list(world.queue.messages):
        world.service.messages.handle(message)
    assert world.get("openai")["status"] == "active"
    assert world.get("anthropic")["credential"]["version"] == 2 and world.get("anthropic")["rotation"] is None


def test_recover_destroys_orphan_ciphertext_only(make_world) -> None:
    world: World = make_world()
    world.active("openai")
    kept = {r.credential_id for r in world.credential_rows()}
    orphan = world.credential_rows()[0].model_copy(update={"credential_id": "f" * 32})
    world.service.store.put_credential(orphan)  # what a write that died half-way leaves
    assert world.service.revalidation.recover()["orphans_destroyed"] == 0, "young: could be a write in flight"
    assert world.service.revalidation.recover(orphan_age=timedelta(0))["orphans_destroyed"] == 1
    assert {r.credential_id for r in world.credential_rows()} == kept


# ---------------------------------------------------------------- 9. a change and its audit event


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
                conn.execute("INSERT INTO audit_events (event_id, org_slug, provider, at, action, actor, outcome)"
                             " VALUES (?, 'other_org', 'x', '2026-01-01', 'edit', 'k', 'ok')", (f"filler{i:08d}",))
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
    for action in (lambda: world.service.integrations.disable(world.actor, "openai"),
                   lambda: world.service.integrations.delete(world.actor, "openai"),
                   lambda: world.service.integrations.edit(world.actor, "openai", {"name": "Renamed"})):
        store.fail("commit")
        with pytest.raises(StoreError):
            action()
        assert world.events() == events and world.get()["status"] == "active"


# ---------------------------------------------------------------- 10. every provider call counts


def test_disable_enable_cycles_and_config_edits_count_toward_the_rate_limit(make_world) -> None:
    world: World = make_world(validation_rate_limit="3/600")
    world.active("openai")  # 1
    world.service.integrations.disable(world.actor, "openai")
    world.service.integrations.enable(world.actor, "openai")  # 2
    world.service.integrations.edit(world.actor, "openai", {"config": {"project": "proj_abc"}})  # 3
    sent = len(world.queue.messages)
    with pytest.raises(RateLimitedError):
        world.service.integrations.edit(world.actor, "openai", {"config": {"project": "proj_xyz"}})
    assert world.get()["config"] == {"project": "proj_abc"}, "a refused edit changes nothing"
    world.service.integrations.disable(world.actor, "openai")
    with pytest.raises(RateLimitedError):
        world.service.integrations.enable(world.actor, "openai")
    assert world.get()["status"] == "disabled", "a refused enable changes nothing"
    assert len(world.queue.messages) == sent, "no provider call may go out past the limit"
    world.service.integrations.edit(world.actor, "openai", {"name": "Renamed"})  # no provider call: never limited


def test_retry_after_is_when_the_oldest_attempt_leaves_the_window(make_world) -> None:
    world: World = make_world(validation_rate_limit="2/600")
    start = utcnow()
    world.clock.set(start)
    world.setup("openai", world.key("openai"))
    world.clock.set(start + timedelta(seconds=100))
    world.service.setups.validate(world.actor, "openai")
    world.clock.set(start + timedelta(seconds=250))
    with pytest.raises(RateLimitedError) as refused:
        world.service.setups.validate(world.actor, "openai")
    assert refused.value.headers == {"Retry-After": "350"}


# ---------------------------------------------------------------- 11, 12, 14. hostile input


@pytest.mark.parametrize("cursor_time", ["0001-01-01T00:00:00+00:00", "9999-12-31T23:59:59+00:00",
                                         "2026-01-01T00:00:00"])
def test_cursors_outside_any_event_time_are_bad_requests(world: World, cursor_time: str) -> None:
    cursor = base64.urlsafe_b64encode(f"{cursor_time}|x".encode()).decode().rstrip("=")
    with pytest.raises(BadRequestError, match="cursor"):
        world.service.integrations.events(world.actor, "openai", 10, cursor)


def test_a_key_file_string_with_a_lone_surrogate_is_a_bad_request(make_world) -> None:
    world: World = make_world(validation_rate_limit="1/600")
    info = world.servers.gcp_service_account("valid")
    text = '{"type": "service_account", "project_id": "\\ud800"}'
    with pytest.raises(BadRequestError, match="Unicode"):
        world.setup("gcp", text)
    assert world.setup("gcp", info)["status"] == "pending", "the refusal used no rate-limit attempt"


def test_unknown_config_fields_and_providers_are_never_repeated(world: World, caplog) -> None:
    secret = "sk-" + "s" * 48
    for body in ({"credential": world.key("openai"), "config": {secret: "x"}},
                 {"credential": world.key("openai"), secret: 1},
                 {"config": {"plan": "p", "seats": 1, "monthly_cost": 1, "currency": "USD",
                             "billing_cycle": "monthly", secret: 1}}):
        provider = "slack" if "credential" not in body else "openai"
        with pytest.raises(BadRequestError) as refused:
            world.service.setups.setup(world.actor, provider, body)
        assert secret not in refused.value.message and "Unknown field" in refused.value.message
    with caplog.at_level(logging.DEBUG), pytest.raises(UnknownProviderError) as unknown:
        world.service.integrations.get(world.actor, "deepseek-" + "z" * 20)
    assert unknown.value.message == "Unknown provider"
    assert "zzzz" not in caplog.text


@pytest.mark.parametrize("name", ["bad\x00name", "two\r\nlines", "evil\u202eeman", "zero\u200bwidth",
                                  "line\u2028sep"])
def test_names_refuse_control_and_format_characters(world: World, name: str) -> None:
    with pytest.raises(BadRequestError, match="control or format"):
        world.setup("openai", body={"credential": world.key("openai"), "name": name})
    world.active("openai")
    with pytest.raises(BadRequestError, match="control or format"):
        world.service.integrations.edit(world.actor, "openai", {"name": name})


def test_pipeline_names_with_a_trailing_newline_are_refused(service_env) -> None:
    with pytest.raises(BadRequestError):
        get_credential("acme_corp", "openai", pipeline="costs\n")


def test_a_pipeline_refused_because_decryption_failed_is_on_record(world: World) -> None:
    world.active("openai")
    row = world.credential_rows()[0]
    world.service.store.replace_ciphertext(row.model_copy(update={"ciphertext": row.ciphertext[:-1] + b"!"}),
                                           row.ciphertext)
    with pytest.raises(DecryptionError):
        world.service.pipelines.decrypt_for_pipeline(ORG, "openai", "pipeline:costs")
    refused = world.events()[0]
    assert (refused["action"], refused["actor"], refused["outcome"]) == ("decrypt", "pipeline:costs", "internal")


# ---------------------------------------------------------------- 19. one outage, one answer


def test_an_outage_is_one_answer_on_every_synchronous_path(world: World) -> None:
    down = world.key("openai", "unavailable")
    with pytest.raises(ProviderUnavailableError):
        world.setup("openai", down, wait=True)
    assert (world.get()["status"], world.get()["status_code"]) == ("error", "provider_unavailable")
    with pytest.raises(ProviderUnavailableError):
        world.service.setups.validate(world.actor, "openai")
    world.active("openai")
    with pytest.raises(ProviderUnavailableError):
        world.service.setups.rotate(world.actor, "openai", {"credential": world.key("openai", "unavailable")}, wait=True)
    view = world.get()
    assert view["status"] == "active" and view["rotation"]["status"] == "failed"
    assert view["rotation"]["message"].startswith("Provider unavailable")


def test_redeliveries_during_an_outage_change_the_status_once(make_world) -> None:
    world: World = make_world(validator_max_deliveries=5)
    world.setup("openai", world.key("openai", "unavailable"))
    for attempt in range(1, 5):
        with pytest.raises(Exception):
            world.deliver_last(attempt)
    world.deliver_last(5)
    moves = [(e["details"]["from"], e["details"]["to"]) for e in reversed(world.events())
             if e["action"] == "status_change"]
    assert moves == [("not_configured", "pending"), ("pending", "validating"), ("validating", "error")]
    published = [(e["from"], e["to"]) for e in world.status_events()]
    assert published == moves


# ---------------------------------------------------------------- 1, 4. validators, from the service's side


class Spy:
    """The real validator, counting the expensive key check; optionally exploding on validate."""

    def __init__(self, inner: Any, explode: bool = False) -> None:
        self.inner, self.explode, self.key_checks = inner, explode, 0

    def check_format(self, credential: Any, config: dict[str, Any]) -> None:
        self.inner.check_format(credential, config)

    def check_key(self, credential: Any, config: dict[str, Any]) -> None:
        self.key_checks += 1
        self.inner.check_key(credential, config)

    def validate(self, credential: Any, config: dict[str, Any]) -> ValidationResult:
        if self.explode:
            raise RecursionError("maximum recursion depth exceeded")
        return self.inner.validate(credential, config)


def _spied(make_world, explode: bool = False, **settings: Any) -> tuple[World, Spy]:
    spies: list[Spy] = []
    real: dict[str, Any] = {}

    def validators(name: str) -> Any:
        if name not in real:
            from shared.validators import get_validator

            real[name] = get_validator(name, world.service.settings)
            if name == "gcp":
                spies.append(Spy(real[name], explode))
        return spies[0] if name == "gcp" else real[name]

    world = make_world(validators=validators, **settings)
    validators("gcp")
    return world, spies[0]


def test_the_key_is_parsed_only_after_the_cheap_lifecycle_and_rate_limit_checks(make_world) -> None:
    world, spy = _spied(make_world, validation_rate_limit="1/600")
    info = world.servers.gcp_service_account("valid")
    world.setup("gcp", info)
    assert spy.key_checks == 1
    with pytest.raises(RateLimitedError):
        world.setup("gcp", world.servers.gcp_service_account("valid"))
    world.service.integrations.disable(world.actor, "gcp")
    with pytest.raises(Exception, match="disabled"):
        world.setup("gcp", world.servers.gcp_service_account("valid"))
    assert spy.key_checks == 1, "a refused request never paid for parsing the key"


def test_a_validator_that_raises_still_ends_in_a_verdict(make_world) -> None:
    world, _ = _spied(make_world, explode=True)
    world.setup("gcp", world.servers.gcp_service_account("valid"))
    assert world.deliver_last(world.service.settings.validator_max_deliveries).startswith("validated")
    view = world.get("gcp")
    assert (view["status"], view["status_code"]) == ("error", "provider_unavailable")
