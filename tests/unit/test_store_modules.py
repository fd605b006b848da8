"""The two SQL stores stay modules a reader can hold, behind the import paths everyone uses."""

from __future__ import annotations

from pathlib import Path

ADAPTERS = Path(__file__).resolve().parents[2] / "shared" / "adapters"
MAX_LINES = 300


def test_every_store_module_is_under_300_lines():
    modules = [ADAPTERS / "rows.py", *sorted((ADAPTERS / "bigquery_store").glob("*.py")),
               *sorted((ADAPTERS / "sqlite_store").glob("*.py"))]
    sizes = {str(p.relative_to(ADAPTERS)): len(p.read_text().splitlines()) for p in modules}
    assert len(sizes) > 3 and all(n <= MAX_LINES for n in sizes.values()), sizes


def test_the_stores_are_imported_where_they_always_were():
    from shared.adapters.bigquery_store import BigQueryStore
    from shared.adapters.sqlite_store import MissingStoreError, SqliteStore

    assert BigQueryStore.__module__ == "shared.adapters.bigquery_store.store"
    assert SqliteStore.__module__ == "shared.adapters.sqlite_store.store"
    assert MissingStoreError.__module__ == "shared.adapters.sqlite_store.database"
