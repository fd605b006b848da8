"""Rows of the store's tables: one mapping between models and rows for every SQL store.

The columns are those of configs/schemas/*.json, the files Terraform creates the BigQuery
tables from and the SQLite store its tables from. A row is a dict of column -> value in
schema order, its values plain Python whatever the backend:

- TIMESTAMP: an aware datetime in UTC, cut to the millisecond (what every store keeps;
  a naive value is taken as UTC);
- JSON held as STRING (`config`, `rotation`, `details`): compact text, keys sorted;
- BYTES: bytes; INT64: int; STRING: str; NULL: None.

How a value travels (SQLite's text timestamps, BigQuery's query parameters) is each
store's business. A row whose columns differ from its schema file raises at once, so a
column added to a schema without its mapping is never written half. The schema files
are read on first use, once (a cold start on the embedded defaults reads them only when
the store is first touched).
"""

from __future__ import annotations

import json
from datetime import date, datetime, timezone
from functools import cache
from pathlib import Path
from typing import Any, Mapping, NamedTuple

from ..domain.lifecycle import Status
from ..domain.models import CredentialRecord, CredentialRef, Event, Integration, Org, Rotation

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "configs" / "schemas"
TABLES = ("org_api_keys", "org_integrations", "org_credentials", "validation_attempts", "audit_events")


class Column(NamedTuple):
    name: str
    type: str  # BigQuery standard SQL: STRING, INT64, TIMESTAMP, BYTES
    required: bool


def load_schema(table: str) -> list[dict[str, str]]:
    """The table's column list as its file holds it (BigQuery and Terraform take it as is)."""
    return json.loads((SCHEMA_DIR / f"{table}.json").read_text(encoding="utf-8"))


@cache
def columns(table: str) -> tuple[Column, ...]:
    if table not in TABLES:
        raise KeyError(f"no schema for table {table!r}")
    return tuple(Column(c["name"], c["type"], c.get("mode", "NULLABLE") == "REQUIRED") for c in load_schema(table))


@cache
def column_types(table: str) -> dict[str, str]:
    """Column name -> type."""
    return {c.name: c.type for c in columns(table)}


@cache
def timestamp_columns(table: str) -> tuple[str, ...]:
    return tuple(c.name for c in columns(table) if c.type == "TIMESTAMP")


def forget_schemas() -> None:
    """Read the schema files again on next use (tests that change them)."""
    for cached in (columns, column_types, timestamp_columns):
        cached.cache_clear()


def ms(value: datetime | None) -> datetime | None:
    """UTC, to the millisecond (naive values are taken as UTC)."""
    value = utc(value)
    if value is None or value.microsecond % 1000 == 0:
        return value
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


def utc(value: datetime | None) -> datetime | None:
    if value is None or value.tzinfo is timezone.utc:
        return value
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _row(table: str, values: dict[str, Any]) -> dict[str, Any]:
    names = column_types(table).keys()
    if values.keys() != names:
        missing, extra = sorted(names - values.keys()), sorted(values.keys() - names)
        raise RuntimeError(
            f"{table}: the row mapping and configs/schemas/{table}.json differ "
            f"(unmapped columns {missing}, columns not in the schema {extra})"
        )
    return {name: values[name] for name in names}


# -- orgs ---------------------------------------------------------------------------------


def org_row(org: Org) -> dict[str, Any]:
    return _row(
        "org_api_keys",
        {
            "org_slug": org.slug,
            "api_key_id": org.api_key_id,
            "api_key_hash": org.api_key_hash,
            "created_at": ms(org.created_at),
            "aws_external_id": org.aws_external_id,
        },
    )


def org_of(row: Mapping[str, Any]) -> Org:
    return Org(
        slug=row["org_slug"],
        api_key_id=row["api_key_id"],
        api_key_hash=row["api_key_hash"],
        created_at=utc(row["created_at"]),
        aws_external_id=row["aws_external_id"],
    )


# -- integrations -------------------------------------------------------------------------


def integration_row(item: Integration, revision: int) -> dict[str, Any]:
    """The integration as stored at `revision` (the store decides the revision, never the caller)."""
    cred, rot = item.credential, _cut(item.rotation)
    return _row(
        "org_integrations",
        {
            "org_slug": item.org,
            "provider": item.provider,
            "category": item.category,
            "name": item.name,
            "status": Status(item.status).value,
            "status_code": item.status_code,
            "status_message": item.status_message,
            "config": _json(item.config),
            "credential_id": cred.credential_id if cred else None,
            "credential_version": cred.version if cred else None,
            "fingerprint": cred.fingerprint if cred else None,
            "hint": cred.hint if cred else None,
            "credential_created_at": ms(cred.created_at) if cred else None,
            "rotation": rot.model_dump_json() if rot else None,
            "created_at": ms(item.created_at),
            "updated_at": ms(item.updated_at),
            "last_validated_at": ms(item.last_validated_at),
            "revision": revision,
            "capabilities": None if item.capabilities is None else _json(list(item.capabilities)),
            "credential_expires_at": cred.expires_at.isoformat() if cred and cred.expires_at else None,
            "credential_expiry_warned_at": ms(cred.expiry_warned_at) if cred else None,
        },
    )


def integration_of(row: Mapping[str, Any]) -> Integration:
    credential = None
    if row["credential_id"] is not None:
        credential = CredentialRef(
            credential_id=row["credential_id"],
            version=row["credential_version"],
            fingerprint=row["fingerprint"],
            hint=row["hint"],
            created_at=utc(row["credential_created_at"]),
            expires_at=date.fromisoformat(row["credential_expires_at"]) if row["credential_expires_at"] else None,
            expiry_warned_at=utc(row["credential_expiry_warned_at"]),
        )
    rotation = Rotation.model_validate_json(row["rotation"]) if row["rotation"] else None
    if rotation is not None and rotation.created_at.utcoffset():
        rotation = rotation.model_copy(update={"created_at": utc(rotation.created_at)})
    return Integration(
        org=row["org_slug"],
        provider=row["provider"],
        category=row["category"],
        name=row["name"],
        status=Status(row["status"]),
        status_code=row["status_code"],
        status_message=row["status_message"],
        credential=credential,
        rotation=rotation,
        config=json.loads(row["config"]) if row["config"] else {},
        created_at=utc(row["created_at"]),
        updated_at=utc(row["updated_at"]),
        last_validated_at=utc(row["last_validated_at"]),
        revision=row["revision"],
        capabilities=tuple(json.loads(row["capabilities"])) if row["capabilities"] else None,
    )


def stored_integration(item: Integration, revision: int) -> Integration:
    """`item` as a read returns it once stored at `revision` (timestamps cut as stored): the
    stores answer a write with it (cheaper than reading the row back)."""
    return item.model_copy(
        update={
            "created_at": ms(item.created_at),
            "updated_at": ms(item.updated_at),
            "last_validated_at": ms(item.last_validated_at),
            "credential": _cut(item.credential),
            "rotation": _cut(item.rotation),
            "revision": revision,
        }
    )


def _cut(part: Any) -> Any:
    """A credential reference or rotation with its timestamp as stored (itself when already so)."""
    if part is None:
        return None
    at, warned = ms(part.created_at), ms(getattr(part, "expiry_warned_at", None))
    if at is part.created_at and warned is getattr(part, "expiry_warned_at", None):
        return part
    return part.model_copy(update={"created_at": at, **({"expiry_warned_at": warned} if warned else {})})


# -- credentials --------------------------------------------------------------------------


def credential_row(record: CredentialRecord) -> dict[str, Any]:
    return _row(
        "org_credentials",
        {
            "org_slug": record.org,
            "provider": record.provider,
            "credential_id": record.credential_id,
            "version": record.version,
            "ciphertext": bytes(record.ciphertext),
            "key_version": record.key_version,
            "fingerprint": record.fingerprint,
            "hint": record.hint,
            "created_at": ms(record.created_at),
        },
    )


def credential_of(row: Mapping[str, Any]) -> CredentialRecord:
    return CredentialRecord(
        org=row["org_slug"],
        provider=row["provider"],
        credential_id=row["credential_id"],
        version=row["version"],
        ciphertext=bytes(row["ciphertext"]),
        key_version=row["key_version"],
        fingerprint=row["fingerprint"],
        hint=row["hint"],
        created_at=utc(row["created_at"]),
    )


# -- validation attempts (no model: the rate limit's rows) -------------------------------


def attempt_row(org: str, provider: str, attempt_id: str, at: datetime) -> dict[str, Any]:
    return _row("validation_attempts", {"org_slug": org, "provider": provider, "attempt_id": attempt_id, "at": ms(at)})


# -- audit events -------------------------------------------------------------------------


def event_row(event: Event) -> dict[str, Any]:
    return _row(
        "audit_events",
        {
            "event_id": event.id,
            "org_slug": event.org,
            "provider": event.provider,
            "at": ms(event.at),
            "action": event.action,
            "actor": event.actor,
            "outcome": event.outcome,
            "fingerprint": event.fingerprint,
            "details": _json(event.details),
        },
    )


def event_of(row: Mapping[str, Any]) -> Event:
    return Event(
        id=row["event_id"],
        org=row["org_slug"],
        provider=row["provider"],
        at=utc(row["at"]),
        action=row["action"],
        actor=row["actor"],
        outcome=row["outcome"],
        fingerprint=row["fingerprint"],
        details=json.loads(row["details"]) if row["details"] else {},
    )
