"""Lone first-time inserts of orgs and ciphertexts on BigQuery stay unique under concurrent
writers (claim, then confirm). Integrations are inserted otherwise (one statement serialized on
the org's gate row): tests/integration/test_bigquery_gates.py.

On real BigQuery an insert-only statement never conflicts, so two writers that both find no
row both insert one. The emulator runs statements one at a time and cannot show that race by
itself, so these tests force it: two stores (two function instances) are held at a barrier
right after their claim statements, so both claims are committed before either confirms,
which is exactly the interleaving real BigQuery allows. Exactly one writer must win, the
other must get ConflictError, and one row must remain.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Iterator

import pytest
from google.api_core import exceptions as gexc

from shared.adapters.bigquery_store import BigQueryStore
from shared.domain.errors import ConflictError
from tests.contract.test_store_contract import make_org, make_record
from tests.support.bqemulator import PROJECT, bq_emulator, new_dataset_name  # noqa: F401 (fixture)

CONCURRENT = "Could not serialize access to table {t} due to concurrent update"


@pytest.fixture
def dataset(bq_emulator: str) -> Iterator[str]:  # noqa: F811
    name = new_dataset_name("uniq")
    store = BigQueryStore(PROJECT, name, emulator_host=bq_emulator)
    store.init_store()
    yield name
    store.client.delete_dataset(f"{PROJECT}.{name}", delete_contents=True, not_found_ok=True)
    store.close()


@pytest.fixture
def make_store(bq_emulator: str, dataset: str) -> Iterator[Callable[[], BigQueryStore]]:  # noqa: F811
    made: list[BigQueryStore] = []

    def make() -> BigQueryStore:
        store = BigQueryStore(PROJECT, dataset, emulator_host=bq_emulator, backoff_seconds=0.01)
        made.append(store)
        return store

    yield make
    for store in made:
        store.close()


def pause_after_claims(store: BigQueryStore, barrier: threading.Barrier) -> list[str]:
    """Hold this store after each claim statement has committed, until the other writer's has too."""
    real_query = store.client.query_and_wait
    seen: list[str] = []

    def query(sql: str, job_config: Any = None, **kwargs: Any) -> Any:
        seen.append(sql)
        done = real_query(sql, job_config=job_config, **kwargs)  # committed when it returns
        if sql.lstrip().startswith("MERGE") and "WHEN NOT MATCHED THEN INSERT" in sql:
            barrier.wait(timeout=20)
        return done

    store.client.query_and_wait = query
    return seen


def raw_rows(store: BigQueryStore, table: str) -> list[dict[str, Any]]:
    """Every row, claims included, as the table holds them."""
    rows = store.client.query(f"SELECT * FROM `{PROJECT}.{store.dataset}.{table}`").result()
    return [dict(row.items()) for row in rows]


# kind -> (table, insert(store, n) for writer n, read back the winner)
KINDS: dict[str, tuple[str, Callable[[BigQueryStore, int], Any], Callable[[BigQueryStore], Any]]] = {
    "org": (
        "org_api_keys",
        lambda store, n: store.create_org(make_org("acme").model_copy(update={"api_key_id": f"kid_writer_{n}"})),
        lambda store: store.get_org("acme"),
    ),
    "credential": (
        "org_credentials",
        lambda store, n: store.put_credential(make_record(credential_id="cred-1", ciphertext=b"writer %d" % n)),
        lambda store: store.get_credential("acme", "openai", "cred-1"),
    ),
}


def race(stores: list[BigQueryStore], insert: Callable[[BigQueryStore, int], Any]) -> list[str]:
    def run(n: int) -> str:
        try:
            insert(stores[n], n)
            return "won"
        except ConflictError:
            return "conflict"

    with ThreadPoolExecutor(len(stores)) as pool:
        return list(pool.map(run, range(len(stores))))


@pytest.mark.parametrize("kind", KINDS)
def test_two_writers_that_both_claimed_leave_one_winner_and_one_row(kind: str, make_store) -> None:
    table, insert, read = KINDS[kind]
    barrier = threading.Barrier(2)
    stores = [make_store(), make_store()]
    for store in stores:
        pause_after_claims(store, barrier)

    outcomes = race(stores, insert)

    assert sorted(outcomes) == ["conflict", "won"], outcomes
    rows = raw_rows(stores[0], table)
    assert len(rows) == 1, "the loser's claim was deleted and no claim was confirmed twice"
    winner = outcomes.index("won")
    found = read(make_store())
    if kind == "org":
        assert found.api_key_id == f"kid_writer_{winner}" == rows[0]["api_key_id"]
    else:
        assert found.ciphertext == b"writer %d" % winner and not found.key_version.startswith("claim:")


def test_a_lost_confirm_race_is_rerun_on_a_fresh_snapshot(make_store) -> None:
    """BigQuery fails one of two confirms touching the same claim; the rerun then sees the winner."""
    store = make_store()
    real_query = store.client.query_and_wait
    failures = [gexc.BadRequest(CONCURRENT.format(t="org_credentials"))]
    confirms: list[str] = []

    def query(sql: str, job_config: Any = None, **kwargs: Any) -> Any:
        if sql.lstrip().startswith("UPDATE") and "NOT EXISTS" in sql:
            confirms.append(sql)
            if failures:
                raise failures.pop(0)
        return real_query(sql, job_config=job_config, **kwargs)

    store.client.query_and_wait = query
    store.put_credential(make_record())

    assert len(confirms) == 2 and store.get_credential("acme", "openai", "c-1") == make_record()


def test_claim_markers_never_reach_a_reader(make_store) -> None:
    store = make_store()
    store.create_org(make_org("acme"))
    store.put_credential(make_record())
    org = store.get_org("acme")
    assert org is not None and not org.api_key_id.startswith("claim:")
    assert store.find_org_by_key_hash(org.api_key_hash) == org
    (record,) = store.list_credentials(None, 10)
    assert not record.key_version.startswith("claim:")
