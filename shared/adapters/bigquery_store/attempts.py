"""The validation rate limit (`validation_attempts`), exact under concurrent callers.

One MERGE records an attempt: it counts the org/provider's attempts in the window and, when
there is room, inserts the attempt, updates the org's gate row (gates.py: of two concurrent
attempts BigQuery fails one, which reruns on a fresh snapshot and counts the other) and
deletes that org/provider's attempts that left the window. With no room it changes nothing
(a missing gate aside). So the attempt was recorded exactly when two rows or more changed.
A unit of work that counts an attempt runs the same MERGE in its transaction (unit.py).
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from ...ports import Attempt
from .. import rows
from .dataset import Dataset
from .gates import ATTEMPTS, GATE_ID, gate_filter, gate_row, insert_values
from .sqltext import Bind, Params

TABLE = ATTEMPTS


def _start(now: datetime, window_seconds: int) -> datetime:
    return now - timedelta(seconds=window_seconds)


def count_sql(ds: Dataset, bind: Bind, org: str, provider: str, since: datetime) -> str:
    """The attempts of org/provider after `since` (a scalar subquery)."""
    return (
        f"(SELECT COUNT(*) FROM {ds.table(TABLE)} WHERE org_slug = {bind.value('STRING', org)} "
        f"AND provider = {bind.value('STRING', provider)} AND attempt_id != '{GATE_ID}' "
        f"AND `at` > {bind.value('TIMESTAMP', since)})"
    )


def room_sql(ds: Dataset, bind: Bind, org: str, provider: str, now: datetime, window_seconds: int, limit: int) -> str:
    return f"{count_sql(ds, bind, org, provider, _start(now, window_seconds))} < {bind.value('INT64', int(limit))}"


def merge_sql(
    ds: Dataset, bind: Bind, org: str, provider: str, now: datetime, window_seconds: int, limit: int | None
) -> str:
    """The attempt's MERGE; `limit` None: the caller's transaction has checked there is room."""
    now = rows.ms(now)
    start = _start(now, window_seconds)
    room = "TRUE" if limit is None else room_sql(ds, bind, org, provider, now, window_seconds, limit)
    org_sql, provider_sql = bind.value("STRING", org), bind.value("STRING", provider)
    attempt_columns, attempt_values = insert_values(bind, TABLE, rows.attempt_row(org, provider, uuid.uuid4().hex, now))
    gate_columns, gate_values = insert_values(bind, TABLE, gate_row(TABLE, org, now))
    return f"""MERGE {ds.table(TABLE)} T
        USING (SELECT kind, {room} AS room FROM UNNEST(['gate', 'attempt']) AS kind) S
        ON {gate_filter(ds, TABLE, "T", org_sql)} AND S.kind = 'gate'
        WHEN MATCHED AND S.room THEN UPDATE SET `at` = {bind.value("TIMESTAMP", now)}
        WHEN NOT MATCHED AND S.kind = 'attempt' AND S.room THEN INSERT ({attempt_columns}) VALUES ({attempt_values})
        WHEN NOT MATCHED AND S.kind = 'gate' THEN INSERT ({gate_columns}) VALUES ({gate_values})
        WHEN NOT MATCHED BY SOURCE AND {room} AND T.org_slug = {org_sql} AND T.provider = {provider_sql}
          AND T.attempt_id != '{GATE_ID}' AND T.`at` <= {bind.value("TIMESTAMP", start)} THEN DELETE"""


def try_record(ds: Dataset, org: str, provider: str, now: datetime, window_seconds: int, limit: int) -> Attempt:
    bind = Params()
    _, changed = ds.query(merge_sql(ds, bind, org, provider, now, window_seconds, limit), bind.params)
    return Attempt(True) if changed >= 2 else refused(ds, org, provider, now, window_seconds)


def refused(ds: Dataset, org: str, provider: str, now: datetime, window_seconds: int) -> Attempt:
    """The refusal, with when the oldest attempt of the window leaves it (one more query: rare)."""
    now = rows.ms(now)
    assert now is not None
    bind = Params()
    found, _ = ds.query(
        f"SELECT MIN(`at`) AS oldest FROM {ds.table(TABLE)} WHERE org_slug = {bind.value('STRING', org)} "
        f"AND provider = {bind.value('STRING', provider)} AND attempt_id != '{GATE_ID}' "
        f"AND `at` > {bind.value('TIMESTAMP', _start(now, window_seconds))}",
        bind.params,
    )
    return Attempt.refused(rows.utc(found[0]["oldest"]) if found else None, now, window_seconds)
