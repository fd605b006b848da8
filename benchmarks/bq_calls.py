"""Counting what a google-cloud-bigquery Client asks of BigQuery, at the client.

`CallCounter(client)` wraps the client's connection (`client._connection.api_request`): every
HTTP request the library makes passes there, its own retries included. Each is classified:

- a query job (jobs.insert), or a jobs.query call (short-query mode: BigQuery may answer it
  without creating a job), each one statement or one script; both are "jobs" below;
- a streaming insert (tabledata.insertAll): no job, no DML;
- a poll for a job's results (jobs.getQueryResults, jobs.get): part of a job already counted;
- anything else (tables.get, datasets...).

A job is *mutating* when one of its statements is an UPDATE, DELETE or MERGE: BigQuery runs at
most 2 of those at a time per table and queues 20 more. `statements` counts a script's
statements (BEGIN/COMMIT TRANSACTION left out), each of which BigQuery runs as a child job.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from typing import Any

MUTATING = frozenset({"UPDATE", "DELETE", "MERGE"})
DML = MUTATING | {"INSERT"}
CONTROL = frozenset({"BEGIN", "COMMIT", "ROLLBACK", "END", "DECLARE", "SET"})
_QUOTED = re.compile(r"'(?:[^'\\]|\\.)*'|`[^`]*`|\"(?:[^\"\\]|\\.)*\"")


def statements(sql: str) -> list[str]:
    """The statements of a query or script, by their first word (upper case), control ones left out."""
    bare = _QUOTED.sub("''", sql)  # a ';' inside a literal or a quoted name splits nothing
    verbs = []
    for part in bare.split(";"):
        words = part.split()
        if words and words[0].upper() not in CONTROL:
            verbs.append(words[0].upper())
    return verbs


@dataclass
class Tally:
    jobs_insert: int = 0  # jobs.insert: always a job
    jobs_query: int = 0  # jobs.query: short-query mode, BigQuery may create no job
    dml: int = 0  # jobs holding a DML statement (INSERT too)
    mutating: int = 0  # jobs holding an UPDATE, DELETE or MERGE
    statements: int = 0  # statements run, a script's counted one by one
    streaming: int = 0  # tabledata.insertAll calls
    polls: int = 0  # getQueryResults / jobs.get for a job counted already
    other: int = 0
    sql: list[str] = field(default_factory=list)

    @property
    def jobs(self) -> int:
        return self.jobs_insert + self.jobs_query

    def as_dict(self) -> dict[str, int]:
        return {
            "jobs": self.jobs,
            "jobs_insert": self.jobs_insert,
            "jobs_query": self.jobs_query,
            "dml": self.dml,
            "mutating": self.mutating,
            "statements": self.statements,
            "streaming": self.streaming,
            "polls": self.polls,
            "other": self.other,
        }


class CallCounter:
    """Counts every request the client makes; `take()` returns the tally since the last take."""

    def __init__(self, client: Any) -> None:
        self._lock = threading.Lock()
        self._tally = Tally()
        connection = client._connection
        real = connection.api_request

        def api_request(method: str, path: str, *args: Any, **kwargs: Any) -> Any:
            self._record(method.upper(), path, kwargs.get("data"))
            return real(method, path, *args, **kwargs)

        connection.api_request = api_request

    def _record(self, method: str, path: str, data: Any) -> None:
        data = data if isinstance(data, dict) else {}
        with self._lock:
            tally = self._tally
            if method == "POST" and path.endswith("/jobs"):
                sql = data.get("configuration", {}).get("query", {}).get("query")
                if sql is None:  # a load or copy job: a job, but no statement of ours
                    tally.jobs_insert += 1
                    return
                tally.jobs_insert += 1
                self._statement(tally, sql)
            elif method == "POST" and path.endswith("/queries"):
                tally.jobs_query += 1
                self._statement(tally, data.get("query", ""))
            elif method == "POST" and path.endswith("/insertAll"):
                tally.streaming += 1
            elif method == "GET" and ("/queries/" in path or "/jobs/" in path):
                tally.polls += 1
            else:
                tally.other += 1

    @staticmethod
    def _statement(tally: Tally, sql: str) -> None:
        verbs = statements(sql)
        tally.statements += len(verbs)
        tally.dml += any(v in DML for v in verbs)
        tally.mutating += any(v in MUTATING for v in verbs)
        tally.sql.append(sql)

    def take(self) -> Tally:
        with self._lock:
            tally, self._tally = self._tally, Tally()
            return tally
