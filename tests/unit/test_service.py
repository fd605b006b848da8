"""The use cases (IntegrationService) on real parts: SQLite store and local keyring in tmp_path,
the local provider servers over HTTP. The queue is a recording fake (the queue adapters have
their own contract suite), so a test sees exactly which validation messages were published.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from shared.adapters.cloudevents import message_data
from shared.adapters.local_keyring import LocalKeyring
from shared.adapters.sqlite_store import SqliteStore
from shared.domain.errors import (
    BadRequestError,
    DecryptionError,
    EncryptionError,
    ForbiddenError,
    InvalidFormatError,
    InvalidTransitionError,
    NotConfiguredError,
    ProviderUnavailableError,
    RateLimitedError,
    StoreError,
    UnauthorizedError,
    UnknownProviderError,
)
from shared.domain.models import ValidationMessage
from shared.ports import Encrypted
from shared.domain.errors import RetryLater
from shared.service.credentials import associated_data
from shared.service.validation import QUEUE_FAILED
from tests.support.faults import FaultyStore
from tests.support.world import ORG, World

SAAS_CONFIG = {"plan": "Business", "seats": 12, "monthly_cost": 99.0, "currency": "USD", "billing_cycle": "monthly"}



class FailingCipher:
    """The local keyring, except that encrypt fails (a KMS outage)."""

    def __init__(self, inner: LocalKeyring) -> None:
        self.inner = inner
        self.fail = True

    def encrypt(self, plaintext: bytes, associated_data: bytes) -> Encrypted:
        if self.fail:
            raise EncryptionError()
        return self.inner.encrypt(plaintext, associated_data)

    def decrypt(self, ciphertext: bytes, associated_data: bytes) -> bytes:
        return self.inner.decrypt(ciphertext, associated_data)

    def primary_key_version(self) -> str:
        return self.inner.primary_key_version()


def fingerprint(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:8]


def assert_catalogue(message: str | None, base: str) -> None:
    assert message is not None and (message == base or message.startswith(base + ": ")), message


# ================================================================ organisations and auth


def test_create_org_stores_only_the_hash_of_its_key(world: World) -> None:
    org = world.service.store.get_org(ORG)
    assert org.api_key_hash == hashlib.sha256(world.api_key.encode()).hexdigest()
    assert world.api_key.encode() not in world.everything_on_disk()
    assert world.actor.org == ORG and world.actor.key_id == org.api_key_id


@pytest.mark.parametrize("slug", ["ab", "A_corp", "acme-corp", "x" * 51, "acme corp", "../etc", ""])
def test_create_org_rejects_bad_slugs(world: World, slug: str) -> None:
    with pytest.raises(BadRequestError):
        world.service.orgs.create_org(slug)


def test_authenticate(world: World) -> None:
    other_key = world.service.orgs.create_org("other_org")
    with pytest.raises(UnauthorizedError):
        world.service.orgs.authenticate(None, ORG)
    with pytest.raises(UnauthorizedError):
        world.service.orgs.authenticate("", ORG)
    with pytest.raises(UnauthorizedError):
        world.service.orgs.authenticate(world.api_key + "x", ORG)
    with pytest.raises(ForbiddenError):
        world.service.orgs.authenticate(other_key, ORG)
    with pytest.raises(BadRequestError):
        world.service.orgs.authenticate(world.api_key, "Bad-Slug")


# ================================================================ list and get


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
    with pytest.raises(UnknownProviderError, match="planned"):
        world.get("aws")


# ================================================================ setup


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


@pytest.mark.parametrize("provider,credential", [
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
])
def test_invalid_format_stores_nothing(world: World, provider: str, credential: Any) -> None:
    with pytest.raises(InvalidFormatError) as caught:
        world.setup(provider, credential)
    assert caught.value.status == 400 and caught.value.message == "Invalid API key format"
    assert world.stored(provider) is None and world.credential_rows() == [] and world.queue.messages == []


@pytest.mark.parametrize("body,field", [
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
])
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


@pytest.mark.parametrize("scenario,status,code,message", [
    ("valid", "active", None, None),
    ("invalid", "error", "invalid_credentials", "API key invalid or expired"),
    ("missing_scope", "error", "missing_permissions", "Missing permissions"),
    ("forbidden", "error", "missing_permissions", "Missing permissions"),
])
def test_setup_wait_settles_the_status(world: World, scenario: str, status: str, code: str | None,
                                       message: str | None) -> None:
    key = world.key("openai", scenario)
    view = world.setup("openai", key, wait=True)
    assert view["status"] == status and view["status_code"] == code
    if message is None:
        assert view["status_message"] is None and view["last_validated_at"] is not None
    else:
        assert_catalogue(view["status_message"], message)
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


# ---------------------------------------------------------------- SaaS


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


# ================================================================ rotate


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


def test_a_rotation_message_for_a_disabled_integration_is_ignored(world: World) -> None:
    world.active("openai")
    world.service.setups.rotate(world.actor, "openai", {"credential": world.key("openai")})
    world.service.integrations.disable(world.actor, "openai")
    assert world.deliver_last().startswith("ignored")
    view = world.get()
    assert view["status"] == "disabled" and view["credential"]["version"] == 1
    assert world.servers.openai.count("/models") == 1  # only the first setup's check


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


# ================================================================ validate


def test_validate_pending_becomes_active(world: World) -> None:
    world.setup("openai", world.key("openai"))
    view = world.service.setups.validate(world.actor, "openai")
    assert view["status"] == "active" and view["status_code"] is None and view["last_validated_at"]


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
        world.service.setups.validate(world.actor, "azure")
    world.active("openai")
    world.service.integrations.disable(world.actor, "openai")
    with pytest.raises(InvalidTransitionError, match="status is disabled"):
        world.service.setups.validate(world.actor, "openai")


# ================================================================ our own rate limit


def test_rate_limit_the_extra_attempt_is_429_with_retry_after(make_world) -> None:
    world = make_world(validation_rate_limit="3/600")
    world.setup("openai", world.key("openai"))  # 1
    world.service.setups.validate(world.actor, "openai")  # 2
    world.service.setups.validate(world.actor, "openai")  # 3
    calls = world.servers.openai.count("/models")
    with pytest.raises(RateLimitedError) as caught:
        world.service.setups.validate(world.actor, "openai")
    error = caught.value
    assert (error.status, error.code, error.message) == (429, "rate_limited", "Rate limit exceeded")
    assert error.headers == {"Retry-After": "600"}
    assert world.servers.openai.count("/models") == calls  # checked before the provider call
    # Per org and provider: another provider still has its own budget.
    assert world.setup("anthropic", world.key("anthropic"), wait=True)["status"] == "active"


def test_rate_limit_counts_setup_rotate_and_validate(make_world) -> None:
    world = make_world(validation_rate_limit="3/600")
    world.active("openai")  # setup: 1
    world.service.setups.rotate(world.actor, "openai", {"credential": world.key("openai")})  # 2
    world.service.setups.validate(world.actor, "openai")  # 3
    rows = world.credential_rows()
    with pytest.raises(RateLimitedError):
        world.setup("openai", world.key("openai"))
    with pytest.raises(RateLimitedError):
        world.service.setups.rotate(world.actor, "openai", {"credential": world.key("openai")})
    assert world.credential_rows() == rows  # a refused attempt stores nothing


def test_rate_limit_ignores_requests_that_fail_before_the_provider_call(make_world) -> None:
    world = make_world(validation_rate_limit="2/600")
    for _ in range(5):
        with pytest.raises(InvalidFormatError):
            world.setup("openai", "sk-bad")
        with pytest.raises(NotConfiguredError):
            world.service.setups.validate(world.actor, "openai")
    key = world.active("openai")
    world.service.integrations.edit(world.actor, "openai", {"name": "renamed"})  # edits are not attempts
    world.setup("openai", key)  # same key, nothing to validate: not an attempt
    assert world.service.setups.validate(world.actor, "openai")["status"] == "active"


def test_rate_limit_is_checked_after_404_and_409(make_world) -> None:
    world = make_world(validation_rate_limit="2/600")
    world.active("openai")
    world.service.setups.validate(world.actor, "openai")
    with pytest.raises(RateLimitedError):
        world.service.setups.validate(world.actor, "openai")
    world.service.integrations.disable(world.actor, "openai")
    with pytest.raises(InvalidTransitionError):  # 409, not 429
        world.service.setups.validate(world.actor, "openai")
    world.service.integrations.delete(world.actor, "openai")
    with pytest.raises(NotConfiguredError):  # 404, not 429
        world.service.setups.validate(world.actor, "openai")


def test_revalidation_is_not_counted(make_world) -> None:
    world = make_world(validation_rate_limit="1/600")
    world.active("openai")
    for _ in range(3):
        assert world.service.revalidation.revalidate_all().startswith("revalidated 1")
    with pytest.raises(RateLimitedError):
        world.service.setups.validate(world.actor, "openai")


# ================================================================ the validator function's use case


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


@pytest.mark.parametrize("message", [
    ValidationMessage(),
    ValidationMessage(org=ORG),
    ValidationMessage(org=ORG, provider="openai", version=1),
    ValidationMessage(org=ORG, provider="openai", version=1, credential_id="nope"),
])
def test_handle_message_incomplete_or_unknown_is_ignored(world: World, message: ValidationMessage) -> None:
    assert world.service.messages.handle(message).startswith("ignored")


@pytest.mark.parametrize("scenario,base", [("unavailable", "Provider unavailable"),
                                           ("rate_limited", "Rate limit exceeded")])
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
    assert world.get()["status"] == "active" and world.get()["status_message"] is None


# ================================================================ failures that must leave nothing half-written


def test_queue_failure_leaves_pending_with_a_message_then_validate_recovers(world: World) -> None:
    world.queue.fail_next()
    view = world.setup("openai", world.key("openai"))
    assert view["status"] == "pending" and view["status_message"] == QUEUE_FAILED
    assert world.get()["status_message"] == QUEUE_FAILED
    recovered = world.service.setups.validate(world.actor, "openai")
    assert recovered["status"] == "active" and recovered["status_message"] is None


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


def test_encryption_failure_stores_nothing(make_world, tmp_path: Path) -> None:
    cipher = FailingCipher(LocalKeyring(tmp_path / "kr" / "keyring.json"))
    world = make_world(cipher=cipher)
    key = world.key("openai")
    with pytest.raises(EncryptionError) as caught:
        world.setup("openai", key)
    assert caught.value.status == 502 and caught.value.message == "Credential encryption failed"
    assert world.stored() is None and world.credential_rows() == [] and world.queue.messages == []
    # With an integration in force, a failed replacement leaves it untouched.
    cipher.fail = False
    world.setup("openai", key, wait=True)
    before = world.stored()
    cipher.fail = True
    with pytest.raises(EncryptionError):
        world.setup("openai", world.key("openai"))
    with pytest.raises(EncryptionError):
        world.service.setups.rotate(world.actor, "openai", {"credential": world.key("openai")})
    assert world.stored() == before and len(world.credential_rows()) == 1


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


# ================================================================ encryption binding and decryption


def test_ciphertext_is_bound_to_org_provider_version_and_credential_id(world: World) -> None:
    key = world.active("openai")
    [row] = world.credential_rows()
    cipher = world.service.cipher
    assert cipher.decrypt(row.ciphertext, associated_data(ORG, "openai", 1, row.credential_id)) == key.encode()
    other_id = "0" * 32
    for ad in (associated_data("other_org", "openai", 1, row.credential_id),
               associated_data(ORG, "deepseek", 1, row.credential_id),
               associated_data(ORG, "openai", 2, row.credential_id), associated_data(ORG, "openai", 1, other_id)):
        with pytest.raises(DecryptionError):
            cipher.decrypt(row.ciphertext, ad)


def test_a_ciphertext_moved_to_another_org_does_not_decrypt(world: World) -> None:
    world.active("openai")
    [row] = world.credential_rows()
    other_key = world.service.orgs.create_org("other_org")
    other = world.service.orgs.authenticate(other_key, "other_org")
    world.service.setups.setup(other, "openai", {"credential": world.key("openai")}, wait=True)
    [other_row] = [r for r in world.credential_rows() if r.org == "other_org"]
    # An attacker with write access to the table copies acme's blob into other_org's row.
    assert world.service.store.replace_ciphertext(other_row.model_copy(update={"ciphertext": row.ciphertext}),
                                                  other_row.ciphertext)
    with pytest.raises(DecryptionError):
        world.service.pipelines.decrypt_for_pipeline("other_org", "openai", "test")


def test_decrypt_for_pipeline_only_for_active_and_audited(world: World) -> None:
    key = world.key("openai")
    world.setup("openai", key)
    with pytest.raises(InvalidTransitionError, match="status is pending"):
        world.service.pipelines.decrypt_for_pipeline(ORG, "openai", "cost-pipeline")
    world.deliver_last()
    credential = world.service.pipelines.decrypt_for_pipeline(ORG, "openai", "cost-pipeline")
    assert credential.value == key and key not in repr(credential) and key not in str(credential)
    decrypts = [e for e in world.events() if e["action"] == "decrypt"]
    assert [(e["actor"], e["outcome"]) for e in decrypts] == [("cost-pipeline", "ok"),
                                                              ("cost-pipeline", "invalid_transition")]
    assert decrypts[0]["fingerprint"] == fingerprint(key)
    with pytest.raises(NotConfiguredError):
        world.service.pipelines.decrypt_for_pipeline(ORG, "anthropic", "cost-pipeline")


# ================================================================ disable / enable / edit / delete


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


@pytest.mark.parametrize("body,match", [
    ({"credential": "sk-x"}, "Unknown field in body: the fields are name, config"),
    ({"status": "active"}, "Unknown field in body: the fields are name, config"),
    ({"name": 5}, "'name'"),
    ({"config": {"organization": "nope"}}, "'config.organization'"),
    ([], "JSON object"),
])
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


# ================================================================ audit events and status events


def _busy_history(world: World) -> str:
    key = world.active("openai")
    world.service.setups.validate(world.actor, "openai")
    world.service.integrations.disable(world.actor, "openai")
    world.service.integrations.enable(world.actor, "openai")
    world.deliver_last()
    world.service.integrations.edit(world.actor, "openai", {"name": "renamed"})
    return key


def test_events_newest_first_with_pagination(world: World) -> None:
    key = _busy_history(world)
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
    actions = [e["action"] + ",".join(e["details"].get("fields", [])) for e in world.events("slack")
               if e["action"] != "status_change"]
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


def test_status_changes_are_appended_to_the_local_events_log(world: World) -> None:
    key = world.key("openai")
    world.setup("openai", key)
    world.deliver_last()
    world.service.integrations.delete(world.actor, "openai")
    lines = world.status_events()
    assert [(e["from"], e["to"]) for e in lines] == [
        ("not_configured", "pending"), ("pending", "validating"), ("validating", "active"),
        ("active", "not_configured")]
    for event in lines:
        assert set(event) == {"org", "provider", "from", "to", "message", "at"}
        assert event["org"] == ORG and event["provider"] == "openai"
    assert key not in (world.data_dir / "status-events.jsonl").read_text()


def test_status_change_message_is_recorded(world: World) -> None:
    world.setup("openai", world.key("openai", "invalid"), wait=True)
    last = world.status_events()[-1]
    assert (last["to"], last["message"]) == ("error", "API key invalid or expired")


# ================================================================ daily revalidation and rewrap


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


def test_rewrap_after_keyring_rotation(world: World) -> None:
    keys = {p: world.active(p) for p in ("openai", "anthropic", "gemini")}
    world.service.setups.rotate(world.actor, "openai", {"credential": world.key("openai", "invalid")}, wait=True)
    keyring: LocalKeyring = world.service.cipher
    old_version = keyring.primary_key_version()
    new_version = keyring.rotate()
    assert new_version != old_version and keyring.primary_key_version() == new_version
    report = world.service.rewrap.run(batch_size=2)
    assert report["rewrapped"] == 4 and report["primary"] == new_version
    assert report["by_key_version"] == {new_version: 4}
    assert {r.key_version for r in world.credential_rows()} == {new_version}
    for provider, key in keys.items():
        assert world.service.pipelines.decrypt_for_pipeline(ORG, provider, "test").value == key
    again = world.service.rewrap.run()
    assert again["rewrapped"] == 0 and again["by_key_version"] == {new_version: 4}


# ================================================================ no secret anywhere


def test_no_plaintext_key_on_disk_after_a_full_history(world: World) -> None:
    _busy_history(world)
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
