"""Use cases on an integration as a whole: list, get, events, disable, enable, edit, delete (shared/service/integrations.py).

On real parts (tests/support/world.py): SQLite and a local keyring in a temporary directory, the
provider stand-ins over HTTP, a recording queue.
"""

from __future__ import annotations

import json
from typing import Any
import pytest
from shared.domain.errors import (
    BadRequestError,
    InvalidTransitionError,
    NotConfiguredError,
    UnknownProviderError,
)
import base64
import logging
from typing import Any
import pytest
from shared.domain.errors import (
    BadRequestError,
    UnknownProviderError,
)
from tests.support.world import busy_history, ORG, SAAS_CONFIG, World


def test_list_shows_every_available_provider(world: World) -> None:
    world.active("openai")
    listed = world.service.integrations.list(world.actor)
    assert listed["org"] == ORG
    by_provider = {i["provider"]: i for i in listed["integrations"]}
    assert set(by_provider) == {p.key for p in world.service.registry.available()}
    assert by_provider["openai"]["status"] == "active"
    absent = by_provider["anthropic"]
    assert absent["status"] == "not_configured" and absent["name"] == "Anthropic" and absent["credential"] is None
    llm = world.service.integrations.list(world.actor, "llm")["integrations"]
    assert {i["category"] for i in llm} == {"llm"}
    with pytest.raises(BadRequestError, match="category"):
        world.service.integrations.list(world.actor, "crypto")


def test_get_errors(world: World) -> None:
    with pytest.raises(NotConfiguredError) as caught:
        world.get("openai")
    assert caught.value.status == 404 and caught.value.message == "Integration not configured"
    with pytest.raises(UnknownProviderError):
        world.get("nope")


def test_disable_and_enable(world: World) -> None:
    world.active("openai")
    view = world.service.integrations.disable(world.actor, "openai")
    assert view["status"] == "disabled" and view["credential"]["version"] == 1
    assert len(world.credential_rows()) == 1  # the credential is kept
    with pytest.raises(InvalidTransitionError, match="status is disabled"):
        world.service.integrations.disable(world.actor, "openai")
    with pytest.raises(InvalidTransitionError, match="status is disabled"):
        world.setup("openai", world.key("openai"))
    with pytest.raises(InvalidTransitionError, match="status is disabled"):
        world.service.pipelines.decrypt_for_pipeline(ORG, "openai", "p")
    enabled = world.service.integrations.enable(world.actor, "openai")
    assert enabled["status"] == "pending" and enabled["status_message"] is None
    assert world.queue.messages[-1].version == 1
    world.deliver_last()
    with pytest.raises(InvalidTransitionError, match="status is active"):
        world.service.integrations.enable(world.actor, "openai")
    with pytest.raises(NotConfiguredError):
        world.service.integrations.enable(world.actor, "anthropic")
    with pytest.raises(NotConfiguredError):
        world.service.integrations.disable(world.actor, "anthropic")


def test_edit_name_keeps_credential_and_status(world: World) -> None:
    world.active("openai")
    before = world.get()
    view = world.service.integrations.edit(world.actor, "openai", {"name": "  OpenAI prod  "})
    assert view["name"] == "OpenAI prod" and view["status"] == "active"
    assert view["credential"] == before["credential"] and world.queue.messages == []


def test_edit_config_revalidates(world: World) -> None:
    world.active("openai")
    view = world.service.integrations.edit(world.actor, "openai", {"config": {"organization": "org-Acme1"}})
    assert view["status"] == "pending" and view["config"] == {"organization": "org-Acme1"}
    assert world.queue.messages[-1].version == 1
    assert world.deliver_last() == "validated current: valid"


def test_edit_disabled_stays_disabled(world: World) -> None:
    world.active("openai")
    world.service.integrations.disable(world.actor, "openai")
    view = world.service.integrations.edit(world.actor, "openai", {"name": "Paused", "config": {"project": "proj_abc"}})
    assert view["status"] == "disabled" and view["name"] == "Paused" and world.queue.messages == []


def test_edit_saas_config(world: World) -> None:
    world.setup("figma", body={"config": SAAS_CONFIG})
    view = world.service.integrations.edit(world.actor, "figma", {"config": {**SAAS_CONFIG, "billing_cycle": "annual"}})
    assert view["status"] == "active" and view["config"]["billing_cycle"] == "annual"


@pytest.mark.parametrize(
    "body,match",
    [
        ({"credential": "sk-x"}, "Unknown field in body: the fields are name, config"),
        ({"status": "active"}, "Unknown field in body: the fields are name, config"),
        ({"name": 5}, "'name'"),
        ({"config": {"organization": "nope"}}, "'config.organization'"),
        ([], "JSON object"),
    ],
)
def test_edit_errors(world: World, body: Any, match: str) -> None:
    with pytest.raises(NotConfiguredError):
        world.service.integrations.edit(world.actor, "openai", {"name": "x"})
    world.active("openai")
    before = world.stored()
    with pytest.raises(BadRequestError, match=match):
        world.service.integrations.edit(world.actor, "openai", body)
    assert world.stored() == before


def test_delete_destroys_the_credential(world: World) -> None:
    key = world.active("openai")
    world.service.setups.rotate(world.actor, "openai", {"credential": world.key("openai", "invalid")}, wait=True)
    assert len(world.credential_rows()) == 2
    assert world.service.integrations.delete(world.actor, "openai") is None
    assert world.credential_rows() == [] and world.stored() is None
    with pytest.raises(NotConfiguredError):
        world.get()
    with pytest.raises(NotConfiguredError):
        world.service.integrations.delete(world.actor, "openai")
    assert key.encode() not in world.everything_on_disk()
    # Set up again from scratch: version 1.
    assert world.setup("openai", world.key("openai"))["credential"]["version"] == 1


def test_events_newest_first_with_pagination(world: World) -> None:
    key = busy_history(world)
    everything = world.service.integrations.events(world.actor, "openai", limit=500)
    assert everything["next_cursor"] is None
    events = everything["events"]
    assert len(events) >= 8
    assert events[-1]["action"] in ("setup", "status_change")
    assert [e["at"] for e in events] == sorted((e["at"] for e in events), reverse=True)
    assert {"setup", "validate", "disable", "enable", "edit", "status_change"} <= {e["action"] for e in events}
    assert all(e["actor"] in (world.actor.key_id, "system") for e in events)
    paged, cursor = [], None
    while True:
        page = world.service.integrations.events(world.actor, "openai", limit="3", cursor=cursor)
        assert len(page["events"]) <= 3
        paged += page["events"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert paged == events
    assert len(world.service.integrations.events(world.actor, "openai")["events"]) == len(events)  # default 50
    assert key not in json.dumps(events)


def test_events_in_the_same_millisecond_are_still_newest_first(make_world) -> None:
    from datetime import datetime, timezone

    frozen = datetime(2026, 11, 25, 10, 0, 0, tzinfo=timezone.utc)
    world = make_world()
    world.clock.set(frozen)  # every event of this history shares one millisecond
    world.setup("slack", body={"config": SAAS_CONFIG})
    world.service.integrations.disable(world.actor, "slack")
    world.service.integrations.enable(world.actor, "slack")
    world.service.integrations.edit(world.actor, "slack", {"name": "renamed"})
    world.service.integrations.edit(world.actor, "slack", {"config": {**SAAS_CONFIG, "seats": 1}})
    world.service.integrations.edit(world.actor, "slack", {"name": "again", "config": SAAS_CONFIG})
    world.service.integrations.delete(world.actor, "slack")
    actions = [
        e["action"] + ",".join(e["details"].get("fields", []))
        for e in world.events("slack")
        if e["action"] != "status_change"
    ]
    assert actions == ["delete", "editconfig,name", "editconfig", "editname", "enable", "disable", "setup"]


@pytest.mark.parametrize("limit", ["0", "501", "-1", "abc", "1.5", 0, "1e3"])
def test_events_bad_limit(world: World, limit: Any) -> None:
    with pytest.raises(BadRequestError, match="'limit'"):
        world.service.integrations.events(world.actor, "openai", limit=limit)


@pytest.mark.parametrize("cursor", ["!!!", "zzzz", "bm90IGEgY3Vyc29y", "%%%", "\u00e9t\u00e9"])
def test_events_bad_cursor(world: World, cursor: str) -> None:
    with pytest.raises(BadRequestError, match="'cursor'"):
        world.service.integrations.events(world.actor, "openai", cursor=cursor)


def test_events_outlive_delete(world: World) -> None:
    world.active("openai")
    world.service.integrations.delete(world.actor, "openai")
    events = world.events()
    assert {"setup", "delete"} <= {e["action"] for e in events}
    assert world.stored() is None


@pytest.mark.parametrize(
    "cursor_time", ["0001-01-01T00:00:00+00:00", "9999-12-31T23:59:59+00:00", "2026-01-01T00:00:00"]
)
def test_cursors_outside_any_event_time_are_bad_requests(world: World, cursor_time: str) -> None:
    cursor = base64.urlsafe_b64encode(f"{cursor_time}|x".encode()).decode().rstrip("=")
    with pytest.raises(BadRequestError, match="cursor"):
        world.service.integrations.events(world.actor, "openai", 10, cursor)


def test_unknown_config_fields_and_providers_are_never_repeated(world: World, caplog) -> None:
    secret = "sk-" + "s" * 48
    for body in (
        {"credential": world.key("openai"), "config": {secret: "x"}},
        {"credential": world.key("openai"), secret: 1},
        {
            "config": {
                "plan": "p",
                "seats": 1,
                "monthly_cost": 1,
                "currency": "USD",
                "billing_cycle": "monthly",
                secret: 1,
            }
        },
    ):
        provider = "slack" if "credential" not in body else "openai"
        with pytest.raises(BadRequestError) as refused:
            world.service.setups.setup(world.actor, provider, body)
        assert secret not in refused.value.message and "Unknown field" in refused.value.message
    with caplog.at_level(logging.DEBUG), pytest.raises(UnknownProviderError) as unknown:
        world.service.integrations.get(world.actor, "deepseek-" + "z" * 20)
    assert unknown.value.message == "Unknown provider"
    assert "zzzz" not in caplog.text


@pytest.mark.parametrize("name", ["bad\x00name", "two\r\nlines", "evil\u202eeman", "zero\u200bwidth", "line\u2028sep"])
def test_names_refuse_control_and_format_characters(world: World, name: str) -> None:
    with pytest.raises(BadRequestError, match="control or format"):
        world.setup("openai", body={"credential": world.key("openai"), "name": name})
    world.active("openai")
    with pytest.raises(BadRequestError, match="control or format"):
        world.service.integrations.edit(world.actor, "openai", {"name": name})
