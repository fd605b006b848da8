"""BigQuery-only guarantees of the Store, on bqemulator: what the contract suite cannot see.

- no streaming inserts, ever (rows in the streaming buffer cannot be updated or deleted);
- every value travels as a query parameter, never inside the SQL text;
- init_store is idempotent and creates the tables the schema files describe, clustered;
- BigQuery's concurrent-update error is retried; other errors become StoreError.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any, Iterator

import pytest
from google.api_core import exceptions as gexc

from shared.adapters.bigquery_store import CLUSTERING, SCHEMA_DIR, TABLES, BigQueryStore
from shared.domain.errors import ConflictError, StoreError
from shared.domain.lifecycle import Status
from tests.contract.test_store_contract import T0, full_integration, make_event, make_org, make_record
from tests.support.bqemulator import PROJECT, bq_emulator, new_dataset_name  # noqa: F401 (fixture)

REPO = Path(__file__).resolve().parents[2]
CONCURRENT_MESSAGE = "Could not serialize access to table {t} due to concurrent update"


@pytest.fixture
def bq_store(bq_emulator: str) -> Iterator[BigQueryStore]:
    store = BigQueryStore(PROJECT, new_dataset_name("it"), emulator_host=bq_emulator, backoff_seconds=0.01)
    store.init_store()
    yield store
    store.client.delete_dataset(f"{PROJECT}.{store.dataset}", delete_contents=True, not_found_ok=True)


class QueryRecorder:
    """Wraps client.query: records each SQL text and its parameters; can fail the first N calls."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.real_query = client.query
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.fail_on_query: list[Exception] = []
        self.fail_on_result: list[Exception] = []
        client.query = self.query

    def query(self, sql: str, job_config: Any = None, **kwargs: Any) -> Any:
        params = {p.name: getattr(p, "value", getattr(p, "values", None)) for p in job_config.query_parameters}
        self.calls.append((sql, params))
        if self.fail_on_query:
            raise self.fail_on_query.pop(0)
        if self.fail_on_result:
            return FailedJob(self.fail_on_result.pop(0))  # the job ran and lost: nothing committed
        return self.real_query(sql, job_config=job_config, **kwargs)


class FailedJob:
    """A query job BigQuery accepted and then failed (how the concurrent-update error usually arrives)."""

    num_dml_affected_rows = None

    def __init__(self, error: Exception) -> None:
        self.error = error

    def result(self, *_a: Any, **_k: Any) -> Any:
        raise self.error


def run_full_flow(store: BigQueryStore) -> None:
    """Every Store method, the way the service uses them."""
    store.create_org(make_org("acme", key="test-key"))
    assert store.get_org("acme") is not None
    assert store.find_org_by_key_hash(make_org("acme", key="test-key").api_key_hash) is not None
    stored = store.insert_integration(full_integration(provider="gcp"))
    store.put_credential(make_record(provider="gcp", credential_id="c-1", ciphertext=bytes(range(256))))
    store.put_credential(make_record(provider="gcp", credential_id="c-2"))
    updated = store.update_integration(stored.model_copy(update={"status": Status.ACTIVE}), expected_revision=1)
    assert store.try_record_attempt("acme", "gcp", T0, 600, 5).allowed is True
    store.append_event(make_event(T0, "e1", provider="gcp", details={"k": "v"}))
    assert [e.id for e in store.list_events("acme", "gcp", limit=5, before=(T0 + timedelta(seconds=1), "z"))] == ["e1"]
    assert store.replace_ciphertext(make_record(provider="gcp", credential_id="c-1", ciphertext=b"new"),
                                    old_ciphertext=bytes(range(256))) is True
    assert len(store.list_credentials(None, limit=10)) == 2
    assert store.delete_credential("acme", "gcp", "c-2") is True
    assert store.delete_credentials("acme", "gcp", keep=frozenset({"c-9"}), created_before=T0 + timedelta(days=1)) == 1
    assert [i.provider for i in store.list_integrations("acme")] == ["gcp"]
    assert len(store.list_integrations_by_status("active")) == 1
    store.delete_integration("acme", "gcp", expected_revision=updated.revision)
    assert store.get_integration("acme", "gcp") is None


def test_the_store_never_streams(bq_store: BigQueryStore):
    client = bq_store.client

    def forbidden(*_a: Any, **_k: Any) -> None:
        raise AssertionError("streaming insert used: rows in the streaming buffer cannot be updated or deleted")

    streaming = [name for name in dir(client) if name.startswith("insert_rows")]
    assert {"insert_rows", "insert_rows_json"} <= set(streaming)
    for name in streaming:
        setattr(client, name, forbidden)
    for name in ("load_table_from_json", "load_table_from_dataframe", "load_table_from_file"):
        setattr(client, name, forbidden)
    recorder = QueryRecorder(client)

    run_full_flow(bq_store)

    verbs = {sql.split()[0].upper() for sql, _ in recorder.calls}
    assert verbs <= {"SELECT", "INSERT", "MERGE", "UPDATE", "DELETE"}
    assert {"INSERT", "MERGE", "UPDATE", "DELETE"} <= verbs  # the writes really were DML jobs


def test_values_are_always_query_parameters(bq_store: BigQueryStore):
    recorder = QueryRecorder(bq_store.client)
    sneaky = "acme'; DROP TABLE org_integrations; --"
    bq_store.create_org(make_org(sneaky))
    assert bq_store.get_org(sneaky).slug == sneaky
    run_full_flow(bq_store)
    for sql, params in recorder.calls:
        assert "acme" not in sql and "gcp" not in sql and "c-1" not in sql, sql
    # and every query that can filters on org_slug (the clustering column)
    unfiltered = [sql for sql, _ in recorder.calls if "org_slug = @org" not in sql]
    # a plain INSERT reads nothing; the rest are the by-design cross-org reads
    cross_org = ("INSERT INTO", "api_key_hash = @hash", "status = @status", "ORDER BY org_slug, provider, credential_id")
    assert [s for s in unfiltered if not any(marker in s for marker in cross_org)] == []


def test_init_store_is_idempotent_and_keeps_rows(bq_store: BigQueryStore):
    bq_store.create_org(make_org("acme"))
    bq_store.init_store()
    bq_store.init_store()
    assert bq_store.get_org("acme") is not None
    tables = {t.table_id for t in bq_store.client.list_tables(f"{PROJECT}.{bq_store.dataset}")}
    assert tables == set(TABLES)


def test_tables_match_the_schema_files_and_are_clustered(bq_store: BigQueryStore):
    assert sorted(p.stem for p in SCHEMA_DIR.glob("*.json")) == sorted(TABLES)
    for name in TABLES:
        table = bq_store.client.get_table(f"{PROJECT}.{bq_store.dataset}.{name}")
        expected = json.loads((SCHEMA_DIR / f"{name}.json").read_text())
        legacy = {"INT64": "INTEGER"}  # the API may answer with the legacy type names
        assert [(f.name, legacy.get(f.field_type, f.field_type), f.mode) for f in table.schema] == [
            (c["name"], legacy.get(c["type"], c["type"]), c["mode"]) for c in expected
        ]
        assert table.clustering_fields == CLUSTERING[name]
        columns = {c["name"] for c in expected}
        if {"org_slug", "provider"} <= columns:
            assert table.clustering_fields == ["org_slug", "provider"]
    assert CLUSTERING["org_api_keys"] == ["api_key_hash"]


@pytest.mark.parametrize("where", ["query", "result"])
@pytest.mark.parametrize("error_class", [gexc.BadRequest, gexc.Conflict])
def test_concurrent_update_error_is_retried(bq_store: BigQueryStore, where: str, error_class: type):
    stored = bq_store.insert_integration(full_integration(provider="gcp"))
    recorder = QueryRecorder(bq_store.client)
    error = error_class(CONCURRENT_MESSAGE.format(t=f"{PROJECT}:{bq_store.dataset}.org_integrations"))
    (recorder.fail_on_query if where == "query" else recorder.fail_on_result).append(error)

    updated = bq_store.update_integration(stored.model_copy(update={"status": Status.ACTIVE}), expected_revision=1)

    assert updated.revision == 2
    assert [sql.split()[0] for sql, _ in recorder.calls] == ["UPDATE", "UPDATE"]
    assert bq_store.get_integration("acme", "gcp").status is Status.ACTIVE


def test_endless_concurrent_updates_end_in_a_conflict_not_a_hang(bq_emulator: str):
    store = BigQueryStore(PROJECT, new_dataset_name("it"), emulator_host=bq_emulator, max_attempts=3, backoff_seconds=0)
    recorder = QueryRecorder(store.client)
    recorder.fail_on_query += [gexc.BadRequest(CONCURRENT_MESSAGE.format(t="x")) for _ in range(3)]
    with pytest.raises(ConflictError):
        store.get_org("acme")
    assert len(recorder.calls) == 3


def test_backend_errors_become_store_errors(bq_emulator: str):
    missing = BigQueryStore(PROJECT, new_dataset_name("never_created"), emulator_host=bq_emulator)
    with pytest.raises(StoreError) as caught:
        missing.get_integration("acme", "gcp")
    assert not isinstance(caught.value, ConflictError)
    assert isinstance(caught.value.__cause__, gexc.GoogleAPICallError)


def test_emulator_host_without_scheme_gets_http(bq_emulator: str):
    bare = bq_emulator.removeprefix("http://")
    store = BigQueryStore(PROJECT, new_dataset_name("it"), emulator_host=bare)
    store.init_store()
    try:
        store.create_org(make_org("acme"))
        assert store.get_org("acme").slug == "acme"
    finally:
        store.client.delete_dataset(f"{PROJECT}.{store.dataset}", delete_contents=True, not_found_ok=True)


@pytest.mark.parametrize("project, dataset", [("p", "bad-name"), ("p", "x`; DROP"), ("Bad Project", "ok")])
def test_identifiers_that_would_reach_sql_text_are_rejected(project: str, dataset: str):
    with pytest.raises(StoreError):
        BigQueryStore(project, dataset, emulator_host="http://127.0.0.1:9")


def test_importing_the_adapter_does_not_import_the_client_library():
    code = (
        "import sys, shared.adapters.bigquery_store\n"
        "assert 'google.cloud.bigquery' not in sys.modules, 'eager import'\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True, timeout=60)


def test_expired_attempts_are_swept_and_the_gate_row_is_never_counted(bq_store: BigQueryStore, monkeypatch):
    import shared.adapters.bigquery_store as module

    monkeypatch.setattr(module, "SWEEP_ONE_IN", 1)  # sweep on every call
    assert [bq_store.try_record_attempt("acme", "gcp", T0, 60, 2).allowed for _ in range(3)] == [True, True, False]
    later = T0 + timedelta(seconds=61)
    assert [bq_store.try_record_attempt("acme", "gcp", later, 60, 2).allowed for _ in range(3)] == [True, True, False]

    rows = list(bq_store.client.query(
        f"SELECT attempt_id, `at` FROM `{PROJECT}.{bq_store.dataset}.validation_attempts` ORDER BY attempt_id"
    ).result())
    attempts = [r for r in rows if r["attempt_id"] != module.GATE_ID]
    assert len(attempts) == 2 and all(r["at"] == later for r in attempts)  # the T0 ones are gone
    assert [r["attempt_id"] for r in rows].count(module.GATE_ID) == 1
