"""Our own rate limit on provider calls (shared/service/limits.py).

On real parts (tests/support/world.py): SQLite and a local keyring in a temporary directory, the
provider stand-ins over HTTP, a recording queue.
"""

from __future__ import annotations

import pytest
from shared.domain.errors import (
    InvalidFormatError,
    InvalidTransitionError,
    NotConfiguredError,
    RateLimitedError,
)
from datetime import timedelta
import pytest
from shared.domain.errors import (
    RateLimitedError,
)
from shared.domain.models import utcnow
from tests.support.world import World


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


def test_disable_enable_cycles_and_config_edits_count_toward_the_rate_limit(make_world) -> None:
    world: World = make_world(validation_rate_limit="3/600")
    world.active("openai")  # 1
    world.service.integrations.disable(world.actor, "openai")
    world.service.integrations.enable(world.actor, "openai")  # 2
    world.service.integrations.edit(world.actor, "openai", {"config": {"project": "proj_abc"}})  # 3
    sent = len(world.queue.messages)
    with pytest.raises(RateLimitedError):
        world.service.integrations.edit(world.actor, "openai", {"config": {"project": "proj_xyz"}})
    assert world.get()["config"] == {"project": "proj_abc"}, "a refused edit changes nothing"
    world.service.integrations.disable(world.actor, "openai")
    with pytest.raises(RateLimitedError):
        world.service.integrations.enable(world.actor, "openai")
    assert world.get()["status"] == "disabled", "a refused enable changes nothing"
    assert len(world.queue.messages) == sent, "no provider call may go out past the limit"
    world.service.integrations.edit(world.actor, "openai", {"name": "Renamed"})  # no provider call: never limited


def test_retry_after_is_when_the_oldest_attempt_leaves_the_window(make_world) -> None:
    world: World = make_world(validation_rate_limit="2/600")
    start = utcnow()
    world.clock.set(start)
    world.setup("openai", world.key("openai"))
    world.clock.set(start + timedelta(seconds=100))
    world.service.setups.validate(world.actor, "openai")
    world.clock.set(start + timedelta(seconds=250))
    with pytest.raises(RateLimitedError) as refused:
        world.service.setups.validate(world.actor, "openai")
    assert refused.value.headers == {"Retry-After": "350"}
