"""shared/adapters/bigquery_store/schema.py on bqemulator: init_store is idempotent and
creates the tables the schema files describe, clustered."""

from __future__ import annotations

import json

from shared.adapters.bigquery_store import CLUSTERING, SCHEMA_DIR, TABLES, BigQueryStore
from tests.contract.test_store_contract import make_org
from tests.support.bigquery_jobs import bq_store  # noqa: F401 (fixture)
from tests.support.bqemulator import PROJECT, bq_emulator  # noqa: F401 (fixture)


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


def test_a_table_of_an_earlier_release_gains_the_columns_added_since(bq_store: BigQueryStore):
    name = f"{PROJECT}.{bq_store.dataset}.org_integrations"
    table = bq_store.client.get_table(name)
    bq_store.client.delete_table(name)
    added = ("capabilities", "credential_expires_at", "credential_expiry_warned_at")
    older = [field for field in table.schema if field.name not in added]  # as a release before them
    bq_store.client.create_table(type(table)(name, schema=older))
    bq_store.init_store()  # ALTER TABLE ... ADD COLUMN (bqemulator keeps its old metadata: queries are the proof)
    from tests.contract.test_store_contract import full_integration

    bq_store.insert_integration(full_integration())
    stored = bq_store.get_integration("acme", "gcp")
    assert stored.capabilities == ("costs", "usage")
    assert stored.credential == full_integration().credential and stored.credential.expires_at is not None


def test_the_org_table_of_an_earlier_release_gains_the_aws_external_id(bq_store: BigQueryStore):
    name = f"{PROJECT}.{bq_store.dataset}.org_api_keys"
    table = bq_store.client.get_table(name)
    bq_store.client.delete_table(name)
    older = [field for field in table.schema if field.name != "aws_external_id"]  # as the release before it
    bq_store.client.create_table(type(table)(name, schema=older))
    bq_store.init_store()
    from tests.contract.test_store_contract import make_org

    bq_store.create_org(make_org("acme"))
    assert bq_store.set_aws_external_id("acme", "ext-1") == "ext-1"
    assert bq_store.get_org("acme").aws_external_id == "ext-1"
