"""The audit trail (`audit_events`): append-only, listed newest first with a keyset cursor.

Events are streamed (tabledata.insertAll), never inserted by DML: an event is never updated
or deleted, so the streaming buffer's one limit (its rows cannot be changed by DML for a
while) costs nothing, and streaming is no job: no DML INSERT quota (1,500 immediate a day per
table, then 10 at a time), no job latency. The event id is the insert id, so BigQuery drops
the duplicate of a retried call (best effort). A streamed row is readable by queries within
seconds on BigQuery (at once on the emulator): `list_events` right after a change may miss it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Iterable

from ...domain.errors import StoreError
from ...domain.models import Event
from .. import rows
from .dataset import Dataset

TABLE = "audit_events"


def append(ds: Dataset, events: Iterable[Event]) -> None:
    """Stream events, in one call; StoreError when BigQuery refused any of them."""
    events = list(events)
    if not events:
        return
    payload = [
        {c: v.isoformat() if isinstance(v, datetime) else v for c, v in rows.event_row(e).items()} for e in events
    ]
    table = f"{ds.project}.{ds.dataset}.{TABLE}"
    refused = ds.run(lambda: ds.client.insert_rows_json(table, payload, row_ids=[e.id for e in events]))
    if refused:
        raise StoreError("BigQuery refused audit events")


def list_page(ds: Dataset, org: str, provider: str, limit: int, before: tuple[datetime, str] | None) -> list[Event]:
    params = ds.owner(org, provider)
    cursor = ""
    if before is not None:
        cursor = "AND (`at` < @b_at OR (`at` = @b_at AND event_id < @b_id))"
        params += [ds.param("b_at", "TIMESTAMP", rows.ms(before[0])), ds.param("b_id", "STRING", before[1])]
    found, _ = ds.query(
        f"SELECT * FROM {ds.table(TABLE)} WHERE org_slug = @org AND provider = @provider {cursor} "
        f"ORDER BY `at` DESC, event_id DESC LIMIT {max(0, int(limit))}",
        params,
    )
    return [rows.event_of(r) for r in found]
