"""The `store` fixture: one test body, run on every Store adapter.

sqlite: a fresh file per test. bigquery: the session's bqemulator, a fresh dataset per
test (so tests never see each other's rows), dropped afterwards.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from tests.support.bqemulator import PROJECT, bq_emulator, new_dataset_name  # noqa: F401 (fixture)


@pytest.fixture(params=["sqlite", "bigquery"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[object]:
    if request.param == "sqlite":
        from shared.adapters.sqlite_store import SqliteStore

        sqlite = SqliteStore(tmp_path / "store.db")
        sqlite.init_store()
        yield sqlite
        sqlite.close()
        return

    from shared.adapters.bigquery_store import BigQueryStore

    url = request.getfixturevalue("bq_emulator")  # started only when a bigquery case runs
    bigquery = BigQueryStore(PROJECT, new_dataset_name("contract"), emulator_host=url)
    bigquery.init_store()
    yield bigquery
    bigquery.client.delete_dataset(f"{PROJECT}.{bigquery.dataset}", delete_contents=True, not_found_ok=True)
