"""Fixtures shared by the quality suites: fake providers and a live server per module."""

from __future__ import annotations

from typing import Iterator

import pytest

from tests.support.provider_servers import ProviderServers


@pytest.fixture(scope="module")
def providers() -> Iterator[ProviderServers]:
    """Fake providers for one module (their own ports; reset is the module's business)."""
    servers = ProviderServers().start()
    yield servers
    servers.stop()
