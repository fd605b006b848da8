"""The use cases on real parts, as the unit tests of the service build them: a SQLite store and
a local keyring in a temporary directory, the local provider servers over HTTP, and a
recording queue (the queue adapters have their own contract suite), so a test sees exactly
which validation messages were published. Fixtures: tests/unit/conftest.py.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Iterator

import pytest

from shared.container import Services, build_service
from shared.domain.models import utcnow
from shared.ports import ValidationResult
from tests.support.doubles import RecordingQueue
from tests.support.provider_servers import (
    ProviderServers,
    anthropic_key,
    deepseek_key,
    gemini_key,
    openai_key,
    settings_for,
)

ORG = "acme_corp"
# What a valid regular OpenAI key (world.key("openai")) says on an active integration.
INFERENCE_ONLY = (
    "Valid: reads no costs (inference only); for costs, "
    "create an Admin key (sk-admin-...) at platform.openai.com/settings/organization/admin-keys"
)
SAAS_CONFIG = {"plan": "Business", "seats": 12, "monthly_cost": 99.0, "currency": "USD", "billing_cycle": "monthly"}


class Clock:
    """The service's clock in tests: real time, until a test sets it."""

    def __init__(self) -> None:
        self.fixed: datetime | None = None

    def __call__(self) -> datetime:
        return self.fixed or utcnow()

    def set(self, when: datetime | None) -> None:
        self.fixed = when


@dataclass
class World:
    service: Services
    queue: RecordingQueue
    servers: ProviderServers
    data_dir: Path
    api_key: str
    clock: Clock = field(default_factory=Clock)
    actor: Any = None
    keys: list[str] = field(default_factory=list)

    # -- keys, registered with the fake providers
    def key(self, provider: str = "openai", scenario: str = "valid") -> str:
        make = {"openai": openai_key, "anthropic": anthropic_key, "gemini": gemini_key, "deepseek": deepseek_key}
        value = make[provider]()
        getattr(self.servers, provider).set(value, scenario)
        self.keys.append(value)
        return value

    def scenario(self, provider: str, key: str, scenario: str) -> None:
        getattr(self.servers, provider).set(key, scenario)

    # -- shortcuts
    def setup(self, provider: str = "openai", credential: Any = None, **kwargs: Any) -> dict[str, Any]:
        body = kwargs.pop("body", None) or {"credential": credential}
        return self.service.setups.setup(self.actor, provider, body, **kwargs)

    def active(self, provider: str = "openai", scenario: str = "valid") -> str:
        key = self.key(provider, scenario)
        assert self.setup(provider, key, wait=True)["status"] == "active"
        return key

    def get(self, provider: str = "openai") -> dict[str, Any]:
        return self.service.integrations.get(self.actor, provider)

    def stored(self, provider: str = "openai"):
        return self.service.store.get_integration(self.actor.org, provider)

    def credential_rows(self) -> list[Any]:
        return self.service.store.list_credentials(None, 1000)

    def deliver_last(self, attempt: int = 1) -> str:
        return self.service.messages.handle(self.queue.messages[-1], attempt)

    def events(self, provider: str = "openai", **kw: Any) -> list[dict[str, Any]]:
        return self.service.integrations.events(self.actor, provider, **kw)["events"]

    def status_events(self) -> list[dict[str, Any]]:
        path = self.data_dir / "status-events.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []

    def everything_on_disk(self) -> bytes:
        return b"".join(p.read_bytes() for p in self.data_dir.rglob("*") if p.is_file())


@pytest.fixture
def servers(_service_env_servers: ProviderServers) -> Iterator[ProviderServers]:
    _service_env_servers.reset()
    yield _service_env_servers
    _service_env_servers.reset()


def build_world(
    servers: ProviderServers,
    data_dir: Path,
    *,
    org: str = ORG,
    cipher: Any = None,
    store: Any = None,
    validators: Any = None,
    status_events: Any = None,
    **settings: Any,
) -> World:
    """The one way a test builds the use cases in process: settings pointing at the provider
    stand-ins, a recording queue, a settable clock, and an org with its actor."""
    values = {"validation_rate_limit": "100/600", "provider_timeout_seconds": 1.0, **settings}
    queue, clock = RecordingQueue(), Clock()
    given = {"cipher": cipher, "store": store, "validators": validators, "status_events": status_events}
    service = build_service(
        settings_for(servers, data_dir=data_dir, **values),
        queue=queue,
        clock=clock,
        **{k: v for k, v in given.items() if v is not None},
    )
    api_key = service.orgs.create_org(org)
    world = World(service, queue, servers, data_dir, api_key, clock)
    world.actor = service.orgs.authenticate(api_key, org)
    return world


@pytest.fixture
def make_world(tmp_path: Path, servers: ProviderServers):
    made: list[World] = []

    def make(**overrides: Any) -> World:
        made.append(build_world(servers, tmp_path / f"data{len(made)}", **overrides))
        return made[-1]

    yield make
    for world in made:
        world.service.store.close()


@pytest.fixture
def world(make_world) -> World:
    return make_world()


def fingerprint(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:8]


def assert_catalogue(message: str | None, base: str) -> None:
    assert message is not None and (message == base or message.startswith(base + ": ")), message


class Spy:
    """The real validator, counting the expensive key check; optionally exploding on validate."""

    def __init__(self, inner: Any, explode: bool = False) -> None:
        self.inner, self.explode, self.key_checks = inner, explode, 0

    def check_format(self, credential: Any, config: dict[str, Any]) -> None:
        self.inner.check_format(credential, config)

    def check_key(self, credential: Any, config: dict[str, Any]) -> None:
        self.key_checks += 1
        self.inner.check_key(credential, config)

    def validate(self, credential: Any, config: dict[str, Any]) -> ValidationResult:
        if self.explode:
            raise RecursionError("maximum recursion depth exceeded")
        return self.inner.validate(credential, config)


def spied(make_world, explode: bool = False, **settings: Any) -> tuple[World, Spy]:
    spies: list[Spy] = []
    real: dict[str, Any] = {}

    def validators(name: str) -> Any:
        if name not in real:
            from shared.validators import get_validator

            real[name] = get_validator(name, world.service.settings)
            if name == "gcp":
                spies.append(Spy(real[name], explode))
        return spies[0] if name == "gcp" else real[name]

    world = make_world(validators=validators, **settings)
    validators("gcp")
    return world, spies[0]


def busy_history(world: World) -> str:
    key = world.active("openai")
    world.service.setups.validate(world.actor, "openai")
    world.service.integrations.disable(world.actor, "openai")
    world.service.integrations.enable(world.actor, "openai")
    world.deliver_last()
    world.service.integrations.edit(world.actor, "openai", {"name": "renamed"})
    return key
