"""Integrations (`org_integrations`): reads, and the statements that change one (unit.py runs
them): compare-and-set on `revision`, first inserts serialized on the org's gate (gates.py)."""

from __future__ import annotations

from datetime import datetime

from ...domain.lifecycle import Status
from ...domain.models import Integration
from .. import rows
from .claims import INTEGRATION_CONFIRMED
from .dataset import Dataset
from .gates import gate_filter, gate_row, insert_values
from .sqltext import Bind

TABLE = "org_integrations"
KEY = ("org_slug", "provider")


def _select(ds: Dataset, where: str, params: list, order: str) -> list[Integration]:
    found, _ = ds.query(
        f"SELECT * FROM {ds.table(TABLE)} WHERE {where} AND {INTEGRATION_CONFIRMED} ORDER BY {order}", params
    )
    return [rows.integration_of(r) for r in found]


def get(ds: Dataset, org: str, provider: str) -> Integration | None:
    found = _select(ds, "org_slug = @org AND provider = @provider", ds.owner(org, provider), "provider")
    return found[0] if found else None


def list_for_org(ds: Dataset, org: str) -> list[Integration]:
    return _select(ds, "org_slug = @org", [ds.param("org", "STRING", org)], "provider")


def list_by_status(ds: Dataset, status: str) -> list[Integration]:
    # Across orgs by design (the scheduler's revalidation sweep): no org filter possible.
    return _select(ds, "status = @status", [ds.param("status", "STRING", Status(status).value)], "org_slug, provider")


def list_unsettled(ds: Dataset, updated_before: datetime) -> list[Integration]:
    # Across orgs by design (the recovery sweep after a crash).
    return _select(
        ds,
        "updated_at < @before AND status != 'disabled' AND (status IN ('pending', 'validating') "
        "OR JSON_VALUE(rotation, '$.status') IN ('pending', 'validating'))",
        [ds.param("before", "TIMESTAMP", rows.ms(updated_before))],
        "org_slug, provider",
    )


# -- the statements of a unit of work (unit.py runs them) ---------------------------------


def _owner(bind: Bind, org: str, provider: str) -> str:
    return f"org_slug = {bind.value('STRING', org)} AND provider = {bind.value('STRING', provider)}"


def insert_sql(ds: Dataset, bind: Bind, item: Integration) -> str:
    """Insert `item` at revision 1 unless a confirmed row exists, touching the org's gate
    (gates.py): changes two rows or more exactly when it inserted."""
    t = ds.table(TABLE)
    org_sql = bind.value("STRING", item.org)
    free = f"NOT EXISTS (SELECT 1 FROM {t} WHERE {_owner(bind, item.org, item.provider)} AND {INTEGRATION_CONFIRMED})"
    row_columns, row_values = insert_values(bind, TABLE, rows.integration_row(item, revision=1))
    now = rows.ms(item.updated_at)
    gate_columns, gate_values = insert_values(bind, TABLE, gate_row(TABLE, item.org, now))
    return f"""MERGE {t} T
        USING (SELECT kind, {free} AS free FROM UNNEST(['gate', 'row']) AS kind) S
        ON {gate_filter(ds, TABLE, "T", org_sql)} AND S.kind = 'gate'
        WHEN MATCHED AND S.free THEN UPDATE SET updated_at = {bind.value("TIMESTAMP", now)}
        WHEN NOT MATCHED AND S.kind = 'row' AND S.free THEN INSERT ({row_columns}) VALUES ({row_values})
        WHEN NOT MATCHED AND S.kind = 'gate' THEN INSERT ({gate_columns}) VALUES ({gate_values})"""


def update_sql(ds: Dataset, bind: Bind, item: Integration, expected_revision: int) -> str:
    """Compare-and-set on `revision`: changes one row, or none when it moved on."""
    row = rows.integration_row(item, revision=expected_revision + 1)
    types = rows.column_types(TABLE)
    assignments = ", ".join(f"`{c}` = {bind.value(types[c], v)}" for c, v in row.items() if c not in KEY)
    return (
        f"UPDATE {ds.table(TABLE)} SET {assignments} "
        f"WHERE {_owner(bind, item.org, item.provider)} AND revision = {bind.value('INT64', expected_revision)}"
    )


def delete_sql(ds: Dataset, bind: Bind, org: str, provider: str, expected_revision: int) -> str:
    return (
        f"DELETE FROM {ds.table(TABLE)} "
        f"WHERE {_owner(bind, org, provider)} AND revision = {bind.value('INT64', expected_revision)}"
    )


def found_sql(ds: Dataset, bind: Bind, org: str, provider: str, expected_revision: int | None) -> str:
    """True while the integration is as the write read it (None: absent)."""
    if expected_revision is None:
        return f"NOT EXISTS (SELECT 1 FROM {ds.table(TABLE)} WHERE {_owner(bind, org, provider)} AND {INTEGRATION_CONFIRMED})"
    return (
        f"EXISTS (SELECT 1 FROM {ds.table(TABLE)} WHERE {_owner(bind, org, provider)} "
        f"AND revision = {bind.value('INT64', expected_revision)})"
    )
