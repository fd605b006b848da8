"""The embedded `Store`: one SQLite file under the data directory.

Several processes may share the file: WAL mode, a busy timeout, and every write in a
`BEGIN IMMEDIATE` transaction, so compare-and-set on `revision` and the rate limit's
count-then-insert are atomic across processes. One connection per thread (the local
server answers requests on threads). The file is created 0600 in a 0700 directory.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import uuid
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterator

from ..domain.errors import ConflictError, StoreError
from ..domain.lifecycle import Status
from ..domain.models import CredentialRecord, CredentialRef, Event, Integration, Org, Rotation
from ..ports import Attempt, Write

SCHEMA = """
CREATE TABLE IF NOT EXISTS org_api_keys (
    org_slug TEXT PRIMARY KEY, api_key_id TEXT NOT NULL, api_key_hash TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS org_integrations (
    org_slug TEXT NOT NULL, provider TEXT NOT NULL, category TEXT NOT NULL, name TEXT NOT NULL,
    status TEXT NOT NULL, status_code TEXT, status_message TEXT, config TEXT,
    credential_id TEXT, credential_version INTEGER, fingerprint TEXT, hint TEXT,
    credential_created_at TEXT, rotation TEXT, created_at TEXT NOT NULL, updated_at TEXT NOT NULL,
    last_validated_at TEXT, revision INTEGER NOT NULL, PRIMARY KEY (org_slug, provider));
CREATE INDEX IF NOT EXISTS org_integrations_status ON org_integrations (status);
CREATE TABLE IF NOT EXISTS org_credentials (
    org_slug TEXT NOT NULL, provider TEXT NOT NULL, credential_id TEXT NOT NULL,
    version INTEGER NOT NULL, ciphertext BLOB NOT NULL, key_version TEXT NOT NULL,
    fingerprint TEXT NOT NULL, hint TEXT NOT NULL, created_at TEXT NOT NULL,
    PRIMARY KEY (org_slug, provider, credential_id));
CREATE TABLE IF NOT EXISTS validation_attempts (
    org_slug TEXT NOT NULL, provider TEXT NOT NULL, attempt_id TEXT NOT NULL, at TEXT NOT NULL,
    PRIMARY KEY (org_slug, provider, attempt_id));
CREATE INDEX IF NOT EXISTS validation_attempts_at ON validation_attempts (org_slug, provider, at);
CREATE TABLE IF NOT EXISTS audit_events (
    event_id TEXT PRIMARY KEY, org_slug TEXT NOT NULL, provider TEXT NOT NULL, at TEXT NOT NULL,
    action TEXT NOT NULL, actor TEXT NOT NULL, outcome TEXT NOT NULL, fingerprint TEXT, details TEXT);
CREATE INDEX IF NOT EXISTS audit_events_by_owner ON audit_events (org_slug, provider, at, event_id);
"""

INTEGRATION_COLUMNS = (
    "org_slug, provider, category, name, status, status_code, status_message, config, credential_id, "
    "credential_version, fingerprint, hint, credential_created_at, rotation, created_at, updated_at, "
    "last_validated_at, revision"
)


class MissingStoreError(StoreError):
    """A read found no store file: DATA_DIR points elsewhere, or nothing was ever stored."""

    def __init__(self, path: Path):
        super().__init__(f"No store at {path} (DATA_DIR={path.parent}): set DATA_DIR to the data directory "
                         "the service uses, or run `python -m shared.cli init-store` to create an empty one")


def _ts(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(timezone.utc).isoformat(timespec="milliseconds")


def _dt(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


class SqliteStore:
    def __init__(self, path: Path):
        self._path = Path(path)
        self._local = threading.local()
        self._ready = False
        self._init_lock = threading.Lock()
        self._write_lock = threading.Lock()

    # -- plumbing ---------------------------------------------------------------------------

    def _connect(self, create: bool = True) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            return conn
        with self._init_lock:
            if not self._ready and not self._path.exists():
                # Only a write (or init_store) creates the store: a read of a wrong DATA_DIR must
                # say so, not answer from a new empty store.
                if not create:
                    raise MissingStoreError(self._path)
                self._path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                os.close(os.open(self._path, os.O_CREAT | os.O_WRONLY, 0o600))
        conn = sqlite3.connect(self._path, timeout=30, isolation_level=None, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA busy_timeout = 30000")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        with self._init_lock:
            if not self._ready:
                conn.executescript(SCHEMA)
                self._ready = True
        self._local.conn = conn
        return conn

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        # Threads of this process queue on a lock (fair, no sleeping); other processes are
        # kept out by BEGIN IMMEDIATE and SQLite's busy timeout.
        with self._write_lock:
            conn = self._connect()
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise StoreError("Store unavailable") from exc
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException as exc:
                # A full disk or an I/O error may fail any statement, COMMIT included:
                # the whole transaction is rolled back, nothing of it is kept.
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                if isinstance(exc, sqlite3.IntegrityError):
                    raise
                if isinstance(exc, sqlite3.Error):
                    raise StoreError("Store unavailable") from exc
                raise

    def _read(self, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        try:
            return self._connect(create=False).execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise StoreError("Store unavailable") from exc

    def init_store(self) -> None:
        self._connect()

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    # -- orgs -------------------------------------------------------------------------------

    def create_org(self, org: Org) -> None:
        try:
            with self._write() as conn:
                conn.execute(
                    "INSERT INTO org_api_keys (org_slug, api_key_id, api_key_hash, created_at) VALUES (?, ?, ?, ?)",
                    (org.slug, org.api_key_id, org.api_key_hash, _ts(org.created_at)),
                )
        except sqlite3.IntegrityError as exc:
            raise ConflictError("Organization already exists") from exc

    @staticmethod
    def _org(row: sqlite3.Row | None) -> Org | None:
        if row is None:
            return None
        return Org(slug=row["org_slug"], api_key_id=row["api_key_id"], api_key_hash=row["api_key_hash"],
                   created_at=_dt(row["created_at"]))

    def get_org(self, slug: str) -> Org | None:
        rows = self._read("SELECT * FROM org_api_keys WHERE org_slug = ?", (slug,))
        return self._org(rows[0] if rows else None)

    def find_org_by_key_hash(self, key_hash: str) -> Org | None:
        rows = self._read("SELECT * FROM org_api_keys WHERE api_key_hash = ?", (key_hash,))
        return self._org(rows[0] if rows else None)

    def replace_org_key(self, slug: str, api_key_id: str, api_key_hash: str, issued_at: datetime) -> bool:
        with self._write() as conn:
            cur = conn.execute(
                "UPDATE org_api_keys SET api_key_id = ?, api_key_hash = ?, created_at = ? WHERE org_slug = ?",
                (api_key_id, api_key_hash, _ts(issued_at), slug),
            )
            return cur.rowcount == 1

    # -- integrations -----------------------------------------------------------------------

    @staticmethod
    def _integration_params(item: Integration, revision: int) -> tuple[Any, ...]:
        cred = item.credential
        return (
            item.org, item.provider, item.category, item.name, item.status.value, item.status_code,
            item.status_message, json.dumps(item.config, sort_keys=True),
            cred.credential_id if cred else None, cred.version if cred else None,
            cred.fingerprint if cred else None, cred.hint if cred else None,
            _ts(cred.created_at) if cred else None,
            item.rotation.model_dump_json() if item.rotation else None,
            _ts(item.created_at), _ts(item.updated_at), _ts(item.last_validated_at), revision,
        )

    @staticmethod
    def _integration(row: sqlite3.Row) -> Integration:
        cred = None
        if row["credential_id"] is not None:
            cred = CredentialRef(credential_id=row["credential_id"], version=row["credential_version"],
                                 fingerprint=row["fingerprint"], hint=row["hint"],
                                 created_at=_dt(row["credential_created_at"]))
        return Integration(
            org=row["org_slug"], provider=row["provider"], category=row["category"], name=row["name"],
            status=Status(row["status"]), status_code=row["status_code"], status_message=row["status_message"],
            credential=cred,
            rotation=Rotation.model_validate_json(row["rotation"]) if row["rotation"] else None,
            config=json.loads(row["config"]) if row["config"] else {},
            created_at=_dt(row["created_at"]), updated_at=_dt(row["updated_at"]),
            last_validated_at=_dt(row["last_validated_at"]), revision=row["revision"],
        )

    def get_integration(self, org: str, provider: str) -> Integration | None:
        rows = self._read("SELECT * FROM org_integrations WHERE org_slug = ? AND provider = ?", (org, provider))
        return self._integration(rows[0]) if rows else None

    def list_integrations(self, org: str) -> list[Integration]:
        rows = self._read("SELECT * FROM org_integrations WHERE org_slug = ? ORDER BY provider", (org,))
        return [self._integration(r) for r in rows]

    def list_integrations_by_status(self, status: str) -> list[Integration]:
        rows = self._read("SELECT * FROM org_integrations WHERE status = ? ORDER BY org_slug, provider", (status,))
        return [self._integration(r) for r in rows]

    def list_unsettled_integrations(self, updated_before: datetime) -> list[Integration]:
        rows = self._read(
            "SELECT * FROM org_integrations WHERE updated_at < ? AND status != 'disabled' AND ("
            "status IN ('pending', 'validating')"
            " OR json_extract(rotation, '$.status') IN ('pending', 'validating'))"
            " ORDER BY org_slug, provider",
            (_ts(updated_before),),
        )
        return [self._integration(r) for r in rows]

    def commit(self, write: Write) -> Integration | None:
        """The whole unit of work in one transaction: a failure anywhere keeps none of it."""
        try:
            with self._write() as conn:
                for record in write.put_credentials:
                    self._insert_credential(conn, record)
                saved = self._save_integration(conn, write)
                for credential_id in sorted(write.delete_credentials):
                    conn.execute("DELETE FROM org_credentials WHERE org_slug = ? AND provider = ? AND credential_id = ?",
                                 (write.org, write.provider, credential_id))
                for event in write.events:
                    self._insert_event(conn, event)
        except sqlite3.IntegrityError as exc:
            raise ConflictError("Integration or credential already exists") from exc
        return saved

    def _save_integration(self, conn: sqlite3.Connection, write: Write) -> Integration | None:
        item, expected = write.integration, write.expected_revision
        if item is None:
            if expected is not None:
                self._delete_integration(conn, write.org, write.provider, expected)
            return None
        if expected is None:
            conn.execute(f"INSERT INTO org_integrations ({INTEGRATION_COLUMNS}) VALUES ({', '.join('?' * 18)})",
                         self._integration_params(item, 1))
            return item.model_copy(update={"revision": 1})
        params = self._integration_params(item, expected + 1)
        assignments = ", ".join(f"{c.strip()} = ?" for c in INTEGRATION_COLUMNS.split(",")[2:])
        cur = conn.execute(
            f"UPDATE org_integrations SET {assignments} WHERE org_slug = ? AND provider = ? AND revision = ?",
            (*params[2:], item.org, item.provider, expected),
        )
        if cur.rowcount != 1:
            raise ConflictError("Integration changed since it was read")
        return item.model_copy(update={"revision": expected + 1})

    @staticmethod
    def _delete_integration(conn: sqlite3.Connection, org: str, provider: str, expected_revision: int) -> None:
        cur = conn.execute("DELETE FROM org_integrations WHERE org_slug = ? AND provider = ? AND revision = ?",
                           (org, provider, expected_revision))
        if cur.rowcount != 1:
            raise ConflictError("Integration changed since it was read")

    def insert_integration(self, item: Integration) -> Integration:
        saved = self.commit(Write(item.org, item.provider, None, item))
        assert saved is not None
        return saved

    def update_integration(self, item: Integration, expected_revision: int) -> Integration:
        saved = self.commit(Write(item.org, item.provider, expected_revision, item))
        assert saved is not None
        return saved

    def delete_integration(self, org: str, provider: str, expected_revision: int) -> None:
        with self._write() as conn:
            self._delete_integration(conn, org, provider, expected_revision)

    # -- credentials ------------------------------------------------------------------------

    @staticmethod
    def _credential(row: sqlite3.Row) -> CredentialRecord:
        return CredentialRecord(
            org=row["org_slug"], provider=row["provider"], credential_id=row["credential_id"],
            version=row["version"], ciphertext=bytes(row["ciphertext"]), key_version=row["key_version"],
            fingerprint=row["fingerprint"], hint=row["hint"], created_at=_dt(row["created_at"]),
        )

    @staticmethod
    def _insert_credential(conn: sqlite3.Connection, record: CredentialRecord) -> None:
        conn.execute(
            "INSERT INTO org_credentials (org_slug, provider, credential_id, version, ciphertext, key_version,"
            " fingerprint, hint, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (record.org, record.provider, record.credential_id, record.version, record.ciphertext,
             record.key_version, record.fingerprint, record.hint, _ts(record.created_at)),
        )

    def put_credential(self, record: CredentialRecord) -> None:
        try:
            with self._write() as conn:
                self._insert_credential(conn, record)
        except sqlite3.IntegrityError as exc:
            raise ConflictError("Credential already exists") from exc

    def get_credential(self, org: str, provider: str, credential_id: str) -> CredentialRecord | None:
        rows = self._read(
            "SELECT * FROM org_credentials WHERE org_slug = ? AND provider = ? AND credential_id = ?",
            (org, provider, credential_id),
        )
        return self._credential(rows[0]) if rows else None

    def delete_credential(self, org: str, provider: str, credential_id: str) -> bool:
        with self._write() as conn:
            cur = conn.execute(
                "DELETE FROM org_credentials WHERE org_slug = ? AND provider = ? AND credential_id = ?",
                (org, provider, credential_id),
            )
            return cur.rowcount == 1

    def delete_credentials(
        self, org: str, provider: str, keep: frozenset[str] = frozenset(), created_before: datetime | None = None
    ) -> int:
        sql = "DELETE FROM org_credentials WHERE org_slug = ? AND provider = ?"
        params: list[Any] = [org, provider]
        if keep:
            sql += f" AND credential_id NOT IN ({', '.join('?' * len(keep))})"
            params += sorted(keep)
        if created_before is not None:
            sql += " AND created_at < ?"
            params.append(_ts(created_before))
        with self._write() as conn:
            return conn.execute(sql, params).rowcount

    def list_credentials(self, after: tuple[str, str, str] | None, limit: int) -> list[CredentialRecord]:
        if after is None:
            rows = self._read("SELECT * FROM org_credentials ORDER BY org_slug, provider, credential_id LIMIT ?", (limit,))
        else:
            rows = self._read(
                "SELECT * FROM org_credentials WHERE (org_slug, provider, credential_id) > (?, ?, ?)"
                " ORDER BY org_slug, provider, credential_id LIMIT ?",
                (*after, limit),
            )
        return [self._credential(r) for r in rows]

    def replace_ciphertext(self, record: CredentialRecord, old_ciphertext: bytes) -> bool:
        with self._write() as conn:
            cur = conn.execute(
                "UPDATE org_credentials SET ciphertext = ?, key_version = ? WHERE org_slug = ? AND provider = ?"
                " AND credential_id = ? AND ciphertext = ?",
                (record.ciphertext, record.key_version, record.org, record.provider, record.credential_id,
                 old_ciphertext),
            )
            return cur.rowcount == 1

    def delete_orphan_credentials(self, created_before: datetime) -> int:
        with self._write() as conn:
            return conn.execute(
                "DELETE FROM org_credentials WHERE created_at < ? AND NOT EXISTS ("
                " SELECT 1 FROM org_integrations i WHERE i.org_slug = org_credentials.org_slug"
                " AND i.provider = org_credentials.provider"
                " AND (i.credential_id = org_credentials.credential_id"
                "  OR json_extract(i.rotation, '$.credential_id') = org_credentials.credential_id))",
                (_ts(created_before),),
            ).rowcount

    # -- validation rate limit --------------------------------------------------------------

    def try_record_attempt(self, org: str, provider: str, now: datetime, window_seconds: int, limit: int) -> Attempt:
        since = _ts(now - timedelta(seconds=window_seconds))
        with self._write() as conn:
            conn.execute("DELETE FROM validation_attempts WHERE org_slug = ? AND provider = ? AND at <= ?",
                         (org, provider, since))
            count, oldest = conn.execute(
                "SELECT COUNT(*), MIN(at) FROM validation_attempts WHERE org_slug = ? AND provider = ? AND at > ?",
                (org, provider, since),
            ).fetchone()
            if count >= limit:
                return Attempt.refused(_dt(oldest), now, window_seconds)
            conn.execute("INSERT INTO validation_attempts (org_slug, provider, attempt_id, at) VALUES (?, ?, ?, ?)",
                         (org, provider, uuid.uuid4().hex, _ts(now)))
            return Attempt(True)

    # -- audit events -----------------------------------------------------------------------

    @staticmethod
    def _insert_event(conn: sqlite3.Connection, event: Event) -> None:
        conn.execute(
            "INSERT INTO audit_events (event_id, org_slug, provider, at, action, actor, outcome, fingerprint, details)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (event.id, event.org, event.provider, _ts(event.at), event.action, event.actor, event.outcome,
             event.fingerprint, json.dumps(event.details, sort_keys=True)),
        )

    def append_event(self, event: Event) -> None:
        with self._write() as conn:
            self._insert_event(conn, event)

    def list_events(self, org: str, provider: str, limit: int, before: tuple[datetime, str] | None = None) -> list[Event]:
        sql = "SELECT * FROM audit_events WHERE org_slug = ? AND provider = ?"
        params: tuple[Any, ...] = (org, provider)
        if before is not None:
            sql += " AND (at < ? OR (at = ? AND event_id < ?))"
            params += (_ts(before[0]), _ts(before[0]), before[1])
        rows = self._read(sql + " ORDER BY at DESC, event_id DESC LIMIT ?", (*params, limit))
        return [
            Event(id=r["event_id"], org=r["org_slug"], provider=r["provider"], at=_dt(r["at"]), action=r["action"],
                  actor=r["actor"], outcome=r["outcome"], fingerprint=r["fingerprint"],
                  details=json.loads(r["details"]) if r["details"] else {})
            for r in rows
        ]
