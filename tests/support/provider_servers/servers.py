"""Every stand-in started together (`ProviderServers`), the settings that point the service at
them, and the pytest fixtures."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from shared.settings import Settings
from tests.support.provider_servers.anthropic import answer_anthropic
from tests.support.provider_servers.azure import answer_arm, answer_entra, register
from tests.support.provider_servers.gcp import answer_bigquery, answer_google_token
from tests.support.provider_servers.gemini import answer_gemini
from tests.support.provider_servers.keys import service_account_info
from tests.support.provider_servers.deepseek import answer_deepseek
from tests.support.provider_servers.openai import answer_openai
from tests.support.provider_servers.server import ProviderServer


class ProviderServers:
    """Every fake provider, started together; base URLs mean what the settings mean."""

    def __init__(self) -> None:
        self.openai = ProviderServer("openai", answer_openai)
        self.anthropic = ProviderServer("anthropic", answer_anthropic)
        self.gemini = ProviderServer("gemini", answer_gemini)
        self.deepseek = ProviderServer("deepseek", answer_deepseek)
        self.google_token = ProviderServer("google-token", answer_google_token)
        self.bigquery = ProviderServer("bigquery", answer_bigquery)
        self.bigquery.state = self.google_token.state  # tokens issued by one are honoured by the other
        self.azure_login = ProviderServer("azure-login", answer_entra)
        self.azure_arm = ProviderServer("azure-arm", answer_arm)
        self.azure_arm.state = self.azure_login.state  # Entra ID's tokens are honoured by ARM

    @property
    def all(self) -> list[ProviderServer]:
        return [self.openai, self.anthropic, self.gemini, self.deepseek, self.google_token, self.bigquery,
                self.azure_login, self.azure_arm]  # fmt: skip

    @property
    def openai_url(self) -> str:  # settings.openai_base_url includes /v1
        return self.openai.url + "/v1"

    @property
    def anthropic_url(self) -> str:  # settings.anthropic_base_url has no /v1
        return self.anthropic.url

    @property
    def gemini_url(self) -> str:  # settings.gemini_base_url has no version
        return self.gemini.url

    @property
    def deepseek_url(self) -> str:  # settings.deepseek_base_url has no /v1
        return self.deepseek.url

    @property
    def token_url(self) -> str:  # settings.gcp_token_uri: the full token endpoint
        return self.google_token.url + "/token"

    @property
    def bigquery_url(self) -> str:  # settings.bigquery_api_url includes /bigquery/v2
        return self.bigquery.url + "/bigquery/v2"

    @property
    def azure_authority_url(self) -> str:  # settings.azure_authority_host: the root, tenants below it
        return self.azure_login.url

    @property
    def azure_management_url(self) -> str:  # settings.azure_management_url: ARM's root
        return self.azure_arm.url

    def azure_principal(self, scenario: str = "valid", scope: str | None = None) -> tuple[dict[str, str], str]:
        """A fresh service principal registered with `scenario` (tests/support/provider_servers/azure.py):
        (the credential a setup takes, its Cost Management scope)."""
        self.azure_login.state["audience"] = self.azure_management_url  # the token's resource
        credential, scope = register(self.azure_login.state, scenario, scope)
        self.azure_login.set(credential["client_secret"], scenario)  # a secret in a URL is caught
        return credential, scope

    def azure_scenario(self, credential: dict[str, str], scenario: str) -> None:
        """What Entra ID and ARM now answer for a registered principal (a secret that expired since...)."""
        app = self.azure_login.state["tenants"][credential["tenant_id"]][credential["client_id"]]
        app["secrets"][credential["client_secret"]] = scenario

    def gcp_service_account(self, scenario: str = "valid", **kwargs: Any) -> dict[str, Any]:
        """A fresh key file whose token_uri is the local endpoint, registered with `scenario`."""
        from cryptography.hazmat.primitives.serialization import load_pem_private_key

        info = service_account_info(token_uri=self.token_url, **kwargs)
        public_key = load_pem_private_key(info["private_key"].encode(), None).public_key()
        accounts = self.google_token.state.setdefault("accounts", {})
        accounts[info["private_key_id"]] = {
            "email": info["client_email"], "project_id": info["project_id"], "public_key": public_key, "scenario": scenario,
        }  # fmt: skip
        return info

    def start(self) -> "ProviderServers":
        for server in self.all:
            server.start()
        return self

    def stop(self) -> None:
        for server in self.all:
            server.stop()

    def reset(self) -> None:
        for server in self.all:
            server.reset()

    def __enter__(self) -> "ProviderServers":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def settings(self, **overrides: Any) -> Settings:
        return settings_for(self, **overrides)


def settings_for(servers: ProviderServers, **overrides: Any) -> Settings:
    """Settings pointing every provider at the local servers, with small timeouts and backoff."""
    values: dict[str, Any] = {
        "openai_base_url": servers.openai_url,
        "anthropic_base_url": servers.anthropic_url,
        "gemini_base_url": servers.gemini_url,
        "deepseek_base_url": servers.deepseek_url,
        "provider_timeout_seconds": 0.5,
        "provider_max_attempts": 3,
        "provider_backoff_seconds": 0.01,
        "gcp_token_uri": servers.token_url,
        "bigquery_api_url": servers.bigquery_url,
        "azure_authority_host": servers.azure_authority_url,
        "azure_management_url": servers.azure_management_url,
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture(scope="session")
def _provider_servers_session() -> Iterator[ProviderServers]:
    with ProviderServers() as servers:
        yield servers


@pytest.fixture
def provider_servers(_provider_servers_session: ProviderServers) -> Iterator[ProviderServers]:
    """The fake providers, with no scenarios and no recorded requests at the start of each test."""
    _provider_servers_session.reset()
    yield _provider_servers_session
    _provider_servers_session.reset()
