"""Capabilities (issue 11): set from the last successful validation of the credential in force,
kept through rotation (a rotation to fewer says so), and asked for by pipelines with `needs=`.

On real parts (tests/support/world.py): the stand-ins answer as the providers do for each key
type (an Admin key reads costs and is refused on /models; a project key the other way round).
"""

from __future__ import annotations

import pytest

from shared.domain.errors import BadRequestError, CredentialNotUsableError
from tests.support.provider_servers import anthropic_key, openai_key
from tests.support.world import ORG, World


def get_credential(world: World, provider: str, pipeline: str, **kwargs):
    """What shared.pipelines.get_credential does, on this world's service."""
    return world.service.pipelines.get_credential(ORG, provider, pipeline, **kwargs)


REDUCED = (
    "Capabilities reduced: the credential now in force cannot read or do: costs, usage; reads no costs "
    "(inference only); for costs, create an Admin key (sk-admin-...) at platform.openai.com/settings/organization/admin-keys"
)


def admin_key(world: World, provider: str = "openai", scenario: str = "valid") -> str:
    value = openai_key("admin") if provider == "openai" else anthropic_key(admin=True)
    getattr(world.servers, provider).set(value, scenario)
    return value


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_an_admin_key_through_the_queue_reads_costs_and_usage(world: World, provider: str) -> None:
    assert world.setup(provider, admin_key(world, provider))["capabilities"] is None
    assert world.deliver_last() == "validated current: valid"
    view = world.get(provider)
    assert (view["status"], view["status_code"], view["status_message"]) == ("active", None, None)
    assert view["capabilities"] == ["costs", "usage"]
    listed = {i["provider"]: i for i in world.service.integrations.list(world.actor)["integrations"]}
    assert listed[provider]["capabilities"] == ["costs", "usage"]
    assert listed["gemini"]["capabilities"] is None  # not configured
    validated = next(e for e in world.events(provider) if e["action"] == "validate")
    assert validated["details"] == {"target": "current", "remark": "admin key", "capabilities": ["costs", "usage"]}


def test_a_failed_revalidation_keeps_the_capabilities_last_shown(world: World) -> None:
    key = admin_key(world)
    world.setup("openai", key, wait=True)
    world.scenario("openai", key, "invalid")
    view = world.service.setups.validate(world.actor, "openai")
    assert view["status"] == "expired" and view["capabilities"] == ["costs", "usage"]


def test_a_rotation_keeps_capabilities_and_says_when_it_reduces_them(world: World) -> None:
    world.setup("openai", admin_key(world), wait=True)
    regular = world.key("openai")
    view = world.service.setups.rotate(world.actor, "openai", {"credential": regular}, wait=True)
    assert (view["status"], view["status_code"], view["status_message"]) == ("active", "capabilities_reduced", REDUCED)
    assert view["capabilities"] == ["inference"] and view["rotation"] is None
    # Back to an Admin key: costs again, but an Admin key calls no models, and that is said too.
    view = world.service.setups.rotate(world.actor, "openai", {"credential": admin_key(world)}, wait=True)
    assert (view["status_code"], view["status_message"], view["capabilities"]) == (
        "capabilities_reduced",
        "Capabilities reduced: the credential now in force cannot read or do: inference",
        ["costs", "usage"],
    )
    # Admin key to Admin key: nothing lost, nothing said.
    view = world.service.setups.rotate(world.actor, "openai", {"credential": admin_key(world)}, wait=True)
    assert (view["status_code"], view["status_message"], view["capabilities"]) == (None, None, ["costs", "usage"])


def test_a_failed_rotation_leaves_the_capabilities_of_the_credential_in_force(world: World) -> None:
    world.setup("openai", admin_key(world), wait=True)
    view = world.service.setups.rotate(world.actor, "openai", {"credential": world.key("openai", "invalid")}, wait=True)
    assert view["rotation"]["status"] == "failed" and view["capabilities"] == ["costs", "usage"]


def test_a_pipeline_that_needs_costs_gets_an_admin_key(world: World) -> None:
    key = admin_key(world)
    world.setup("openai", key, wait=True)
    assert get_credential(world, "openai", "openai-costs", needs="costs").value == key
    decrypt = world.events()[0]
    assert (decrypt["actor"], decrypt["outcome"], decrypt["details"]) == (
        "pipeline:openai-costs",
        "ok",
        {"version": 1, "needs": "costs"},
    )


def test_a_pipeline_that_needs_costs_is_refused_an_inference_key_and_it_is_audited(world: World) -> None:
    key = world.active("openai")
    with pytest.raises(CredentialNotUsableError) as refused:
        get_credential(world, "openai", "openai-costs", needs="costs")
    message = refused.value.message
    assert message.startswith("The credential was not shown to have 'costs' (its capabilities: inference)")
    assert "sk-admin-" in message and "/setup" in message and key[-8:] not in message
    decrypt = world.events()[0]
    assert (decrypt["action"], decrypt["actor"], decrypt["outcome"], decrypt["details"]) == (
        "decrypt",
        "pipeline:openai-costs",
        refused.value.code,
        {"needs": "costs"},
    )
    # Without `needs` the same credential is handed over (inference pipelines use it).
    assert get_credential(world, "openai", "openai-inference").value == key


def test_needs_outside_the_vocabulary_is_a_bad_request(world: World) -> None:
    world.active("openai")
    with pytest.raises(BadRequestError, match="needs must be one of inference, costs, usage, balance"):
        get_credential(world, "openai", "p", needs="everything")
