"""The SQLite file: created on the first write, shared by threads and processes.

Several processes may share the file: WAL mode, a busy timeout, and every write in a
`BEGIN IMMEDIATE` transaction, so compare-and-set on `revision` and the rate limit's
count-then-insert are atomic across processes. One connection per thread (the local
server answers requests on threads). The file is created 0600 in a 0700 directory.

The tables are those of configs/schemas/*.json, types mapped; timestamps are ISO text in
UTC to the millisecond, so they compare and sort as text.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, Iterator

from ...domain.errors import StoreError, MissingStoreError
from .. import rows

SQLITE_TYPES = {"STRING": "TEXT", "INT64": "INTEGER", "TIMESTAMP": "TEXT", "BYTES": "BLOB"}
# Keys and indexes are SQLite's own: BigQuery has neither (it clusters, see its schema module).
KEYS = {
    "org_api_keys": ("PRIMARY KEY (org_slug)", "UNIQUE (api_key_hash)"),
    "org_integrations": ("PRIMARY KEY (org_slug, provider)",),
    "org_credentials": ("PRIMARY KEY (org_slug, provider, credential_id)",),
    "validation_attempts": ("PRIMARY KEY (org_slug, provider, attempt_id)",),
    "audit_events": ("PRIMARY KEY (event_id)",),
}
INDEXES = (
    "CREATE INDEX IF NOT EXISTS org_integrations_status ON org_integrations (status)",
    "CREATE INDEX IF NOT EXISTS validation_attempts_at ON validation_attempts (org_slug, provider, at)",
    "CREATE INDEX IF NOT EXISTS audit_events_by_owner ON audit_events (org_slug, provider, at, event_id)",
)


def schema_sql() -> str:
    """CREATE statements for every table of configs/schemas (safe to run on an existing store)."""
    statements = []
    for table in rows.TABLES:
        defs = [f"{c.name} {SQLITE_TYPES[c.type]}{' NOT NULL' if c.required else ''}" for c in rows.columns(table)]
        statements.append(f"CREATE TABLE IF NOT EXISTS {table} ({', '.join(defs + list(KEYS[table]))})")
    return ";\n".join(statements + list(INDEXES)) + ";\n"


def add_missing_columns(conn: sqlite3.Connection) -> None:
    """A store file made by an earlier release gets the columns a schema file has gained since
    (always NULLABLE: an old row simply has none). CREATE TABLE IF NOT EXISTS never adds them."""
    for table in rows.TABLES:
        present = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
        for column in rows.columns(table):
            if column.name not in present:
                if column.required:
                    raise StoreError(f"{table}.{column.name} is new and REQUIRED: it needs a migration with a default")
                conn.execute(f"ALTER TABLE {table} ADD COLUMN {column.name} {SQLITE_TYPES[column.type]}")


def text(value: Any) -> Any:
    """A row value as SQLite keeps it: timestamps (already UTC, ms) as ISO text, the rest as is."""
    return value.isoformat(timespec="milliseconds") if isinstance(value, datetime) else value


def ts(value: datetime | None) -> str | None:
    """A timestamp parameter (a bound of a query), in the stored text form."""
    return text(rows.ms(value))


def dt(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def decoded(table: str, row: sqlite3.Row) -> dict[str, Any]:
    """A row of `table` with its timestamps back to datetimes, for the rows module."""
    values = dict(zip(row.keys(), row))
    for name in rows.timestamp_columns(table):
        if values.get(name) is not None:
            values[name] = datetime.fromisoformat(values[name])
    return values


class Database:
    def __init__(self, path: Path):
        self.path = Path(path)
        self._local = threading.local()
        self._ready = False
        self._init_lock = threading.Lock()
        self._write_lock = threading.Lock()

    def connect(self, create: bool = True) -> sqlite3.Connection:
        """This thread's connection, opening (and, if `create`, creating) the file first."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            return conn
        with self._init_lock:
            if not self._ready and not self.path.exists():
                # Only a write (or init_store) creates the store: a read of a wrong DATA_DIR must
                # say so, not answer from a new empty store.
                if not create:
                    raise MissingStoreError(self.path)
                self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                os.close(os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600))
        conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA busy_timeout = 30000")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        with self._init_lock:
            if not self._ready:
                conn.executescript(schema_sql())
                add_missing_columns(conn)
                self._ready = True
        self._local.conn = conn
        return conn

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One transaction; sqlite3.IntegrityError passes through, other SQLite errors are StoreError."""
        # Threads of this process queue on a lock (fair, no sleeping); other processes are
        # kept out by BEGIN IMMEDIATE and SQLite's busy timeout.
        with self._write_lock:
            conn = self.connect()
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

    def read(self, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        """Rows of one query; never creates the file (MissingStoreError)."""
        try:
            return self.connect(create=False).execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise StoreError("Store unavailable") from exc

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None


def insert(conn: sqlite3.Connection, table: str, row: dict[str, Any]) -> None:
    """INSERT one row of the rows module."""
    conn.execute(
        f"INSERT INTO {table} ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
        tuple(text(v) for v in row.values()),
    )
