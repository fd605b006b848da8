"""The two SQL stores, split into packages, stay behind the import paths everyone uses (module
sizes: tests/unit/test_architecture.py)."""

from __future__ import annotations


def test_the_stores_are_imported_where_they_always_were():
    from shared.adapters.bigquery_store import BigQueryStore
    from shared.adapters.sqlite_store import MissingStoreError, SqliteStore

    assert BigQueryStore.__module__ == "shared.adapters.bigquery_store.store"
    assert SqliteStore.__module__ == "shared.adapters.sqlite_store.store"
    assert MissingStoreError.__module__ == "shared.domain.errors"  # every exception lives there
