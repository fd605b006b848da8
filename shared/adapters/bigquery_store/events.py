"""The audit trail (`audit_events`): append-only, listed newest first with a keyset cursor."""

from __future__ import annotations

from datetime import datetime

from ...domain.models import Event
from .. import rows
from .dataset import Dataset, column_list, placeholder

TABLE = "audit_events"


def append(ds: Dataset, event: Event) -> None:
    row = rows.event_row(event)
    ds.query(
        f"INSERT INTO {ds.table(TABLE)} ({column_list(row)}) VALUES ({', '.join(placeholder(TABLE, c) for c in row)})",
        ds.row_params(TABLE, row),
    )


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
