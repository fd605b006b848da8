"""shared/adapters/bigquery_store/attempts.py on bqemulator: the gate row and the sweep.
(The rate limit's contract, exact under concurrency, is in tests/contract/test_store_contract.py.)"""

from __future__ import annotations

from datetime import timedelta

from shared.adapters.bigquery_store import BigQueryStore
from tests.contract.test_store_contract import T0
from tests.support.bigquery_jobs import bq_store  # noqa: F401 (fixture)
from tests.support.bqemulator import PROJECT, bq_emulator  # noqa: F401 (fixture)


def test_expired_attempts_are_swept_and_the_gate_row_is_never_counted(bq_store: BigQueryStore, monkeypatch):
    from shared.adapters.bigquery_store import attempts as module

    monkeypatch.setattr(module, "SWEEP_ONE_IN", 1)  # sweep on every call
    assert [bq_store.try_record_attempt("acme", "gcp", T0, 60, 2).allowed for _ in range(3)] == [True, True, False]
    later = T0 + timedelta(seconds=61)
    assert [bq_store.try_record_attempt("acme", "gcp", later, 60, 2).allowed for _ in range(3)] == [True, True, False]

    rows = list(
        bq_store.client.query(
            f"SELECT attempt_id, `at` FROM `{PROJECT}.{bq_store.dataset}.validation_attempts` ORDER BY attempt_id"
        ).result()
    )
    attempts = [r for r in rows if r["attempt_id"] != module.GATE_ID]
    assert len(attempts) == 2 and all(r["at"] == later for r in attempts)  # the T0 ones are gone
    assert [r["attempt_id"] for r in rows].count(module.GATE_ID) == 1
