"""The daily revalidation and crash recovery (shared/service/revalidation.py).

On real parts (tests/support/world.py): SQLite and a local keyring in a temporary directory, the
provider stand-ins over HTTP, a recording queue.
"""

from __future__ import annotations

from shared.domain.models import ValidationMessage
from datetime import timedelta
from shared.domain.models import utcnow
from shared.service.revalidation import stuck_after
from tests.support.world import SAAS_CONFIG, World, assert_catalogue


def test_revalidate_all(world: World) -> None:
    revoked = world.active("openai")
    flaky = world.active("anthropic")
    fine = world.active("gemini")
    world.setup("slack", body={"config": SAAS_CONFIG})
    world.setup("deepseek", world.key("deepseek"))  # pending: not revalidated
    world.scenario("openai", revoked, "invalid")
    world.scenario("anthropic", flaky, "unavailable")
    summary = world.service.revalidation.revalidate_all()
    assert summary.startswith("revalidated 3")
    assert world.get("openai")["status"] == "expired"
    anthropic = world.get("anthropic")
    assert anthropic["status"] == "active"
    assert_catalogue(anthropic["status_message"], "Provider unavailable")
    assert world.get("gemini")["status"] == "active" and world.get("gemini")["status_message"] is None
    assert world.get("deepseek")["status"] == "pending" and world.get("slack")["status"] == "active"
    assert fine not in summary
    assert any(e["action"] == "revalidate" for e in world.events("openai"))
    assert world.service.messages.handle(ValidationMessage(kind="revalidate")).startswith("revalidated 2")


def test_recover_requeues_validations_whose_message_died(make_world) -> None:
    world: World = make_world()
    world.setup("openai", world.key("openai"))  # pending; its message "died with the process"
    rotated = world.active("anthropic")
    world.service.setups.rotate(world.actor, "anthropic", {"credential": world.key("anthropic")})
    assert rotated
    world.queue.messages.clear()

    assert world.service.revalidation.recover() == {"requeued": 0, "orphans_destroyed": 0}, (
        "too young: could be in flight"
    )
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
