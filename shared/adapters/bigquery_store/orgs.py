"""Orgs and their API key hashes (`org_api_keys`)."""

from __future__ import annotations

from datetime import datetime

from ...domain.models import Org
from .. import rows
from .claims import ORG_CONFIRMED, claim_text, insert_once
from .dataset import Dataset

TABLE = "org_api_keys"


def create(ds: Dataset, org: Org) -> None:
    insert_once(
        ds,
        TABLE,
        rows.org_row(org),
        ("org_slug",),
        column="api_key_id",
        claim=claim_text(),
        is_confirmed=ORG_CONFIRMED,
        what="Organization",
    )


def get(ds: Dataset, slug: str) -> Org | None:
    found, _ = ds.query(
        f"SELECT * FROM {ds.table(TABLE)} WHERE org_slug = @org AND {ORG_CONFIRMED} ORDER BY created_at LIMIT 1",
        [ds.param("org", "STRING", slug)],
    )
    return rows.org_of(found[0]) if found else None


def find_by_key_hash(ds: Dataset, key_hash: str) -> Org | None:
    found, _ = ds.query(
        f"SELECT * FROM {ds.table(TABLE)} WHERE api_key_hash = @hash AND {ORG_CONFIRMED} ORDER BY created_at LIMIT 1",
        [ds.param("hash", "STRING", key_hash)],
    )
    return rows.org_of(found[0]) if found else None


def replace_key(ds: Dataset, slug: str, api_key_id: str, api_key_hash: str, issued_at: datetime) -> bool:
    # Confirmed rows only: a claim of a concurrent create stays a claim (see claims.py).
    _, affected = ds.query(
        f"UPDATE {ds.table(TABLE)} SET api_key_id = @key_id, api_key_hash = @key_hash, "
        f"created_at = @issued_at WHERE org_slug = @org AND {ORG_CONFIRMED}",
        [
            ds.param("org", "STRING", slug),
            ds.param("key_id", "STRING", api_key_id),
            ds.param("key_hash", "STRING", api_key_hash),
            ds.param("issued_at", "TIMESTAMP", rows.ms(issued_at)),
        ],
    )
    return affected > 0


def set_aws_external_id(ds: Dataset, slug: str, external_id: str) -> str | None:
    # One UPDATE (BigQuery serializes them): of two concurrent first uses, one sets it and both read it.
    ds.query(
        f"UPDATE {ds.table(TABLE)} SET aws_external_id = @external_id "
        f"WHERE org_slug = @org AND aws_external_id IS NULL AND {ORG_CONFIRMED}",
        [ds.param("org", "STRING", slug), ds.param("external_id", "STRING", external_id)],
    )
    found = get(ds, slug)
    return found.aws_external_id if found else None
