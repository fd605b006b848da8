"""The dataset and its tables, from configs/schemas/*.json (the files Terraform reads too)."""

from __future__ import annotations

from ...domain.errors import StoreError
from .. import rows
from .dataset import Dataset

# BigQuery has no keys or indexes: tables are clustered on what every query filters on.
CLUSTERING = {name: ["org_slug", "provider"] for name in rows.TABLES} | {"org_api_keys": ["api_key_hash"]}


def init_store(ds: Dataset) -> None:
    """Create the dataset and the clustered tables; safe to run again."""
    bq = ds.bq

    def create() -> None:
        ds.client.create_dataset(bq.Dataset(f"{ds.project}.{ds.dataset}"), exists_ok=True)
        for name in rows.TABLES:
            schema = [
                bq.SchemaField(c["name"], c["type"], mode=c.get("mode", "NULLABLE"), description=c.get("description"))
                for c in rows.load_schema(name)
            ]
            table = bq.Table(f"{ds.project}.{ds.dataset}.{name}", schema=schema)
            table.clustering_fields = CLUSTERING[name]
            existing = ds.client.create_table(table, exists_ok=True)
            known = {field.name for field in existing.schema}
            for field in schema:  # a column a schema file gained since the table was made
                if field.name not in known:
                    if field.mode == "REQUIRED":
                        raise StoreError(
                            f"{name}.{field.name} is new and REQUIRED: it needs a migration with a default"
                        )
                    # DDL (one job, only on a table made by an earlier release): additive, keeps every row
                    ds.client.query(f"ALTER TABLE {ds.table(name)} ADD COLUMN {field.name} {field.field_type}").result()

    ds.run(create)
