"""Fixtures for every test: a clean environment and container, and `service_env`.

`service_env` is the service as the functions see it (settings from the environment,
built lazily by shared.container), on the embedded backends in a temporary data
directory, with every provider pointed at the local provider servers and the local
queue delivering to a recording CloudEvent receiver (so nothing runs in the background
against a port nobody listens on).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import pytest

from tests.support.cloudevent_receiver import CloudEventReceiver
from tests.support.provider_servers import ProviderServers


@pytest.fixture(autouse=True)
def _clean_environment() -> Iterator[None]:
    """Each test starts and ends with the same os.environ and no built service."""
    from shared import container

    saved = dict(os.environ)
    container.reset()
    yield
    os.environ.clear()
    os.environ.update(saved)
    container.reset()


@pytest.fixture(scope="session")
def _service_env_servers() -> Iterator[ProviderServers]:
    with ProviderServers() as servers:
        yield servers


@dataclass
class ServiceEnv:
    servers: ProviderServers
    data_dir: Path
    receiver: CloudEventReceiver
    env: dict[str, str] = field(default_factory=dict)

    @property
    def service(self):
        from shared.container import get_service

        return get_service()

    def create_org(self, slug: str = "acme_corp") -> str:
        """Create an org in the configured store; return its API key."""
        return self.service.orgs.create_org(slug)

    def set(self, **values: str) -> None:
        """Change settings (environment variables) and rebuild the service on next use."""
        from shared import container

        self._close_queue()
        os.environ.update(values)
        self.env.update(values)
        container.reset()

    def _close_queue(self) -> None:
        from shared import container

        service = container._service
        if service is not None:
            service.queue.close(timeout=2.0)
            service.status_events.close()


@pytest.fixture
def service_env(tmp_path: Path, _service_env_servers: ProviderServers) -> Iterator[ServiceEnv]:
    from shared import container

    servers = _service_env_servers
    servers.reset()
    with CloudEventReceiver() as receiver:
        env = {
            "DATA_DIR": str(tmp_path / "data"),
            "STORE_BACKEND": "sqlite",
            "KMS_BACKEND": "local",
            "QUEUE_BACKEND": "local",
            "VALIDATOR_URL": receiver.url,
            "OPENAI_BASE_URL": servers.openai_url,
            "ANTHROPIC_BASE_URL": servers.anthropic_url,
            "GEMINI_BASE_URL": servers.gemini_url,
            "DEEPSEEK_BASE_URL": servers.deepseek_url,
            "GCP_TOKEN_URI": servers.token_url,
            "BIGQUERY_API_URL": servers.bigquery_url,
            "AZURE_AUTHORITY_HOST": servers.azure_authority_url,
            "AZURE_MANAGEMENT_URL": servers.azure_management_url,
            "PROVIDER_TIMEOUT_SECONDS": "1",
            "PROVIDER_BACKOFF_SECONDS": "0.01",
            "PROVIDER_MAX_ATTEMPTS": "2",
            "VALIDATION_RATE_LIMIT": "50/600",
            "CORS_ORIGINS": "",
            "LOG_LEVEL": "INFO",
        }
        for name in ("GCP_PROJECT", "KMS_KEY_NAME", "PUBSUB_EMULATOR_HOST", "BIGQUERY_EMULATOR_HOST", "KMS_ENDPOINT"):
            os.environ.pop(name, None)
        os.environ.update(env)
        container.reset()
        state = ServiceEnv(servers=servers, data_dir=tmp_path / "data", receiver=receiver, env=env)
        try:
            yield state
        finally:
            state._close_queue()
            container.reset()
            servers.reset()
