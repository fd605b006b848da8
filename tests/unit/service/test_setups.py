"""Setup, rotate and validate now (shared/service/setups.py).

On real parts (tests/support/world.py): SQLite and a local keyring in a temporary directory, the
provider stand-ins over HTTP, a recording queue.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any
import pytest
from shared.adapters.cloudevents import message_data
from shared.domain.errors import (
    BadRequestError,
    InvalidFormatError,
    InvalidTransitionError,
    NotConfiguredError,
    ProviderUnavailableError,
    RateLimitedError,
    UnknownProviderError,
)
from shared.domain.models import ValidationMessage
from typing import Any
import pytest
from shared.domain.errors import (
    BadRequestError,
    ProviderUnavailableError,
    RateLimitedError,
    UnknownProviderError,
)
from tests.support.world import INFERENCE_ONLY, ORG, SAAS_CONFIG, World, assert_catalogue, fingerprint, spied


def test_setup_stores_ciphertext_and_queues_a_message_naming_the_credential(world: World) -> None:
    key = world.key("openai")
    view = world.setup("openai", key, body={"credential": key, "name": "OpenAI prod"})
    assert view["status"] == "pending" and view["name"] == "OpenAI prod"
    assert view["credential"]["version"] == 1
    assert view["credential"]["fingerprint"] == fingerprint(key)
    assert view["credential"]["hint"] == "sk-..." + key[-4:]
    assert key not in json.dumps(view)
    [row] = world.credential_rows()
    assert key.encode() not in row.ciphertext and row.version == 1
    [message] = world.queue.messages
    assert message == ValidationMessage(org=ORG, provider="openai", version=1, credential_id=row.credential_id)
    assert key.encode() not in message_data(message)
    assert world.servers.openai.count("/models") == 0  # nothing called the provider yet


def test_setup_same_key_again_changes_nothing(world: World) -> None:
    key = world.active("openai")
    before = world.stored()
    rows_before = world.credential_rows()
    again = world.setup("openai", key)
    assert again["status"] == "active"
    assert again["credential"]["version"] == 1 and again["credential"]["fingerprint"] == fingerprint(key)
    assert world.stored().credential == before.credential and world.stored().revision == before.revision
    assert world.credential_rows() == rows_before
    assert world.queue.messages == []


def test_setup_same_key_while_pending_keeps_the_version(world: World) -> None:
    key = world.key("openai")
    first = world.setup("openai", key)
    second = world.setup("openai", key)
    assert second["credential"] == first["credential"]
    assert len(world.credential_rows()) == 1
    # A credential never validated (a lost message) is queued again, for the same version.
    assert {m.credential_id for m in world.queue.messages} == {world.credential_rows()[0].credential_id}


def test_setup_with_a_new_key_replaces_at_once(world: World) -> None:
    old = world.active("openai")
    [old_row] = world.credential_rows()
    new = world.key("openai")
    view = world.setup("openai", new)
    assert view["status"] == "pending"
    assert view["credential"]["version"] == 2 and view["credential"]["fingerprint"] == fingerprint(new)
    [row] = world.credential_rows()
    assert row.credential_id != old_row.credential_id and row.version == 2
    assert world.service.store.get_credential(ORG, "openai", old_row.credential_id) is None
    assert world.queue.messages[-1].version == 2
    assert world.deliver_last() == "validated current: valid"
    assert world.get()["status"] == "active"
    assert world.service.pipelines.decrypt_for_pipeline(ORG, "openai", "test").value == new != old


@pytest.mark.parametrize(
    "provider,credential",
    [
        ("openai", "sk-short"),
        ("openai", "not-a-key-at-all-but-long-enough-1234567890"),
        ("openai", "sk-ant-api03-" + "a" * 95),
        ("anthropic", "sk-proj-" + "a" * 60),
        ("gemini", "AIza-too-short"),
        ("deepseek", "ds-" + "0" * 32),
        ("openai", "   "),
        ("openai", "sk-" + "a" * 5000),
        ("gcp", "{not json"),
        ("gcp", "[1, 2]"),
        ("gcp", {"type": "service_account"}),
    ],
)
def test_invalid_format_stores_nothing(world: World, provider: str, credential: Any) -> None:
    with pytest.raises(InvalidFormatError) as caught:
        world.setup(provider, credential)
    assert caught.value.status == 400 and caught.value.message == "Invalid API key format"
    assert world.stored(provider) is None and world.credential_rows() == [] and world.queue.messages == []


@pytest.mark.parametrize(
    "body,field",
    [
        ({}, "credential"),
        ({"credential": None}, "credential"),
        ({"credential": 12345}, "credential"),
        ({"credential": ["sk-x"]}, "credential"),
        ({"credential": "sk-x", "api_key": "x"}, "api_key"),
        ({"credential": "sk-x", "name": ""}, "name"),
        ({"credential": "sk-x", "name": 5}, "name"),
        ({"credential": "sk-x", "name": "n" * 101}, "name"),
        ({"credential": "sk-x", "config": "x"}, "config"),
        ({"credential": "sk-x", "config": {"organization": "nope"}}, "config.organization"),
    ],
)
def test_setup_bad_bodies_name_the_field_and_store_nothing(world: World, body: dict[str, Any], field: str) -> None:
    with pytest.raises(BadRequestError) as caught:
        world.service.setups.setup(world.actor, "openai", body)
    if field == "api_key":  # an unknown field is request input: never repeated
        assert "api_key" not in caught.value.message and "Unknown field" in caught.value.message
    else:
        assert f"'{field}'" in caught.value.message
    assert world.stored() is None and world.credential_rows() == []


@pytest.mark.parametrize("body", [None, [], "sk-x", 5])
def test_setup_body_must_be_an_object(world: World, body: Any) -> None:
    with pytest.raises(BadRequestError, match="JSON object"):
        world.service.setups.setup(world.actor, "openai", body)


@pytest.mark.parametrize(
    "scenario,status,code,message",
    [
        ("valid", "active", "valid", INFERENCE_ONLY),
        ("invalid", "error", "invalid_credentials", "API key invalid or expired"),
        ("missing_scope", "error", "missing_permissions", "Missing permissions"),
        ("forbidden", "error", "missing_permissions", "Missing permissions"),
    ],
)
def test_setup_wait_settles_the_status(
    world: World, scenario: str, status: str, code: str | None, message: str | None
) -> None:
    key = world.key("openai", scenario)
    view = world.setup("openai", key, wait=True)
    assert view["status"] == status and view["status_code"] == code
    assert_catalogue(view["status_message"], message)
    assert view["last_validated_at"] is not None
    assert world.queue.messages == []
    assert key not in json.dumps(view) and key not in json.dumps(world.events())


@pytest.mark.parametrize("provider", ["anthropic", "gemini", "deepseek"])
def test_setup_wait_for_other_llm_providers(world: World, provider: str) -> None:
    assert world.setup(provider, world.key(provider), wait=True)["status"] == "active"
    bad = world.setup(provider, world.key(provider, "invalid"), wait=True)
    assert bad["status"] == "error" and bad["status_code"] == "invalid_credentials"


def test_setup_gcp_service_account_object_or_string_has_one_fingerprint(world: World) -> None:
    info = world.servers.gcp_service_account("valid")
    view = world.setup("gcp", info)
    canonical = json.dumps(info, sort_keys=True, separators=(",", ":"))
    assert view["credential"]["fingerprint"] == hashlib.sha256(canonical.encode()).hexdigest()[:8]
    again = world.setup("gcp", json.dumps(info, indent=2))
    assert again["credential"] == view["credential"]
    assert info["private_key"] not in json.dumps(again)


def test_saas_setup_is_active_at_once(world: World) -> None:
    view = world.setup("slack", body={"config": SAAS_CONFIG, "name": "Slack Business"})
    assert view["status"] == "active" and view["config"] == SAAS_CONFIG and view["credential"] is None
    assert view["name"] == "Slack Business"
    assert world.queue.messages == [] and world.credential_rows() == []
    changed = world.setup("slack", body={"config": {**SAAS_CONFIG, "seats": 20}})
    assert changed["config"]["seats"] == 20 and changed["status"] == "active"


def test_saas_rejects_a_credential_and_requires_config(world: World) -> None:
    with pytest.raises(BadRequestError, match="'credential' is not allowed"):
        world.setup("github", body={"credential": "sk-whatever", "config": SAAS_CONFIG})
    with pytest.raises(BadRequestError, match="'config(\.plan)?' is required"):
        world.setup("github", body={"name": "GitHub"})
    with pytest.raises(BadRequestError, match="'config.seats'"):
        world.setup("github", body={"config": {**SAAS_CONFIG, "seats": -3}})
    assert world.stored("github") is None


def test_saas_validate_disable_enable(world: World) -> None:
    world.setup("notion", body={"config": SAAS_CONFIG})
    assert world.service.setups.validate(world.actor, "notion")["status"] == "active"
    assert world.service.integrations.disable(world.actor, "notion")["status"] == "disabled"
    assert world.service.integrations.enable(world.actor, "notion")["status"] == "active"
    with pytest.raises(BadRequestError):
        world.service.setups.rotate(world.actor, "notion", {"credential": "x"})
    with pytest.raises(BadRequestError):
        world.service.pipelines.decrypt_for_pipeline(ORG, "notion", "test")


def test_rotation_that_fails_leaves_the_old_credential_in_force(world: World) -> None:
    old = world.active("openai")
    [old_row] = world.credential_rows()
    new = world.key("openai", "invalid")
    view = world.service.setups.rotate(world.actor, "openai", {"credential": new})
    assert view["status"] == "active" and view["credential"]["version"] == 1
    assert view["rotation"]["version"] == 2 and view["rotation"]["status"] == "pending"
    message = world.queue.messages[-1]
    assert message.version == 2 and message.credential_id == world.stored().rotation.credential_id
    assert world.deliver_last() == "validated rotation: invalid_credentials"
    after = world.get()
    assert after["status"] == "active" and after["credential"]["version"] == 1
    assert after["credential"]["fingerprint"] == fingerprint(old)
    assert after["rotation"]["status"] == "failed" and after["rotation"]["message"] == "API key invalid or expired"
    assert world.service.store.get_credential(ORG, "openai", old_row.credential_id) is not None
    assert world.service.pipelines.decrypt_for_pipeline(ORG, "openai", "test").value == old
    # A redelivery of the settled rotation changes nothing.
    assert world.deliver_last() == "ignored: rotation already settled"


def test_rotation_that_succeeds_swaps_and_destroys_the_old_ciphertext(world: World) -> None:
    world.active("openai")
    failed = world.key("openai", "invalid")
    world.service.setups.rotate(world.actor, "openai", {"credential": failed}, wait=True)
    failed_id = world.stored().rotation.credential_id
    [old_id] = [r.credential_id for r in world.credential_rows() if r.credential_id != failed_id]
    new = world.key("openai")
    staged = world.service.setups.rotate(world.actor, "openai", {"credential": new})
    assert staged["rotation"]["version"] == 2 and staged["rotation"]["status"] == "pending"
    assert world.service.store.get_credential(ORG, "openai", failed_id) is None  # the failed one is gone
    world.deliver_last()
    after = world.get()
    assert after["status"] == "active" and after["rotation"] is None
    assert after["credential"]["version"] == 2 and after["credential"]["fingerprint"] == fingerprint(new)
    [row] = world.credential_rows()
    assert row.credential_id != old_id and row.version == 2
    assert world.service.pipelines.decrypt_for_pipeline(ORG, "openai", "test").value == new


def test_setup_during_a_staged_rotation_replaces_both(world: World) -> None:
    world.active("openai")
    world.service.setups.rotate(world.actor, "openai", {"credential": world.key("openai")})
    assert len(world.credential_rows()) == 2
    new = world.key("openai")
    view = world.setup("openai", new)
    # Version 2 was staged but never took effect: the replacement takes version 2.
    assert view["rotation"] is None and view["credential"]["version"] == 2 and view["status"] == "pending"
    [row] = world.credential_rows()
    assert row.version == 2 and row.fingerprint == hashlib.sha256(new.encode()).hexdigest()


def test_validate_during_a_staged_rotation_checks_the_new_credential(world: World) -> None:
    world.active("openai")
    new = world.key("openai")
    world.service.setups.rotate(world.actor, "openai", {"credential": new})
    view = world.service.setups.validate(world.actor, "openai")
    assert view["rotation"] is None and view["credential"]["version"] == 2
    assert view["credential"]["fingerprint"] == fingerprint(new)
    # The queued message for the rotation, delivered late, names a credential already settled.
    calls = world.servers.openai.count("/models")
    assert world.deliver_last().startswith("ignored")
    assert world.servers.openai.count("/models") == calls


def test_rotate_wait_answers_the_final_state(world: World) -> None:
    world.active("openai")
    new = world.key("openai")
    view = world.service.setups.rotate(world.actor, "openai", {"credential": new}, wait=True)
    assert view["rotation"] is None and view["credential"]["version"] == 2 and view["status"] == "active"
    assert world.queue.messages == []


def test_rotate_errors(world: World) -> None:
    with pytest.raises(NotConfiguredError):
        world.service.setups.rotate(world.actor, "openai", {"credential": world.key("openai")})
    key = world.active("openai")
    with pytest.raises(BadRequestError, match="already in force"):
        world.service.setups.rotate(world.actor, "openai", {"credential": key})
    with pytest.raises(InvalidFormatError):
        world.service.setups.rotate(world.actor, "openai", {"credential": "sk-bad"})
    with pytest.raises(BadRequestError, match="entered by hand"):
        world.service.setups.rotate(world.actor, "slack", {"credential": "x"})
    world.service.integrations.disable(world.actor, "openai")
    with pytest.raises(InvalidTransitionError, match="status is disabled"):
        world.service.setups.rotate(world.actor, "openai", {"credential": world.key("openai")})
    assert len(world.credential_rows()) == 1


def test_validate_pending_becomes_active(world: World) -> None:
    world.setup("openai", world.key("openai"))
    view = world.service.setups.validate(world.actor, "openai")
    assert view["status"] == "active" and view["status_message"] == INFERENCE_ONLY and view["last_validated_at"]


def test_validate_active_key_now_invalid_becomes_expired(world: World) -> None:
    key = world.active("openai")
    world.scenario("openai", key, "invalid")
    view = world.service.setups.validate(world.actor, "openai")
    assert view["status"] == "expired" and view["status_code"] == "invalid_credentials"
    assert view["status_message"] == "API key invalid or expired"
    world.scenario("openai", key, "valid")
    assert world.service.setups.validate(world.actor, "openai")["status"] == "active"


def test_validate_transient_before_active_is_503_and_recorded_as_error(world: World) -> None:
    world.setup("openai", world.key("openai", "unavailable"))
    with pytest.raises(ProviderUnavailableError) as caught:
        world.service.setups.validate(world.actor, "openai")
    assert caught.value.status == 503 and caught.value.message == "Provider unavailable"
    view = world.get()
    assert view["status"] == "error" and view["status_code"] == "provider_unavailable"
    assert_catalogue(view["status_message"], "Provider unavailable")


def test_validate_transient_on_active_stays_active_with_the_message(world: World) -> None:
    key = world.active("openai")
    world.scenario("openai", key, "unavailable")
    with pytest.raises(ProviderUnavailableError):
        world.service.setups.validate(world.actor, "openai")
    view = world.get()
    assert view["status"] == "active"
    assert_catalogue(view["status_message"], "Provider unavailable")


def test_validate_provider_rate_limit_on_active(world: World) -> None:
    key = world.active("openai")
    world.scenario("openai", key, "rate_limited")
    with pytest.raises(ProviderUnavailableError) as caught:
        world.service.setups.validate(world.actor, "openai")
    assert caught.value.status == 503
    view = world.get()
    assert view["status"] == "active" and view["status_code"] == "rate_limited"
    assert_catalogue(view["status_message"], "Rate limit exceeded")


def test_validate_errors(world: World) -> None:
    with pytest.raises(NotConfiguredError):
        world.service.setups.validate(world.actor, "openai")
    with pytest.raises(UnknownProviderError):
        world.service.setups.validate(world.actor, "nope")
    world.active("openai")
    world.service.integrations.disable(world.actor, "openai")
    with pytest.raises(InvalidTransitionError, match="status is disabled"):
        world.service.setups.validate(world.actor, "openai")


def test_a_key_file_string_with_a_lone_surrogate_is_a_bad_request(make_world) -> None:
    world: World = make_world(validation_rate_limit="1/600")
    info = world.servers.gcp_service_account("valid")
    text = '{"type": "service_account", "project_id": "\\ud800"}'
    with pytest.raises(BadRequestError, match="Unicode"):
        world.setup("gcp", text)
    assert world.setup("gcp", info)["status"] == "pending", "the refusal used no rate-limit attempt"


def test_an_outage_is_one_answer_on_every_synchronous_path(world: World) -> None:
    down = world.key("openai", "unavailable")
    with pytest.raises(ProviderUnavailableError):
        world.setup("openai", down, wait=True)
    assert (world.get()["status"], world.get()["status_code"]) == ("error", "provider_unavailable")
    with pytest.raises(ProviderUnavailableError):
        world.service.setups.validate(world.actor, "openai")
    world.active("openai")
    with pytest.raises(ProviderUnavailableError):
        world.service.setups.rotate(
            world.actor, "openai", {"credential": world.key("openai", "unavailable")}, wait=True
        )
    view = world.get()
    assert view["status"] == "active" and view["rotation"]["status"] == "failed"
    assert view["rotation"]["message"].startswith("Provider unavailable")


def test_the_key_is_parsed_only_after_the_cheap_lifecycle_and_rate_limit_checks(make_world) -> None:
    world, spy = spied(make_world, validation_rate_limit="1/600")
    info = world.servers.gcp_service_account("valid")
    world.setup("gcp", info)
    assert spy.key_checks == 1
    with pytest.raises(RateLimitedError):
        world.setup("gcp", world.servers.gcp_service_account("valid"))
    world.service.integrations.disable(world.actor, "gcp")
    with pytest.raises(Exception, match="disabled"):
        world.setup("gcp", world.servers.gcp_service_account("valid"))
    assert spy.key_checks == 1, "a refused request never paid for parsing the key"
