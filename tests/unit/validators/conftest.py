from __future__ import annotations

from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from shared.domain.models import Credential
from shared.validators import get_validator
from tests.support.provider_servers import _provider_servers_session, provider_servers  # noqa: F401 - fixtures

__all__ = ["_provider_servers_session", "provider_servers"]


def api_key(value: str) -> Credential:
    return Credential(secret=SecretStr(value), kind="api_key")


@pytest.fixture
def make_validator(provider_servers) -> Iterator:  # noqa: F811
    """Build a validator pointed at the local servers; closed after the test."""
    made = []

    def build(name: str, **overrides):
        validator = get_validator(name, provider_servers.settings(**overrides))
        made.append(validator)
        return validator

    yield build
    for validator in made:
        validator.close()
