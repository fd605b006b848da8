"""shared/adapters/bigquery_store/attempts.py on bqemulator: one MERGE per attempt, the org's gate
row, and the sweep of attempts that left the window. (The rate limit's contract, exact under
concurrency, is in tests/contract/test_store_contract.py.)"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from benchmarks.bq_calls import CallCounter
from shared.adapters.bigquery_store import BigQueryStore
from tests.contract.test_store_contract import T0, make_org
from tests.support.bigquery_jobs import QueryRecorder, bq_store  # noqa: F401 (fixture)
from tests.support.bqemulator import PROJECT, bq_emulator  # noqa: F401 (fixture)


def rows(store: BigQueryStore) -> list[dict[str, Any]]:
    found = store.client.query(
        f"SELECT provider, attempt_id, `at` FROM `{PROJECT}.{store.dataset}.validation_attempts` ORDER BY attempt_id"
    ).result()
    return [dict(r.items()) for r in found]


def test_an_allowed_attempt_sweeps_those_that_left_the_window_and_the_gate_is_never_counted(bq_store) -> None:
    assert [bq_store.try_record_attempt("acme", "gcp", T0, 60, 2).allowed for _ in range(3)] == [True, True, False]
    later = T0 + timedelta(seconds=61)
    assert [bq_store.try_record_attempt("acme", "gcp", later, 60, 2).allowed for _ in range(3)] == [True, True, False]

    found = rows(bq_store)
    attempts = [r for r in found if r["attempt_id"] != "__gate__"]
    assert len(attempts) == 2 and all(r["at"] == later for r in attempts)  # the T0 ones are gone
    assert [(r["provider"], r["attempt_id"]) for r in found if r["attempt_id"] == "__gate__"] == [("", "__gate__")]


def test_an_attempt_is_one_mutating_statement_and_a_refusal_one_more_read(bq_store) -> None:
    bq_store.create_org(make_org("acme"))
    counter = CallCounter(bq_store.client)

    assert bq_store.try_record_attempt("acme", "gcp", T0, 600, 1).allowed
    allowed = counter.take()
    refused = bq_store.try_record_attempt("acme", "gcp", T0 + timedelta(seconds=10), 600, 1)

    assert (allowed.jobs, allowed.mutating) == (1, 1)
    assert (refused.allowed, refused.retry_after) == (False, 590)
    assert (counter.take().jobs, len(rows(bq_store))) == (2, 2)  # gate + the one attempt


def test_a_lost_race_is_rerun_and_counts_the_winner(bq_store) -> None:
    from google.api_core import exceptions as gexc

    bq_store.create_org(make_org("acme"))
    recorder = QueryRecorder(bq_store.client)
    recorder.fail_on_result.append(gexc.BadRequest("Could not serialize access to table x due to concurrent update"))
    assert bq_store.try_record_attempt("acme", "gcp", T0, 600, 1).allowed
    assert not bq_store.try_record_attempt("acme", "gcp", T0, 600, 1).allowed
    assert [sql.split()[0] for sql, _ in recorder.calls] == ["MERGE", "MERGE", "MERGE", "SELECT"]
