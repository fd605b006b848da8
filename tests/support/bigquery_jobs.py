"""BigQuery stores on the session's bqemulator, and a recorder of the query jobs they run.

`bq_store` (fixture): a BigQueryStore on a fresh dataset, tables created, dropped after.
`QueryRecorder(client)`: records each job's SQL and parameters; can fail the next jobs.
"""

from __future__ import annotations

from typing import Any, Iterator

import pytest

from shared.adapters.bigquery_store import BigQueryStore
from tests.support.bqemulator import PROJECT, bq_emulator, new_dataset_name  # noqa: F401 (fixture)

CONCURRENT_MESSAGE = "Could not serialize access to table {t} due to concurrent update"


@pytest.fixture
def bq_store(bq_emulator: str) -> Iterator[BigQueryStore]:  # noqa: F811
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
