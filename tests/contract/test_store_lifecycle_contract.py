"""The Store's lifecycle, on every adapter (the `store` fixture): what shared/ports.py declares.

Apart from test_store_contract.py, which proves the records; this proves `init_store` and
`close`, which callers (`serve`, `init-store`) now call as declared, never by `getattr`.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone

from shared.domain.models import Org
from shared.ports import Store
from tests.support.port_check import mismatches

T0 = datetime(2026, 11, 25, 10, 0, tzinfo=timezone.utc)


def _org(slug: str) -> Org:
    return Org(
        slug=slug, api_key_id=f"kid_{slug}", api_key_hash=hashlib.sha256(slug.encode()).hexdigest(), created_at=T0
    )


def test_the_store_offers_every_method_of_the_port(store) -> None:
    assert mismatches(store, Store) == []


def test_init_store_is_idempotent_and_keeps_rows(store) -> None:
    store.create_org(_org("acme"))

    store.init_store()
    store.init_store()

    assert store.get_org("acme") == _org("acme")


def test_close_is_idempotent_and_a_later_call_connects_again(store) -> None:
    store.create_org(_org("acme"))

    store.close()
    store.close()

    assert store.get_org("acme") == _org("acme")
    store.create_org(_org("globex"))
    assert store.get_org("globex") == _org("globex")
