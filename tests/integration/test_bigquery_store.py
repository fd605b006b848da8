"""BigQuery-only guarantees of the whole Store, on bqemulator: what the contract suite cannot see.

- only audit events are streamed (rows in the streaming buffer cannot be updated or deleted,
  and every other row is, sooner or later);
- no value is ever part of SQL text as written: a statement carries query parameters, a
  transaction script base64 literals (test_bigquery_sqltext.py).

The modules of shared/adapters/bigquery_store/ have their own tests: test_bigquery_dataset
(retries, errors, identifiers), test_bigquery_schema, test_bigquery_claims (unique first
inserts), test_bigquery_attempts.
"""

from __future__ import annotations

from datetime import timedelta
import re
from typing import Any

from shared.adapters.bigquery_store import BigQueryStore
from shared.domain.lifecycle import Status
from tests.contract.test_store_contract import T0, full_integration, make_event, make_org, make_record
from tests.support.bigquery_jobs import QueryRecorder, bq_store  # noqa: F401 (fixture)
from tests.support.bqemulator import bq_emulator  # noqa: F401 (fixture)


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
    assert (
        store.replace_ciphertext(
            make_record(provider="gcp", credential_id="c-1", ciphertext=b"new"), old_ciphertext=bytes(range(256))
        )
        is True
    )
    assert len(store.list_credentials(None, limit=10)) == 2
    assert store.delete_credential("acme", "gcp", "c-2") is True
    assert store.delete_credentials("acme", "gcp", keep=frozenset({"c-9"}), created_before=T0 + timedelta(days=1)) == 1
    assert [i.provider for i in store.list_integrations("acme")] == ["gcp"]
    assert len(store.list_integrations_by_status("active")) == 1
    store.delete_integration("acme", "gcp", expected_revision=updated.revision)
    assert store.get_integration("acme", "gcp") is None


def test_only_audit_events_are_streamed(bq_store: BigQueryStore):
    client = bq_store.client
    streamed: list[str] = []
    real_stream = client.insert_rows_json

    def forbidden(*_a: Any, **_k: Any) -> None:
        raise AssertionError("streaming insert used: rows in the streaming buffer cannot be updated or deleted")

    def stream(table: Any, json_rows: Any, **kwargs: Any) -> Any:
        streamed.append(str(table))
        return real_stream(table, json_rows, **kwargs)

    assert {"insert_rows", "insert_rows_json"} <= {name for name in dir(client) if name.startswith("insert_rows")}
    for name in ("insert_rows", "insert_rows_from_dataframe", "load_table_from_json", "load_table_from_dataframe"):
        setattr(client, name, forbidden)
    client.insert_rows_json = stream
    recorder = QueryRecorder(client)

    run_full_flow(bq_store)

    assert streamed and {t.rsplit(".", 1)[-1] for t in streamed} == {"audit_events"}
    verbs = {sql.split()[0].upper() for sql, _ in recorder.calls}
    assert verbs <= {"SELECT", "INSERT", "MERGE", "UPDATE", "DELETE", "BEGIN"}
    assert {"INSERT", "MERGE", "UPDATE", "DELETE"} <= verbs  # the other writes really were DML


def test_values_are_always_query_parameters(bq_store: BigQueryStore):
    recorder = QueryRecorder(bq_store.client)
    sneaky = "acme'; DROP TABLE org_integrations; --"
    bq_store.create_org(make_org(sneaky))
    assert bq_store.get_org(sneaky).slug == sneaky
    run_full_flow(bq_store)
    for sql, params in recorder.calls:
        assert "acme" not in sql and "gcp" not in sql and "c-1" not in sql, sql
    # and every query that can filters on org_slug (the clustering column), as a parameter or a literal
    org_filter = re.compile(r"org_slug = (@\w+|SAFE_CONVERT_BYTES_TO_STRING\(FROM_BASE64\('[A-Za-z0-9+/=]*'\)\))")
    unfiltered = [sql for sql, _ in recorder.calls if not org_filter.search(sql)]
    # a plain INSERT reads nothing; the rest are the by-design cross-org reads
    cross_org = (
        "INSERT INTO",
        "api_key_hash = @hash",
        "status = @status",
        "ORDER BY org_slug, provider, credential_id",
    )
    assert [s for s in unfiltered if not any(marker in s for marker in cross_org)] == []
