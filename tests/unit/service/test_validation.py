"""From a validation message (or a waiting request) to a verdict on record (shared/service/validation.py).

On real parts (tests/support/world.py): SQLite and a local keyring in a temporary directory, the
provider stand-ins over HTTP, a recording queue.
"""

from __future__ import annotations

import pytest
from shared.domain.models import ValidationMessage
from shared.domain.errors import RetryLater
from shared.service.validation import QUEUE_FAILED
import pytest
from tests.support.world import INFERENCE_ONLY, ORG, World, assert_catalogue, spied


def test_a_rotation_message_for_a_disabled_integration_is_ignored(world: World) -> None:
    world.active("openai")
    world.service.setups.rotate(world.actor, "openai", {"credential": world.key("openai")})
    world.service.integrations.disable(world.actor, "openai")
    assert world.deliver_last().startswith("ignored")
    view = world.get()
    assert view["status"] == "disabled" and view["credential"]["version"] == 1
    assert world.servers.openai.count("/models") == 1  # only the first setup's check


def test_handle_message_is_idempotent_under_redelivery(world: World) -> None:
    world.setup("openai", world.key("openai"))
    assert world.deliver_last() == "validated current: valid"
    calls = world.servers.openai.count("/models")
    events = world.events()
    assert world.deliver_last(attempt=2) == "ignored: already settled"
    assert world.servers.openai.count("/models") == calls and world.events() == events
    assert world.get()["status"] == "active"


def test_handle_message_for_a_superseded_credential_is_ignored(world: World) -> None:
    world.setup("openai", world.key("openai"))
    first = world.queue.messages[-1]
    world.setup("openai", world.key("openai"))
    assert world.service.messages.handle(first) == "ignored: superseded credential version"
    assert world.get()["status"] == "pending" and world.servers.openai.count("/models") == 0
    assert world.deliver_last() == "validated current: valid"


def test_handle_message_after_delete_or_disable_is_ignored(world: World) -> None:
    world.setup("openai", world.key("openai"))
    world.service.integrations.disable(world.actor, "openai")
    assert world.deliver_last().startswith("ignored")
    assert world.get()["status"] == "disabled"
    world.service.integrations.delete(world.actor, "openai")
    assert world.deliver_last() == "ignored: integration gone"
    assert world.servers.openai.count("/models") == 0


@pytest.mark.parametrize(
    "message",
    [
        ValidationMessage(),
        ValidationMessage(org=ORG),
        ValidationMessage(org=ORG, provider="openai", version=1),
        ValidationMessage(org=ORG, provider="openai", version=1, credential_id="nope"),
    ],
)
def test_handle_message_incomplete_or_unknown_is_ignored(world: World, message: ValidationMessage) -> None:
    assert world.service.messages.handle(message).startswith("ignored")


@pytest.mark.parametrize(
    "scenario,base", [("unavailable", "Provider unavailable"), ("rate_limited", "Rate limit exceeded")]
)
def test_handle_message_transient_retries_then_settles(make_world, scenario: str, base: str) -> None:
    world = make_world(validator_max_deliveries=3)
    world.setup("openai", world.key("openai", scenario))
    for attempt in (1, 2):
        with pytest.raises(RetryLater):
            world.deliver_last(attempt)
        view = world.get()
        assert view["status"] == "validating"  # it stays there while redeliveries are due: no flapping
        assert view["status_message"].startswith(base) and view["status_message"].endswith("retrying")
    assert world.deliver_last(3).startswith("validated current:")
    view = world.get()
    assert view["status"] == "error"
    assert_catalogue(view["status_message"], base)


def test_handle_message_transient_then_recovered(world: World) -> None:
    key = world.key("openai", "unavailable")
    world.setup("openai", key)
    with pytest.raises(RetryLater):
        world.deliver_last(1)
    world.scenario("openai", key, "valid")
    assert world.deliver_last(2) == "validated current: valid"
    assert world.get()["status"] == "active" and world.get()["status_message"] == INFERENCE_ONLY


def test_queue_failure_leaves_pending_with_a_message_then_validate_recovers(world: World) -> None:
    world.queue.fail_next()
    view = world.setup("openai", world.key("openai"))
    assert view["status"] == "pending" and view["status_message"] == QUEUE_FAILED
    assert world.get()["status_message"] == QUEUE_FAILED
    recovered = world.service.setups.validate(world.actor, "openai")
    assert recovered["status"] == "active" and recovered["status_message"] == INFERENCE_ONLY


def test_queue_failure_on_rotation_is_reported_in_rotation(world: World) -> None:
    world.active("openai")
    world.queue.fail_next()
    view = world.service.setups.rotate(world.actor, "openai", {"credential": world.key("openai")})
    assert view["rotation"]["message"] == QUEUE_FAILED and view["status"] == "active"
    assert world.service.setups.validate(world.actor, "openai")["credential"]["version"] == 2


def test_queue_failure_on_enable_says_so(world: World) -> None:
    world.active("openai")
    world.service.integrations.disable(world.actor, "openai")
    world.queue.fail_next()
    view = world.service.integrations.enable(world.actor, "openai")
    assert view["status"] == "pending" and view["status_message"] == QUEUE_FAILED


def test_redeliveries_during_an_outage_change_the_status_once(make_world) -> None:
    world: World = make_world(validator_max_deliveries=5)
    world.setup("openai", world.key("openai", "unavailable"))
    for attempt in range(1, 5):
        with pytest.raises(Exception):
            world.deliver_last(attempt)
    world.deliver_last(5)
    moves = [
        (e["details"]["from"], e["details"]["to"]) for e in reversed(world.events()) if e["action"] == "status_change"
    ]
    assert moves == [("not_configured", "pending"), ("pending", "validating"), ("validating", "error")]
    published = [(e["from"], e["to"]) for e in world.status_events()]
    assert published == moves


def test_a_validator_that_raises_still_ends_in_a_verdict(make_world) -> None:
    world, _ = spied(make_world, explode=True)
    world.setup("gcp", world.servers.gcp_service_account("valid"))
    assert world.deliver_last(world.service.settings.validator_max_deliveries).startswith("validated")
    view = world.get("gcp")
    assert (view["status"], view["status_code"]) == ("error", "provider_unavailable")
