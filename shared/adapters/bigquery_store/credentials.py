"""Ciphertexts (`org_credentials`): a lone insert claimed (claims.py), a unit of work's inserted
and destroyed with it (unit.py), rewraps compare-and-set on the old bytes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ...domain.models import CredentialRecord
from .. import rows
from .claims import CREDENTIAL_CONFIRMED, claim_text, insert_once
from .dataset import Dataset, b64
from .gates import insert_values
from .sqltext import Bind

TABLE = "org_credentials"
KEY = ("org_slug", "provider", "credential_id")
KEY_SQL = "org_slug = @org AND provider = @provider AND credential_id = @credential_id"


def put(ds: Dataset, record: CredentialRecord) -> None:
    """Store one ciphertext version; ConflictError if that credential id is already stored."""
    insert_once(
        ds,
        TABLE,
        rows.credential_row(record),
        KEY,
        column="key_version",
        claim=claim_text(),
        is_confirmed=CREDENTIAL_CONFIRMED,
        what="Credential",
    )


def get(ds: Dataset, org: str, provider: str, credential_id: str) -> CredentialRecord | None:
    found, _ = ds.query(
        f"SELECT * FROM {ds.table(TABLE)} WHERE {KEY_SQL} AND {CREDENTIAL_CONFIRMED}",
        ds.owner(org, provider, credential_id=credential_id),
    )
    return rows.credential_of(found[0]) if found else None


def delete(ds: Dataset, org: str, provider: str, credential_id: str) -> bool:
    _, affected = ds.query(
        f"DELETE FROM {ds.table(TABLE)} WHERE {KEY_SQL}", ds.owner(org, provider, credential_id=credential_id)
    )
    return affected > 0


def delete_many(ds: Dataset, org: str, provider: str, keep: frozenset[str], created_before: datetime | None) -> int:
    params = ds.owner(org, provider)
    sql = f"DELETE FROM {ds.table(TABLE)} WHERE org_slug = @org AND provider = @provider"
    if keep:
        params.append(ds.bq.ArrayQueryParameter("keep", "STRING", sorted(keep)))
        sql += " AND credential_id NOT IN UNNEST(@keep)"
    if created_before is not None:
        params.append(ds.param("created_before", "TIMESTAMP", rows.ms(created_before)))
        sql += " AND created_at < @created_before"
    _, affected = ds.query(sql, params)
    return affected


def list_all(ds: Dataset, after: tuple[str, str, str] | None, limit: int) -> list[CredentialRecord]:
    # Keyset pagination across every org (the key-rotation rewrap job walks them all).
    params: list[Any] = []
    where = f"WHERE {CREDENTIAL_CONFIRMED}"
    if after is not None:
        where += (
            " AND (org_slug > @a_org OR (org_slug = @a_org AND provider > @a_provider) "
            "OR (org_slug = @a_org AND provider = @a_provider AND credential_id > @a_id))"
        )
        params += [
            ds.param("a_org", "STRING", after[0]),
            ds.param("a_provider", "STRING", after[1]),
            ds.param("a_id", "STRING", after[2]),
        ]
    found, _ = ds.query(
        f"SELECT * FROM {ds.table(TABLE)} {where} "
        f"ORDER BY org_slug, provider, credential_id LIMIT {max(0, int(limit))}",
        params,
    )
    return [rows.credential_of(r) for r in found]


def replace_ciphertext(ds: Dataset, record: CredentialRecord, old_ciphertext: bytes) -> bool:
    _, affected = ds.query(
        f"""UPDATE {ds.table(TABLE)}
            SET ciphertext = FROM_BASE64(@ciphertext), key_version = @key_version
            WHERE {KEY_SQL} AND ciphertext = FROM_BASE64(@old) AND {CREDENTIAL_CONFIRMED}""",
        [
            *ds.owner(record.org, record.provider, credential_id=record.credential_id),
            ds.param("ciphertext", "STRING", b64(record.ciphertext)),
            ds.param("key_version", "STRING", record.key_version),
            ds.param("old", "STRING", b64(old_ciphertext)),
        ],
    )
    return affected > 0


def delete_orphans(ds: Dataset, created_before: datetime) -> int:
    credentials, integrations = ds.table(TABLE), ds.table("org_integrations")
    _, affected = ds.query(
        f"""DELETE FROM {credentials} c WHERE c.created_at < @before AND NOT EXISTS (
              SELECT 1 FROM {integrations} i WHERE i.org_slug = c.org_slug AND i.provider = c.provider
                AND (i.credential_id = c.credential_id
                     OR JSON_VALUE(i.rotation, '$.credential_id') = c.credential_id))""",
        [ds.param("before", "TIMESTAMP", rows.ms(created_before))],
    )
    return affected


# -- the statements of a unit of work (unit.py runs them in its transaction) --------------


def _owner(bind: Bind, org: str, provider: str) -> str:
    return f"org_slug = {bind.value('STRING', org)} AND provider = {bind.value('STRING', provider)}"


def insert_sql(ds: Dataset, bind: Bind, records: tuple[CredentialRecord, ...]) -> str:
    """New ciphertexts, plain INSERT: their ids are fresh (the transaction checks absent_sql first)."""
    values = []
    for record in records:
        columns, row = insert_values(bind, TABLE, rows.credential_row(record))
        values.append(f"({row})")
    return f"INSERT INTO {ds.table(TABLE)} ({columns}) VALUES {', '.join(values)}"


def absent_sql(ds: Dataset, bind: Bind, org: str, provider: str, ids: list[str]) -> str:
    return (
        f"NOT EXISTS (SELECT 1 FROM {ds.table(TABLE)} WHERE {_owner(bind, org, provider)} "
        f"AND credential_id IN UNNEST({bind.value_list(ids)}))"
    )


def delete_sql(ds: Dataset, bind: Bind, org: str, provider: str, ids: frozenset[str]) -> str:
    return (
        f"DELETE FROM {ds.table(TABLE)} WHERE {_owner(bind, org, provider)} "
        f"AND credential_id IN UNNEST({bind.value_list(ids)})"
    )
