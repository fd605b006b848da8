"""What the BigQuery store asks of BigQuery, counted at the client (benchmarks/bq_calls.py):
the request-level promises behind benchmarks/bigquery_jobs.py.

- every query is one jobs.query call in short-query mode: no job inserted, then polled;
- a query the emulator fails raises, as on BigQuery (bqemulator answers 200 with `errors`).
"""

from __future__ import annotations

import pytest

from benchmarks.bq_calls import CallCounter, statements
from shared.adapters.bigquery_store import BigQueryStore
from shared.domain.errors import StoreError
from tests.integration.test_bigquery_store import run_full_flow
from tests.support.bigquery_jobs import bq_store  # noqa: F401 (fixture)
from tests.support.bqemulator import PROJECT, bq_emulator, new_dataset_name  # noqa: F401 (fixture)


def test_every_query_is_one_short_query_call_with_no_job_to_poll(bq_store: BigQueryStore) -> None:
    counter = CallCounter(bq_store.client)

    run_full_flow(bq_store)

    tally = counter.take()
    assert bq_store.client.default_job_creation_mode == "JOB_CREATION_OPTIONAL"
    assert tally.jobs_query > 0 and tally.jobs_insert == 0, tally.as_dict()
    assert tally.polls == 0 and tally.other == 0, tally.as_dict()


def test_a_query_the_emulator_fails_raises_as_on_bigquery(bq_emulator: str) -> None:  # noqa: F811
    missing = BigQueryStore(PROJECT, new_dataset_name("never_created"), emulator_host=bq_emulator)
    with pytest.raises(StoreError):
        missing.list_events("acme", "openai", 10)


def test_statements_are_counted_by_their_verb_and_a_quoted_semicolon_splits_nothing() -> None:
    script = "BEGIN TRANSACTION; INSERT INTO t VALUES ('a;b'); UPDATE `p.d.t;x` SET v = 1 WHERE k = \"c;d\"; COMMIT TRANSACTION;"
    assert statements(script) == ["INSERT", "UPDATE"]
    assert statements("SELECT 1") == ["SELECT"]
