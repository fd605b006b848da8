"""The validation rate limit (`validation_attempts`), atomic under concurrent callers.

`try_record` runs one MERGE that updates a per-(org, provider) gate row and inserts the
attempt only while the window holds fewer than `limit` attempts. Updating the gate makes
it a *mutating* statement, which BigQuery serializes per table (a concurrent one loses
with "concurrent update" and is rerun by Dataset.run); INSERT-only statements would run
side by side on stale snapshots.
"""

from __future__ import annotations

import logging
import random
import uuid
from datetime import datetime, timedelta

from ...domain.errors import StoreError
from ...ports import Attempt
from .. import rows
from .dataset import Dataset

log = logging.getLogger(__name__)

TABLE = "validation_attempts"
# A reserved attempt id: the row every try_record of one org/provider updates.
GATE_ID = "__gate__"
# Expired attempts are swept by about one call in this many (cheap, and bounded growth).
SWEEP_ONE_IN = 16


def try_record(ds: Dataset, org: str, provider: str, now: datetime, window_seconds: int, limit: int) -> Attempt:
    now = rows.ms(now)
    assert now is not None
    start = now - timedelta(seconds=window_seconds)
    attempt_id = uuid.uuid4().hex
    base = ds.owner(org, provider)
    table = ds.table(TABLE)
    # 1. Make sure the gate row exists (insert-only; a duplicate gate row is harmless).
    ds.query(
        f"""INSERT INTO {table} (org_slug, provider, attempt_id, `at`)
            SELECT @org, @provider, @gate, @now FROM UNNEST([1])
            WHERE NOT EXISTS (SELECT 1 FROM {table}
                              WHERE org_slug = @org AND provider = @provider AND attempt_id = @gate)""",
        base + [ds.param("gate", "STRING", GATE_ID), ds.param("now", "TIMESTAMP", now)],
    )
    # 2. Touch the gate (mutating: serialized against every other attempt) and insert the
    #    attempt only if the window still has room, judged on this statement's snapshot.
    ds.query(
        f"""MERGE {table} T
            USING (
              SELECT @gate AS attempt_id, 0 AS n
              UNION ALL
              SELECT @attempt_id, (SELECT COUNT(*) FROM {table}
                                   WHERE org_slug = @org AND provider = @provider AND attempt_id != @gate
                                     AND `at` > @start)
            ) S
            ON T.org_slug = @org AND T.provider = @provider AND T.attempt_id = S.attempt_id
            WHEN MATCHED AND S.attempt_id = @gate THEN UPDATE SET `at` = @now
            WHEN NOT MATCHED AND S.attempt_id != @gate AND S.n < @limit THEN
              INSERT (org_slug, provider, attempt_id, `at`) VALUES (@org, @provider, S.attempt_id, @now)""",
        base
        + [
            ds.param("gate", "STRING", GATE_ID),
            ds.param("attempt_id", "STRING", attempt_id),
            ds.param("now", "TIMESTAMP", now),
            ds.param("start", "TIMESTAMP", start),
            ds.param("limit", "INT64", int(limit)),
        ],
    )
    found, _ = ds.query(
        f"SELECT COUNT(*) AS n FROM {table} WHERE org_slug = @org AND provider = @provider AND attempt_id = @attempt_id",
        base + [ds.param("attempt_id", "STRING", attempt_id)],
    )
    allowed = bool(found and found[0]["n"])
    if random.randrange(SWEEP_ONE_IN) == 0:
        _sweep(ds, org, provider, start)
    if allowed:
        return Attempt(True)
    found, _ = ds.query(
        f"SELECT MIN(`at`) AS oldest FROM {table} "
        "WHERE org_slug = @org AND provider = @provider AND attempt_id != @gate AND `at` > @start",
        base + [ds.param("gate", "STRING", GATE_ID), ds.param("start", "TIMESTAMP", start)],
    )
    return Attempt.refused(rows.utc(found[0]["oldest"]) if found else None, now, window_seconds)


def _sweep(ds: Dataset, org: str, provider: str, before: datetime) -> None:
    """Drop attempts that left the window; best effort (a lost race just waits for the next)."""
    try:
        ds.query(
            f"DELETE FROM {ds.table(TABLE)} "
            "WHERE org_slug = @org AND provider = @provider AND attempt_id != @gate AND `at` <= @before",
            [*ds.owner(org, provider, gate=GATE_ID), ds.param("before", "TIMESTAMP", before)],
        )
    except StoreError:
        log.warning("validation attempt sweep failed; will retry on a later call")
