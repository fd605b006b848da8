"""The two SQL stores, split into packages, stay behind the import paths everyone uses (module
sizes: tests/unit/test_architecture.py)."""

from __future__ import annotations

from pathlib import Path

ADAPTERS = Path(__file__).resolve().parents[2] / "shared" / "adapters"
MAX_LINES = 300


def test_the_stores_are_imported_where_they_always_were():
    from shared.adapters.bigquery_store import BigQueryStore
    from shared.adapters.sqlite_store import MissingStoreError, SqliteStore

    assert BigQueryStore.__module__ == "shared.adapters.bigquery_store.store"
    assert SqliteStore.__module__ == "shared.adapters.sqlite_store.store"
    assert MissingStoreError.__module__ == "shared.adapters.sqlite_store.database"
