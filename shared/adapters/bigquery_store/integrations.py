"""Integrations (`org_integrations`): compare-and-set on `revision`, first inserts claimed."""

from __future__ import annotations

import random
from datetime import datetime

from ...domain.errors import ConflictError
from ...domain.lifecycle import Status
from ...domain.models import Integration
from .. import rows
from .claims import INTEGRATION_CONFIRMED, insert_once
from .dataset import Dataset, placeholder

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


def insert(ds: Dataset, item: Integration) -> Integration:
    row = rows.integration_row(item, revision=1)
    # A claim's revision is negative: every reader and every CAS (revision = @expected >= 1) skips it.
    insert_once(
        ds,
        TABLE,
        row,
        KEY,
        column="revision",
        claim=-random.randint(1, 2**62),
        is_confirmed=INTEGRATION_CONFIRMED,
        what="Integration",
    )
    return rows.stored_integration(item, revision=1)


def update(ds: Dataset, item: Integration, expected_revision: int) -> Integration:
    row = rows.integration_row(item, revision=expected_revision + 1)
    assignments = ", ".join(f"`{c}` = {placeholder(TABLE, c)}" for c in row if c not in KEY)
    _, affected = ds.query(
        f"UPDATE {ds.table(TABLE)} SET {assignments} "
        "WHERE org_slug = @org AND provider = @provider AND revision = @expected",
        ds.row_params(TABLE, row) + [ds.param("expected", "INT64", expected_revision)],
    )
    if affected == 0:
        raise ConflictError("Integration changed since it was read")
    return rows.stored_integration(item, revision=expected_revision + 1)


def delete(ds: Dataset, org: str, provider: str, expected_revision: int) -> None:
    _, affected = ds.query(
        f"DELETE FROM {ds.table(TABLE)} WHERE org_slug = @org AND provider = @provider AND revision = @expected",
        [*ds.owner(org, provider), ds.param("expected", "INT64", expected_revision)],
    )
    if affected == 0:
        raise ConflictError("Integration changed since it was read")
