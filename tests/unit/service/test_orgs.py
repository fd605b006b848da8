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
