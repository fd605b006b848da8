"""The audit trail, status-change events, and no secret anywhere (shared/service/audit.py).

On real parts (tests/support/world.py): SQLite and a local keyring in a temporary directory, the
provider stand-ins over HTTP, a recording queue.
"""

from __future__ import annotations

import sqlite3
import sqlite3
from tests.support.world import busy_history, ORG, World


def test_status_changes_are_appended_to_the_local_events_log(world: World) -> None:
    key = world.key("openai")
    world.setup("openai", key)
    world.deliver_last()
    world.service.integrations.delete(world.actor, "openai")
    lines = world.status_events()
    assert [(e["from"], e["to"]) for e in lines] == [
        ("not_configured", "pending"),
        ("pending", "validating"),
        ("validating", "active"),
        ("active", "not_configured"),
    ]
    for event in lines:
        assert set(event) == {"org", "provider", "from", "to", "message", "at"}
        assert event["org"] == ORG and event["provider"] == "openai"
    assert key not in (world.data_dir / "status-events.jsonl").read_text()


def test_status_change_message_is_recorded(world: World) -> None:
    world.setup("openai", world.key("openai", "invalid"), wait=True)
    last = world.status_events()[-1]
    assert (last["to"], last["message"]) == ("error", "API key invalid or expired")


def test_no_plaintext_key_on_disk_after_a_full_history(world: World) -> None:
    busy_history(world)
    world.service.setups.rotate(world.actor, "openai", {"credential": world.key("openai", "invalid")}, wait=True)
    world.setup("gemini", world.key("gemini", "missing"), wait=True)
    on_disk = world.everything_on_disk()
    for key in world.keys:
        assert key.encode() not in on_disk
    db = sqlite3.connect(world.data_dir / "integrations.db")
    try:
        dumped = "\n".join(db.iterdump())
    finally:
        db.close()
    for key in world.keys:
        assert key not in dumped
