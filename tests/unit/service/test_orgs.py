"""Organisations and their API keys (shared/service/orgs.py).

On real parts (tests/support/world.py): SQLite and a local keyring in a temporary directory, the
provider stand-ins over HTTP, a recording queue.
"""

from __future__ import annotations

import hashlib
import pytest
from shared.domain.errors import (
    BadRequestError,
    ForbiddenError,
    UnauthorizedError,
)
import pytest
from shared.domain.errors import (
    BadRequestError,
)
from tests.support.world import ORG, World


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


# -- verified keys kept per instance (30 s on BigQuery) ----------------------------------


class CountingStore:
    """The world's store, counting key lookups."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.lookups = 0

    def find_org_by_key_hash(self, key_hash: str):
        self.lookups += 1
        return self.inner.find_org_by_key_hash(key_hash)

    def __getattr__(self, name: str):
        return getattr(self.inner, name)


class Ticks:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def instance(world: World, ttl: float, ticks: Ticks | None = None):
    """Another function instance on the same store: its own Orgs, its own verified keys."""
    from shared.service.org_keys import VerifiedKeys
    from shared.service.orgs import Orgs

    store = CountingStore(world.service.store)
    orgs = Orgs(store, world.clock, key_ttl=ttl)
    if ticks is not None:
        orgs._verified = VerifiedKeys(ttl, now=ticks)
    return orgs, store


def test_a_verified_key_is_not_looked_up_again_within_the_ttl_and_is_after_it(world: World) -> None:
    ticks = Ticks()
    orgs, store = instance(world, 30, ticks)
    assert [orgs.authenticate(world.api_key, ORG).org for _ in range(5)] == [ORG] * 5
    assert store.lookups == 1
    ticks.now += 30
    orgs.authenticate(world.api_key, ORG)
    assert store.lookups == 2


def test_wrong_keys_are_never_kept_and_a_kept_key_still_answers_403_for_another_org(world: World) -> None:
    orgs, store = instance(world, 30)
    for _ in range(3):
        with pytest.raises(UnauthorizedError):
            orgs.authenticate(world.api_key + "x", ORG)
    assert store.lookups == 3
    orgs.authenticate(world.api_key, ORG)
    with pytest.raises(ForbiddenError):
        orgs.authenticate(world.api_key, "other_org")
    assert store.lookups == 4


@pytest.mark.parametrize("action", ["rotate", "revoke"])
def test_rotate_and_revoke_take_effect_at_once_on_the_instance_that_does_it(world: World, action: str) -> None:
    orgs, _ = instance(world, 30)
    orgs.authenticate(world.api_key, ORG)
    new_key = orgs.rotate_org_key(ORG) if action == "rotate" else orgs.revoke_org_key(ORG)
    with pytest.raises(UnauthorizedError):
        orgs.authenticate(world.api_key, ORG)
    if new_key:
        assert orgs.authenticate(new_key, ORG).org == ORG


def test_another_instance_stops_accepting_a_revoked_key_within_the_ttl(world: World) -> None:
    ticks = Ticks()
    serving, _ = instance(world, 30, ticks)
    serving.authenticate(world.api_key, ORG)
    operator, _ = instance(world, 30)  # the CLI: a process of its own
    operator.revoke_org_key(ORG)

    ticks.now += 29.9
    assert serving.authenticate(world.api_key, ORG).org == ORG  # the documented window
    ticks.now += 0.1
    with pytest.raises(UnauthorizedError):
        serving.authenticate(world.api_key, ORG)


def test_no_key_is_kept_on_sqlite_and_30_s_on_bigquery(world: World) -> None:
    from shared.container import build_service
    from shared.service.orgs import KEY_TTL_SECONDS

    assert world.service.orgs._verified is None  # SQLite: a lookup costs microseconds
    orgs, store = instance(world, 0)
    orgs.authenticate(world.api_key, ORG)
    orgs.authenticate(world.api_key, ORG)
    assert store.lookups == 2
    bigquery = build_service(world.service.settings.model_copy(update={"store_backend": "bigquery"}), store=store)
    assert KEY_TTL_SECONDS == 30 and bigquery.orgs._verified is not None


def test_the_kept_keys_are_bounded() -> None:
    from datetime import datetime, timezone

    from shared.domain.models import Org
    from shared.service.org_keys import VerifiedKeys

    keys = VerifiedKeys(30, size=3)
    at = datetime(2026, 1, 1, tzinfo=timezone.utc)
    for n in range(5):
        keys.put(f"h{n}", Org(slug=f"org_{n}", api_key_id="k", api_key_hash=f"h{n}", created_at=at))
    assert [keys.get(f"h{n}") is not None for n in range(5)] == [False, False, True, True, True]
