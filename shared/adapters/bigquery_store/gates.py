"""Gate rows: one per org in `org_integrations` and in `validation_attempts`, never read as data.

BigQuery has no unique keys, and a statement that only inserts never conflicts with another.
So the statement that inserts an org's integration, and the one that records a validation
attempt, also *update* the org's gate row in their table: of two concurrent statements that
update a common row BigQuery commits one and fails the other ("concurrent update", rerun by
Dataset.run on a fresh snapshot, which then sees the winner's row). Two writers that both
saw room (no integration yet; fewer attempts than the limit) therefore never both commit.

Gates are made with the org (`create_org`), by `init_store` for orgs made before this
release, and, as a last resort, by those statements when they find none (a gate made that
way serializes from the next statement on).

- org_integrations: provider '' and revision 0 (every reader asks for revision > 0);
- validation_attempts: provider '' and attempt_id GATE_ID (never counted).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from .. import rows
from .dataset import Dataset
from .sqltext import Bind, Literals

GATE_PROVIDER = ""
GATE_ID = "__gate__"
INTEGRATIONS, ATTEMPTS = "org_integrations", "validation_attempts"
_PLACEHOLDERS = {"STRING": "", "INT64": 0}


def gate_row(table: str, org: str, at: datetime) -> dict[str, Any]:
    """Every column of `table`: the org, the gate's markers, the time; REQUIRED ones a placeholder."""
    row: dict[str, Any] = {}
    for column in rows.columns(table):
        value = at if column.type == "TIMESTAMP" else _PLACEHOLDERS.get(column.type)
        row[column.name] = value if column.required else None
    row.update(org_slug=org, provider=GATE_PROVIDER)
    if table == ATTEMPTS:
        row["attempt_id"] = GATE_ID
    else:
        row["revision"] = 0
    return row


def gate_filter(ds: Dataset, table: str, alias: str, org_sql: str) -> str:
    """The predicate of `org_sql`'s gate rows (the table aliased `alias`)."""
    marker = f"{alias}.attempt_id = '{GATE_ID}'" if table == ATTEMPTS else f"{alias}.revision = 0"
    return f"{alias}.org_slug = {org_sql} AND {alias}.provider = '{GATE_PROVIDER}' AND {marker}"


def insert_values(bind: Bind, table: str, row: dict[str, Any], **sql: str) -> tuple[str, str]:
    """(column list, value list) of one row for an INSERT; `sql` gives some columns an expression."""
    types = rows.column_types(table)
    values = [sql[c] if c in sql else bind.value(types[c], v) for c, v in row.items()]
    return ", ".join(f"`{c}`" for c in row), ", ".join(values)


def create(ds: Dataset, org: str, at: datetime) -> None:
    """Both gates of a new org, unless there (one script: bqemulator runs literals only)."""
    bind = Literals()
    parts = []
    for table in (INTEGRATIONS, ATTEMPTS):
        columns, values = insert_values(bind, table, gate_row(table, org, at))
        exists = gate_filter(ds, table, "g", bind.value("STRING", org))
        parts.append(
            f"INSERT INTO {ds.table(table)} ({columns}) SELECT {values} FROM UNNEST([1]) "
            f"WHERE NOT EXISTS (SELECT 1 FROM {ds.table(table)} g WHERE {exists})"
        )
    ds.query(";\n".join(parts) + ";", [])


def backfill(ds: Dataset, at: datetime) -> None:
    """The gates of every org made before gates existed (init_store; idempotent)."""
    from .claims import ORG_CONFIRMED

    bind = Literals()
    for table in (INTEGRATIONS, ATTEMPTS):
        columns, values = insert_values(bind, table, gate_row(table, "", at), org_slug="k.org_slug")
        ds.query(
            f"INSERT INTO {ds.table(table)} ({columns}) SELECT {values} "
            f"FROM {ds.table('org_api_keys')} k WHERE {ORG_CONFIRMED} "
            f"AND NOT EXISTS (SELECT 1 FROM {ds.table(table)} g WHERE {gate_filter(ds, table, 'g', 'k.org_slug')})",
            [],
        )
