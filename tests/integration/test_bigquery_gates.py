"""shared/adapters/bigquery_store/gates.py on bqemulator: first inserts of an integration are one
statement, unique under concurrent writers because each also updates the org's gate row.

On BigQuery two statements that update a common row cannot both commit: one fails with
"concurrent update" and is rerun on a fresh snapshot (dataset.py). The emulator runs one
statement at a time, so these tests check what that guarantee needs: an insert does update the
gate, a rerun after a lost race sees the winner, a refused insert changes nothing, and no
reader ever sees a gate. Gates exist from create_org on, and init_store makes those of orgs
created before them.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any, Callable, Iterator

import pytest
from google.api_core import exceptions as gexc

from shared.adapters.bigquery_store import BigQueryStore
from shared.domain.errors import ConflictError
from shared.domain.lifecycle import Status
from tests.contract.test_store_contract import T0, make_integration, make_org
from tests.support.bqemulator import PROJECT, bq_emulator, new_dataset_name  # noqa: F401 (fixture)

CONCURRENT = "Could not serialize access to table {t} due to concurrent update"


@pytest.fixture
def make_store(bq_emulator: str) -> Iterator[Callable[[], BigQueryStore]]:  # noqa: F811
    name = new_dataset_name("gate")
    made: list[BigQueryStore] = []

    def make() -> BigQueryStore:
        store = BigQueryStore(PROJECT, name, emulator_host=bq_emulator, backoff_seconds=0.01)
        made.append(store)
        return store

    first = make()
    first.init_store()
    yield make
    first.client.delete_dataset(f"{PROJECT}.{name}", delete_contents=True, not_found_ok=True)
    for store in made:
        store.close()


def raw(store: BigQueryStore, table: str, where: str = "TRUE") -> list[dict[str, Any]]:
    found = store.client.query(f"SELECT * FROM `{PROJECT}.{store.dataset}.{table}` WHERE {where}").result()
    return [dict(row.items()) for row in found]


def gates(store: BigQueryStore, table: str = "org_integrations") -> list[dict[str, Any]]:
    return raw(store, table, "provider = ''")


def test_create_org_makes_both_gates_once(make_store) -> None:
    store = make_store()
    store.create_org(make_org("acme"))
    with pytest.raises(ConflictError):
        store.create_org(make_org("acme"))
    assert [(g["org_slug"], g["revision"]) for g in gates(store)] == [("acme", 0)]
    assert [(g["org_slug"], g["attempt_id"]) for g in gates(store, "validation_attempts")] == [("acme", "__gate__")]


def test_init_store_makes_the_gates_of_orgs_created_before_them(make_store) -> None:
    store = make_store()
    store.client.query(  # an org as an earlier release stored it: no gates
        f"INSERT INTO `{PROJECT}.{store.dataset}.org_api_keys` (org_slug, api_key_id, api_key_hash, created_at) "
        "VALUES ('legacy', 'kid', 'hash', CURRENT_TIMESTAMP())"
    ).result()
    store.init_store()
    store.init_store()
    assert [g["org_slug"] for g in gates(store)] == ["legacy"]
    assert [g["org_slug"] for g in gates(store, "validation_attempts")] == ["legacy"]


def test_an_insert_updates_the_gate_and_a_refused_one_changes_nothing(make_store) -> None:
    store = make_store()
    store.create_org(make_org("acme"))
    item = make_integration(updated_at=T0 + timedelta(hours=1))
    store.insert_integration(item)
    (gate,) = gates(store)
    assert gate["updated_at"] == item.updated_at, "the insert must update the gate: what BigQuery serializes"

    with pytest.raises(ConflictError):
        store.insert_integration(make_integration(name="late", updated_at=T0 + timedelta(hours=2)))
    assert gates(store) == [gate]
    assert [r["name"] for r in raw(store, "org_integrations", "provider != ''")] == ["OpenAI"]


def test_an_org_without_a_gate_gets_one_from_its_first_insert(make_store) -> None:
    store = make_store()
    store.insert_integration(make_integration())
    assert [g["org_slug"] for g in gates(store)] == ["acme"]
    store.insert_integration(make_integration(provider="gcp"))
    assert len(gates(store)) == 1


def test_an_insert_that_lost_a_race_is_rerun_and_sees_the_winner(make_store) -> None:
    loser, winner = make_store(), make_store()
    loser.create_org(make_org("acme"))
    real_query = loser.client.query_and_wait
    lost = []

    def query(sql: str, job_config: Any = None, **kwargs: Any) -> Any:
        if sql.lstrip().startswith("MERGE") and "org_integrations" in sql and not lost:
            winner.insert_integration(make_integration(name="winner"))  # commits while this one runs
            lost.append(sql)
            raise gexc.BadRequest(CONCURRENT.format(t="org_integrations"))
        return real_query(sql, job_config=job_config, **kwargs)

    loser.client.query_and_wait = query
    with pytest.raises(ConflictError):
        loser.insert_integration(make_integration(name="loser"))
    assert len(lost) == 1
    assert [r["name"] for r in raw(loser, "org_integrations", "provider != ''")] == ["winner"]


def test_many_writers_at_once_leave_exactly_one_integration(make_store) -> None:
    make_store().create_org(make_org("acme"))
    stores = [make_store() for _ in range(6)]

    def insert(n: int) -> str:
        try:
            stores[n].insert_integration(make_integration(name=f"writer {n}"))
            return "won"
        except ConflictError:
            return "conflict"

    with ThreadPoolExecutor(6) as pool:
        outcomes = list(pool.map(insert, range(6)))
    assert outcomes.count("won") == 1 and outcomes.count("conflict") == 5, outcomes
    assert len(raw(stores[0], "org_integrations", "provider != ''")) == 1


def test_gates_and_old_claims_never_reach_a_reader(make_store) -> None:
    store = make_store()
    store.create_org(make_org("acme"))
    # A writer of an earlier release that died after claiming: its row carries a negative revision.
    store.client.query(
        f"INSERT INTO `{PROJECT}.{store.dataset}.org_integrations` "
        "(org_slug, provider, category, name, status, created_at, updated_at, revision) "
        "VALUES ('acme', 'openai', 'llm', 'ghost', 'pending', CURRENT_TIMESTAMP(), CURRENT_TIMESTAMP(), -42)"
    ).result()
    assert store.get_integration("acme", "openai") is None and store.read("acme", "").integration is None
    assert store.list_integrations("acme") == []
    assert store.list_integrations_by_status("pending") == []
    assert store.list_unsettled_integrations(T0 + timedelta(days=3650)) == []

    stored = store.insert_integration(make_integration(name="alive", status=Status.PENDING))
    assert store.get_integration("acme", "openai") == stored
    assert [i.provider for i in store.list_integrations("acme")] == ["openai"]
    assert sorted(r["revision"] for r in raw(store, "org_integrations")) == [-42, 0, 1]
    assert store.try_record_attempt("acme", "openai", T0, 600, 1).allowed
    assert store.read("acme", "openai", attempts_since=T0 - timedelta(seconds=1)).attempts == 1
