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
    """Wraps client.query_and_wait (every query the store runs): records each SQL text and its
    parameters; can fail the next calls.

    `fail_on_query`: the request is refused before BigQuery runs it; `fail_on_result`: BigQuery
    ran it and it lost (how the concurrent-update error usually arrives). Either way nothing
    was committed and the call raises.
    """

    def __init__(self, client: Any) -> None:
        self.client = client
        self.real_query = client.query_and_wait
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.fail_on_query: list[Exception] = []
        self.fail_on_result: list[Exception] = []
        client.query_and_wait = self.query

    def query(self, sql: str, job_config: Any = None, **kwargs: Any) -> Any:
        parameters = job_config.query_parameters if job_config is not None else []
        params = {p.name: getattr(p, "value", getattr(p, "values", None)) for p in parameters}
        self.calls.append((sql, params))
        if self.fail_on_query:
            raise self.fail_on_query.pop(0)
        if self.fail_on_result:
            raise self.fail_on_result.pop(0)
        return self.real_query(sql, job_config=job_config, **kwargs)
