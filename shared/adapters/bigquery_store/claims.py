"""Lone first-time inserts (an org, a ciphertext put alone), one row per key, under concurrent
writers: claim, then confirm. (An integration's first insert is one statement on its org's
gate row, gates.py; a unit of work's new ciphertexts have fresh ids, checked in its transaction.)

BigQuery has no unique keys. An insert-only statement never conflicts on BigQuery, so two
writers could both insert the same key; the confirm step is a mutating UPDATE that rewrites
every claim of the key, which BigQuery serializes, and only the first to commit confirms
its row. Unconfirmed rows (claims) carry a marker no reader matches: CLAIM_PREFIX on
api_key_id (orgs) / key_version (credentials), and a negative revision on integration claims
an earlier release may have left; every read and every compare-and-set filters on the
`*_CONFIRMED` predicates below.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any, Sequence

from ...domain.errors import ConflictError
from .. import rows
from .dataset import Dataset, column_list, param_name, placeholder

log = logging.getLogger(__name__)

CLAIM_PREFIX = "claim:"
INTEGRATION_CONFIRMED = "revision > 0"
ORG_CONFIRMED = f"NOT STARTS_WITH(api_key_id, '{CLAIM_PREFIX}')"
CREDENTIAL_CONFIRMED = f"NOT STARTS_WITH(key_version, '{CLAIM_PREFIX}')"


def claim_text() -> str:
    return CLAIM_PREFIX + uuid.uuid4().hex


def insert_once(
    ds: Dataset,
    table: str,
    row: dict[str, Any],
    key: Sequence[str],
    *,
    column: str,
    claim: Any,
    is_confirmed: str,
    what: str,
) -> None:
    """Insert `row` (a row of the rows module) unless a confirmed row has its `key` columns.

    1. Claim: one MERGE inserts the row with `column = @claim` (a value no reader matches)
       unless a confirmed row exists; nothing inserted -> ConflictError. Insert-only
       statements never conflict, so several claims of a key can exist.
    2. Confirm: one UPDATE rewrites *every* claim of the key, setting `column` to the row's
       real value on this writer's claim only if no confirmed row is in its snapshot.
       Every writer's confirm rewrites the first committed claim, so two confirms that
       both see no confirmed row touch a common row and BigQuery fails one of them
       ("concurrent update"; rerun by Dataset.run on a fresh snapshot): at most one
       claim is ever confirmed.
    3. Check: this writer's claim still unconfirmed -> it lost: delete it, ConflictError.
    A writer that dies between 1 and 3 leaves an unconfirmed claim that no reader sees
    and no other writer confirms.
    """
    t = ds.table(table)
    params = {p.name: p for p in ds.row_params(table, row)}
    key_params = [params[param_name(c)] for c in key]
    key_sql = " AND ".join(f"{c} = @{param_name(c)}" for c in key)
    type_ = rows.column_types(table)[column]
    marker = [ds.param("claim", type_, claim)]
    values = ", ".join("@claim" if c == column else placeholder(table, c) for c in row)
    # Constants (not S.columns) in ON: BigQuery prunes clustered blocks only on constants.
    _, claimed = ds.query(
        f"""
        MERGE {t} T
        USING (SELECT {", ".join(f"@{param_name(c)} AS {c}" for c in key)}) S
        ON {" AND ".join(f"T.{c} = @{param_name(c)}" for c in key)} AND {is_confirmed}
        WHEN NOT MATCHED THEN INSERT ({column_list(row)})
          VALUES ({values})""",
        [p for name, p in params.items() if name != param_name(column)] + marker,
    )
    if claimed == 0:
        raise ConflictError(f"{what} already exists")
    try:
        ds.query(
            f"""UPDATE {t} SET {column} = IF({column} = @claim AND NOT EXISTS (
                    SELECT 1 FROM {t} WHERE {key_sql} AND {is_confirmed}), @confirmed, {column})
                WHERE {key_sql} AND NOT ({is_confirmed})""",
            key_params + marker + [ds.param("confirmed", type_, row[column])],
        )
        found, _ = ds.query(f"SELECT COUNT(*) AS n FROM {t} WHERE {key_sql} AND {column} = @claim", key_params + marker)
    except BaseException:
        _drop_claim(ds, t, key_sql, column, key_params + marker)
        raise
    if found and found[0]["n"]:
        _drop_claim(ds, t, key_sql, column, key_params + marker)
        raise ConflictError(f"{what} already exists")


def _drop_claim(ds: Dataset, t: str, key_sql: str, column: str, params: list[Any]) -> None:
    """Delete this writer's unconfirmed claim; best effort (readers never see a claim)."""
    try:
        ds.query(f"DELETE FROM {t} WHERE {key_sql} AND {column} = @claim", params)
    except Exception:  # noqa: BLE001 - a leftover claim is invisible and never confirmed
        log.warning("could not delete an unconfirmed claim row; it is invisible to readers")
