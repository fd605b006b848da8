"""The dataset and its tables, from configs/schemas/*.json (the files Terraform reads too)."""

from __future__ import annotations

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
            ds.client.create_table(table, exists_ok=True)

    ds.run(create)
