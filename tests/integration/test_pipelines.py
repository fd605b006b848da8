"""`shared.pipelines.get_credential` on the embedded backends and on the Google ones.

The service is the one the functions use (settings from the environment, built by
shared.container with the real adapters): SQLite + local keyring + local queue, or
BigQuery (bqemulator) + Cloud KMS (gRPC stand-in) + Pub/Sub (emulator).
"""

from __future__ import annotations

import uuid
from typing import Iterator

import pytest

from shared.domain.errors import BadRequestError, IntegrationsError, NotConfiguredError, UnknownProviderError
from shared.pipelines import CredentialNotUsableError, get_credential
from tests.support.bqemulator import PROJECT, bq_emulator, new_dataset_name  # noqa: F401 (fixture)
from tests.support.kms_server import DEFAULT_KEY, kms_server  # noqa: F401 (fixture)
from tests.support.provider_servers import deepseek_key, gemini_key, openai_key
from tests.support.pubsub_emulator import pubsub_emulator  # noqa: F401 (fixture)

ORG = "acme_corp"


@pytest.fixture(params=["embedded", "google"])
def backend(request: pytest.FixtureRequest, service_env) -> Iterator[object]:
    """Yields the KMS stand-in on the Google backends, None on the embedded ones."""
    if request.param == "google":
        kms = request.getfixturevalue("kms_server")
        suffix = uuid.uuid4().hex[:10]
        dataset = new_dataset_name("pipelines")
        service_env.set(
            STORE_BACKEND="bigquery",
            GCP_PROJECT=PROJECT,
            BQ_DATASET=dataset,
            BIGQUERY_EMULATOR_HOST=request.getfixturevalue("bq_emulator"),
            KMS_BACKEND="gcp",
            KMS_KEY_NAME=DEFAULT_KEY,
            KMS_ENDPOINT=kms.endpoint,
            QUEUE_BACKEND="pubsub",
            PUBSUB_TOPIC=f"validation-{suffix}",
            STATUS_EVENTS_TOPIC=f"status-{suffix}",
            PUBSUB_EMULATOR_HOST=request.getfixturevalue("pubsub_emulator"),
        )
        service = service_env.service
        service.store.init_store()
        service.queue.ensure_topic()
        service.status_events.ensure_topic()
        yield kms
        service.store.client.delete_dataset(f"{PROJECT}.{dataset}", delete_contents=True, not_found_ok=True)
        return
    yield None


def decrypt_events(service, actor, provider: str) -> list[tuple[str, str]]:
    events = service.integrations.events(actor, provider, limit=500)["events"]
    return [(e["actor"], e["outcome"]) for e in reversed(events) if e["action"] == "decrypt"]


def test_an_active_integration_gives_its_plaintext_and_leaves_an_audit_event(backend, service_env) -> None:
    service = service_env.service
    actor = service.orgs.authenticate(service_env.create_org(ORG), ORG)
    key = service_env.servers.openai.set(openai_key(), "valid")
    assert service.setups.setup(actor, "openai", {"credential": key}, wait=True)["status"] == "active"

    credential = get_credential(ORG, "openai", pipeline="openai-costs-daily")

    assert credential.value == key and credential.kind == "api_key"
    assert key not in repr(credential) and key not in str(credential)
    assert decrypt_events(service, actor, "openai") == [("pipeline:openai-costs-daily", "ok")]
    if backend is not None:
        assert backend.calls["Decrypt"] > 0, "the credential came through Cloud KMS"

    service.integrations.disable(actor, "openai")
    with pytest.raises(CredentialNotUsableError, match="status is disabled") as refused:
        get_credential(ORG, "openai", "openai-costs-daily")
    assert key not in str(refused.value) and refused.value.code == "credential_not_usable"
    assert decrypt_events(service, actor, "openai")[-1] == ("pipeline:openai-costs-daily", "credential_not_usable")


def test_a_gcp_key_file_comes_back_as_a_service_account(backend, service_env) -> None:
    service = service_env.service
    actor = service.orgs.authenticate(service_env.create_org(ORG), ORG)
    info = service_env.servers.gcp_service_account("valid")
    config = {"billing_export_table": f"{info['project_id']}.billing.gcp_billing_export_v1_0123AB_CDEF45_6789AB"}
    assert service.setups.setup(actor, "gcp", {"credential": info, "config": config}, wait=True)["status"] == "active"

    credential = get_credential(ORG, "gcp", "gcp-billing")

    assert credential.kind == "service_account" and credential.as_service_account() == info
    assert info["private_key"] not in repr(credential)


def test_an_azure_principal_comes_back_with_client_id_tenant_and_secret(backend, service_env) -> None:
    from datetime import date, timedelta

    service = service_env.service
    actor = service.orgs.authenticate(service_env.create_org(ORG), ORG)
    principal, scope = service_env.servers.azure_principal("valid")
    body = {"credential": principal, "config": {"scope": scope}, "expires_at": str(date.today() + timedelta(days=90))}
    assert service.setups.setup(actor, "azure", body, wait=True)["status"] == "active"

    credential = get_credential(ORG, "azure", "azure-costs-daily", needs="costs")

    assert credential.kind == "azure_service_principal" and credential.as_service_principal() == principal
    assert principal["client_secret"] not in repr(credential) and principal["client_secret"] not in str(credential)
    assert decrypt_events(service, actor, "azure") == [("pipeline:azure-costs-daily", "ok")]


def test_pending_error_and_expired_integrations_are_refused(backend, service_env) -> None:
    service, servers = service_env.service, service_env.servers
    actor = service.orgs.authenticate(service_env.create_org(ORG), ORG)
    service.setups.setup(actor, "openai", {"credential": servers.openai.set(openai_key(), "valid")})  # queued only
    assert service.setups.setup(actor, "gemini", {"credential": gemini_key()}, wait=True)["status"] == "error"
    key = servers.deepseek.set(deepseek_key(), "valid")
    assert service.setups.setup(actor, "deepseek", {"credential": key}, wait=True)["status"] == "active"
    servers.deepseek.set(key, "invalid")
    service.revalidation.revalidate_all()
    assert service.integrations.get(actor, "deepseek")["status"] == "expired"

    for provider, status in (("openai", "pending"), ("gemini", "error"), ("deepseek", "expired")):
        with pytest.raises(CredentialNotUsableError, match=f"status is {status}"):
            get_credential(ORG, provider, "costs")
        assert decrypt_events(service, actor, provider) == [("pipeline:costs", "credential_not_usable")]


def test_what_is_not_a_usable_credential_is_a_clear_error(backend, service_env) -> None:
    service_env.create_org(ORG)
    with pytest.raises(NotConfiguredError):
        get_credential(ORG, "anthropic", "costs")
    with pytest.raises(BadRequestError, match="entered by hand"):
        get_credential(ORG, "slack", "costs")
    with pytest.raises(UnknownProviderError):
        get_credential(ORG, "nosuch", "costs")
    for org, pipeline in (("Bad-Org!", "costs"), (ORG, ""), (ORG, "Costs Daily"), (ORG, "x" * 64)):
        with pytest.raises(BadRequestError):
            get_credential(org, "openai", pipeline)
    assert issubclass(CredentialNotUsableError, IntegrationsError)
