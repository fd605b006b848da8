"""The Store port's queries on SQLite: each method one statement or one transaction.

Rows come from and go to the rows module (columns from configs/schemas); a `Write` is
one transaction, so a failure anywhere keeps none of it.
"""

from __future__ import annotations

import sqlite3
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...domain.errors import ConflictError
from ...domain.models import CredentialRecord, Event, Integration, Org
from .. import rows
from .database import Database, decoded, dt, insert, text, ts

# The ports' value types, imported where used: a first request that only authenticates (a
# 401, a cold start's first answer) never pays for building them.
if TYPE_CHECKING:
    from ...ports import Attempt, Snapshot, Write

OWNER = "org_slug = ? AND provider = ?"
INTEGRATION_KEY = ("org_slug", "provider")


class SqliteStore:
    def __init__(self, path: Path):
        self._db = Database(path)

    def _connect(self) -> sqlite3.Connection:
        """This thread's connection (tests reach SQLite's own limits through it)."""
        return self._db.connect()

    def _read(self, table: str, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        return [decoded(table, row) for row in self._db.read(sql, params)]

    def init_store(self) -> None:
        self._db.connect()

    def close(self) -> None:
        self._db.close()

    # -- orgs -------------------------------------------------------------------------------

    def create_org(self, org: Org) -> None:
        try:
            with self._db.write() as conn:
                insert(conn, "org_api_keys", rows.org_row(org))
        except sqlite3.IntegrityError as exc:
            raise ConflictError("Organization already exists") from exc

    def get_org(self, slug: str) -> Org | None:
        found = self._read("org_api_keys", "SELECT * FROM org_api_keys WHERE org_slug = ?", (slug,))
        return rows.org_of(found[0]) if found else None

    def find_org_by_key_hash(self, key_hash: str) -> Org | None:
        found = self._read("org_api_keys", "SELECT * FROM org_api_keys WHERE api_key_hash = ?", (key_hash,))
        return rows.org_of(found[0]) if found else None

    def replace_org_key(self, slug: str, api_key_id: str, api_key_hash: str, issued_at: datetime) -> bool:
        with self._db.write() as conn:
            cur = conn.execute(
                "UPDATE org_api_keys SET api_key_id = ?, api_key_hash = ?, created_at = ? WHERE org_slug = ?",
                (api_key_id, api_key_hash, ts(issued_at), slug),
            )
            return cur.rowcount == 1

    def set_aws_external_id(self, slug: str, external_id: str) -> str | None:
        with self._db.write() as conn:
            conn.execute(
                "UPDATE org_api_keys SET aws_external_id = ? WHERE org_slug = ? AND aws_external_id IS NULL",
                (external_id, slug),
            )
            found = conn.execute("SELECT aws_external_id FROM org_api_keys WHERE org_slug = ?", (slug,)).fetchone()
        return found[0] if found else None

    # -- integrations -----------------------------------------------------------------------

    def _integrations(self, where: str, params: tuple[Any, ...], order: str) -> list[Integration]:
        found = self._read("org_integrations", f"SELECT * FROM org_integrations WHERE {where} ORDER BY {order}", params)
        return [rows.integration_of(r) for r in found]

    def get_integration(self, org: str, provider: str) -> Integration | None:
        found = self._integrations(OWNER, (org, provider), "provider")
        return found[0] if found else None

    def read(
        self,
        org: str,
        provider: str,
        *,
        credentials: bool = False,
        attempts_since: datetime | None = None,
        with_org: bool = False,
    ) -> Snapshot:
        from ...ports import Snapshot

        records: list[CredentialRecord] = []
        if credentials:
            found = self._read("org_credentials", f"SELECT * FROM org_credentials WHERE {OWNER}", (org, provider))
            records = sorted((rows.credential_of(r) for r in found), key=lambda r: r.credential_id)
        count, oldest = 0, None
        if attempts_since is not None:
            count, oldest = self._db.read(
                f"SELECT COUNT(*), MIN(at) FROM validation_attempts WHERE {OWNER} AND at > ?",
                (org, provider, ts(attempts_since)),
            )[0]
        found_org = self.get_org(org) if with_org else None
        return Snapshot(self.get_integration(org, provider), tuple(records), count, dt(oldest), found_org)

    def list_integrations(self, org: str) -> list[Integration]:
        return self._integrations("org_slug = ?", (org,), "provider")

    def list_integrations_by_status(self, status: str) -> list[Integration]:
        return self._integrations("status = ?", (status,), "org_slug, provider")

    def list_unsettled_integrations(self, updated_before: datetime) -> list[Integration]:
        return self._integrations(
            "updated_at < ? AND status != 'disabled' AND (status IN ('pending', 'validating')"
            " OR json_extract(rotation, '$.status') IN ('pending', 'validating'))",
            (ts(updated_before),),
            "org_slug, provider",
        )

    def commit(self, write: Write) -> Integration | None:
        """The whole unit of work in one transaction: a failure anywhere keeps none of it."""
        try:
            with self._db.write() as conn:
                if write.attempt is not None:
                    a = write.attempt
                    attempt = self._record_attempt(conn, write.org, write.provider, a.now, a.seconds, a.limit)
                    if not attempt.allowed:
                        raise attempt.error()  # leaves the transaction: nothing of the write is kept
                for record in write.put_credentials:
                    insert(conn, "org_credentials", rows.credential_row(record))
                saved = self._save_integration(conn, write)
                for credential_id in sorted(write.delete_credentials):
                    conn.execute(
                        f"DELETE FROM org_credentials WHERE {OWNER} AND credential_id = ?",
                        (write.org, write.provider, credential_id),
                    )
                for event in write.events:
                    insert(conn, "audit_events", rows.event_row(event))
        except sqlite3.IntegrityError as exc:
            raise ConflictError("Integration or credential already exists") from exc
        return saved

    def _save_integration(self, conn: sqlite3.Connection, write: Write) -> Integration | None:
        item, expected = write.integration, write.expected_revision
        if item is None:
            if expected is not None:
                self._delete_integration(conn, write.org, write.provider, expected)
            return None
        revision = 1 if expected is None else expected + 1
        row = rows.integration_row(item, revision)
        if expected is None:
            insert(conn, "org_integrations", row)
        else:
            changed = {column: value for column, value in row.items() if column not in INTEGRATION_KEY}
            cur = conn.execute(
                f"UPDATE org_integrations SET {', '.join(f'{c} = ?' for c in changed)} WHERE {OWNER} AND revision = ?",
                (*(text(v) for v in changed.values()), item.org, item.provider, expected),
            )
            if cur.rowcount != 1:
                raise ConflictError("Integration changed since it was read")
        return rows.stored_integration(item, revision)

    @staticmethod
    def _delete_integration(conn: sqlite3.Connection, org: str, provider: str, expected_revision: int) -> None:
        cur = conn.execute(
            f"DELETE FROM org_integrations WHERE {OWNER} AND revision = ?", (org, provider, expected_revision)
        )
        if cur.rowcount != 1:
            raise ConflictError("Integration changed since it was read")

    def insert_integration(self, item: Integration) -> Integration:
        from ...ports import Write

        saved = self.commit(Write(item.org, item.provider, None, item))
        assert saved is not None
        return saved

    def update_integration(self, item: Integration, expected_revision: int) -> Integration:
        from ...ports import Write

        saved = self.commit(Write(item.org, item.provider, expected_revision, item))
        assert saved is not None
        return saved

    def delete_integration(self, org: str, provider: str, expected_revision: int) -> None:
        with self._db.write() as conn:
            self._delete_integration(conn, org, provider, expected_revision)

    # -- credentials ------------------------------------------------------------------------

    def put_credential(self, record: CredentialRecord) -> None:
        try:
            with self._db.write() as conn:
                insert(conn, "org_credentials", rows.credential_row(record))
        except sqlite3.IntegrityError as exc:
            raise ConflictError("Credential already exists") from exc

    def get_credential(self, org: str, provider: str, credential_id: str) -> CredentialRecord | None:
        found = self._read(
            "org_credentials",
            f"SELECT * FROM org_credentials WHERE {OWNER} AND credential_id = ?",
            (org, provider, credential_id),
        )
        return rows.credential_of(found[0]) if found else None

    def delete_credential(self, org: str, provider: str, credential_id: str) -> bool:
        with self._db.write() as conn:
            cur = conn.execute(
                f"DELETE FROM org_credentials WHERE {OWNER} AND credential_id = ?", (org, provider, credential_id)
            )
            return cur.rowcount == 1

    def delete_credentials(
        self, org: str, provider: str, keep: frozenset[str] = frozenset(), created_before: datetime | None = None
    ) -> int:
        sql = f"DELETE FROM org_credentials WHERE {OWNER}"
        params: list[Any] = [org, provider]
        if keep:
            sql += f" AND credential_id NOT IN ({', '.join('?' * len(keep))})"
            params += sorted(keep)
        if created_before is not None:
            sql += " AND created_at < ?"
            params.append(ts(created_before))
        with self._db.write() as conn:
            return conn.execute(sql, params).rowcount

    def list_credentials(self, after: tuple[str, str, str] | None, limit: int) -> list[CredentialRecord]:
        where, params = ("", ()) if after is None else ("WHERE (org_slug, provider, credential_id) > (?, ?, ?)", after)
        found = self._read(
            "org_credentials",
            f"SELECT * FROM org_credentials {where} ORDER BY org_slug, provider, credential_id LIMIT ?",
            (*params, limit),
        )
        return [rows.credential_of(r) for r in found]

    def replace_ciphertext(self, record: CredentialRecord, old_ciphertext: bytes) -> bool:
        with self._db.write() as conn:
            cur = conn.execute(
                f"UPDATE org_credentials SET ciphertext = ?, key_version = ? WHERE {OWNER}"
                " AND credential_id = ? AND ciphertext = ?",
                (
                    record.ciphertext,
                    record.key_version,
                    record.org,
                    record.provider,
                    record.credential_id,
                    old_ciphertext,
                ),
            )
            return cur.rowcount == 1

    def delete_orphan_credentials(self, created_before: datetime) -> int:
        with self._db.write() as conn:
            return conn.execute(
                "DELETE FROM org_credentials WHERE created_at < ? AND NOT EXISTS ("
                " SELECT 1 FROM org_integrations i WHERE i.org_slug = org_credentials.org_slug"
                " AND i.provider = org_credentials.provider"
                " AND (i.credential_id = org_credentials.credential_id"
                "  OR json_extract(i.rotation, '$.credential_id') = org_credentials.credential_id))",
                (ts(created_before),),
            ).rowcount

    # -- validation rate limit --------------------------------------------------------------

    def try_record_attempt(self, org: str, provider: str, now: datetime, window_seconds: int, limit: int) -> Attempt:
        with self._db.write() as conn:
            return self._record_attempt(conn, org, provider, now, window_seconds, limit)

    @staticmethod
    def _record_attempt(
        conn: sqlite3.Connection, org: str, provider: str, now: datetime, window_seconds: int, limit: int
    ) -> Attempt:
        from ...ports import Attempt

        since = ts(now - timedelta(seconds=window_seconds))
        conn.execute(f"DELETE FROM validation_attempts WHERE {OWNER} AND at <= ?", (org, provider, since))
        count, oldest = conn.execute(
            f"SELECT COUNT(*), MIN(at) FROM validation_attempts WHERE {OWNER} AND at > ?", (org, provider, since)
        ).fetchone()
        if count >= limit:
            return Attempt.refused(dt(oldest), now, window_seconds)
        insert(conn, "validation_attempts", rows.attempt_row(org, provider, uuid.uuid4().hex, now))
        return Attempt(True)

    # -- audit events -----------------------------------------------------------------------

    def append_event(self, event: Event) -> None:
        with self._db.write() as conn:
            insert(conn, "audit_events", rows.event_row(event))

    def list_events(
        self, org: str, provider: str, limit: int, before: tuple[datetime, str] | None = None
    ) -> list[Event]:
        sql = f"SELECT * FROM audit_events WHERE {OWNER}"
        params: tuple[Any, ...] = (org, provider)
        if before is not None:
            sql += " AND (at < ? OR (at = ? AND event_id < ?))"
            params += (ts(before[0]), ts(before[0]), before[1])
        found = self._read("audit_events", sql + " ORDER BY at DESC, event_id DESC LIMIT ?", (*params, limit))
        return [rows.event_of(r) for r in found]
