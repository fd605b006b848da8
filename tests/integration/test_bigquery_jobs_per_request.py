"""The targets of benchmarks/bigquery_jobs.py, held on bqemulator: every endpoint and the
validator's message, counted at the client (benchmarks/bq_calls.py).

- reads (get, list, events): 1 job, authentication included (the instance keeps the key);
- setup, rotate, validate, disable, enable, edit, delete: at most 3 jobs, at most 2 mutating;
- a validation message: at most 3 jobs;
- a pipeline's credential (get_credential), AWS's assumed role included: 1 job;
- and every request answered as it should (the counts of a failed request would mean nothing).
"""

from __future__ import annotations

from pathlib import Path

from benchmarks.bigquery_jobs import FIRST, MESSAGE, PIPELINE, READ, WRITE, measure
from tests.support.bqemulator import PROJECT, bq_emulator  # noqa: F401 (fixture)


def test_every_request_meets_its_job_target(bq_emulator: str, tmp_path: Path) -> None:  # noqa: F811
    rows = measure(tmp_path, bq_emulator, PROJECT)

    by_kind = {kind: [r for r in rows if r["kind"] == kind] for kind in (FIRST, READ, WRITE, MESSAGE, PIPELINE)}
    counted = {kind: len(found) for kind, found in by_kind.items()}
    assert counted == {FIRST: 2, READ: 4, WRITE: 12, MESSAGE: 5, PIPELINE: 2}
    assert all(r["status"] in (200, 202, 204) for r in rows), [(r["request"], r["status"]) for r in rows]
    failing = [(r["request"], r["jobs"], r["mutating"]) for r in rows if r["pass"] is False]
    assert failing == []
    assert [(r["jobs"], r["jobs_insert"]) for r in by_kind[READ]] == [(1, 0)] * 4
    assert by_kind[FIRST][0]["jobs"] == 2  # the instance's first request also looks its key up
    # the org's external ID is made once: an UPDATE, then read back
    assert (by_kind[FIRST][1]["jobs"], by_kind[FIRST][1]["mutating"]) == (3, 1)
    # AWS's checks and its pipeline read the org's external ID with the integration, not after it
    assert [r["jobs"] for r in rows if "AWS" in r["request"] and r["kind"] != FIRST] == [1, 2, 3, 1]
    assert [(r["jobs"], r["mutating"], r["streaming"]) for r in by_kind[PIPELINE]] == [(1, 0, 1)] * 2
    # audit events are streamed, never a DML job
    assert all(r["streaming"] >= 1 for r in by_kind[WRITE])
