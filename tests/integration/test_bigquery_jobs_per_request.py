"""The targets of benchmarks/bigquery_jobs.py, held on bqemulator: every endpoint and the
validator's message, counted at the client (benchmarks/bq_calls.py).

- reads (get, list, events): 1 job, authentication included (the instance keeps the key);
- setup, rotate, validate, disable, enable, edit, delete: at most 3 jobs, at most 2 mutating;
- a validation message: at most 3 jobs;
- and every request answered as it should (the counts of a failed request would mean nothing).
"""

from __future__ import annotations

from pathlib import Path

from benchmarks.bigquery_jobs import FIRST, MESSAGE, READ, WRITE, measure
from tests.support.bqemulator import PROJECT, bq_emulator  # noqa: F401 (fixture)


def test_every_request_meets_its_job_target(bq_emulator: str, tmp_path: Path) -> None:  # noqa: F811
    rows = measure(tmp_path, bq_emulator, PROJECT)

    by_kind = {kind: [r for r in rows if r["kind"] == kind] for kind in (FIRST, READ, WRITE, MESSAGE)}
    assert len(by_kind[READ]) == 3 and len(by_kind[WRITE]) == 10 and len(by_kind[MESSAGE]) == 4
    assert all(r["status"] in (200, 202, 204) for r in rows), [(r["request"], r["status"]) for r in rows]
    failing = [(r["request"], r["jobs"], r["mutating"]) for r in rows if r["pass"] is False]
    assert failing == []
    assert [(r["jobs"], r["jobs_insert"]) for r in by_kind[READ]] == [(1, 0)] * 3
    assert by_kind[FIRST][0]["jobs"] == 2  # the instance's first request also looks its key up
    # audit events are streamed, never a DML job
    assert all(r["streaming"] >= 1 for r in by_kind[WRITE])
