"""shared/adapters/sqlite_store/database.py: the SQLite tables come from configs/schemas.

A new store's tables have the schema files' columns (types mapped, REQUIRED as NOT NULL),
the keys and indexes of before; a store file written by the previous release (its tables
declared by hand) opens and keeps working.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from shared.adapters import rows
from shared.adapters.sqlite_store import SqliteStore
from shared.adapters.sqlite_store.database import SQLITE_TYPES, schema_sql
from shared.domain.errors import StoreError
from shared.domain.lifecycle import Status
from shared.ports import Write
from tests.contract.test_store_contract import T0, full_integration, make_event
from tests.support.schemas import schema_dir  # noqa: F401 (fixture)

# The tables as the previous release declared them by hand: files it wrote are in use.
PREVIOUS_RELEASE = """
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


def columns(db: sqlite3.Connection, table: str) -> list[tuple[str, str, bool]]:
    return [(name, type_, bool(notnull)) for _, name, type_, notnull, _, _ in db.execute(f"PRAGMA table_info({table})")]


def keys_and_indexes(db: sqlite3.Connection, table: str) -> list[tuple[bool, str, list[str]]]:
    found = []
    for _, name, unique, origin, _ in db.execute(f"PRAGMA index_list({table})"):
        found.append((bool(unique), origin, [r[2] for r in db.execute(f"PRAGMA index_info('{name}')")]))
    return sorted(found)


def test_a_new_stores_tables_are_the_schema_files(tmp_path: Path):
    store = SqliteStore(tmp_path / "s.db")
    store.init_store()
    db = sqlite3.connect(tmp_path / "s.db")
    tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
    assert tables == sorted(rows.TABLES)
    for table in rows.TABLES:
        expected = [(c["name"], SQLITE_TYPES[c["type"]], c["mode"] == "REQUIRED") for c in rows.load_schema(table)]
        assert columns(db, table) == expected
    db.close()
    store.close()


def test_keys_and_indexes_are_those_of_the_previous_release():
    new, old = sqlite3.connect(":memory:"), sqlite3.connect(":memory:")
    new.executescript(schema_sql())
    old.executescript(PREVIOUS_RELEASE)
    for table in rows.TABLES:
        assert keys_and_indexes(new, table) == keys_and_indexes(old, table)
        # the same columns, plus those added since (migrated in by add_missing_columns); the schema
        # files also make primary keys NOT NULL (never NULL anyway)
        added = {
            "org_integrations": [
                ("capabilities", "TEXT"),
                ("credential_expires_at", "TEXT"),
                ("credential_expiry_warned_at", "TEXT"),
            ],
            "org_api_keys": [("aws_external_id", "TEXT")],
        }.get(
            table,
            [],  # fmt: skip
        )
        assert [c[:2] for c in columns(new, table)] == [c[:2] for c in columns(old, table)] + added


def test_a_column_added_to_a_schema_file_is_in_a_new_stores_table(schema_dir: Path, tmp_path: Path):  # noqa: F811
    path = schema_dir / "org_credentials.json"
    path.write_text(json.dumps(json.loads(path.read_text()) + [{"name": "added", "type": "BYTES", "mode": "REQUIRED"}]))
    store = SqliteStore(tmp_path / "s.db")
    store.init_store()
    db = sqlite3.connect(tmp_path / "s.db")
    assert columns(db, "org_credentials")[-1] == ("added", "BLOB", True)
    db.close()
    store.close()


def test_a_file_of_the_previous_release_opens_and_keeps_working(tmp_path: Path):
    path = tmp_path / "integrations.db"
    db = sqlite3.connect(path)
    db.executescript(PREVIOUS_RELEASE)
    # rows as the previous release wrote them: JSON with spaces, timestamps as ISO text
    db.execute(
        "INSERT INTO org_integrations (org_slug, provider, category, name, status, config, created_at, updated_at,"
        " revision) VALUES ('acme', 'openai', 'llm', 'OpenAI', 'pending', ?, ?, ?, 3)",
        (
            json.dumps({"b": [1, 2], "a": "x"}, sort_keys=True),
            T0.isoformat(timespec="milliseconds"),
            T0.isoformat(timespec="milliseconds"),
        ),
    )
    db.execute(
        "INSERT INTO audit_events (event_id, org_slug, provider, at, action, actor, outcome, details)"
        " VALUES ('e-0', 'acme', 'openai', ?, 'setup', 'kid', 'pending', ?)",
        (T0.isoformat(timespec="milliseconds"), json.dumps({"k": "v"}, sort_keys=True)),
    )
    db.commit()
    db.close()

    store = SqliteStore(path)
    item = store.get_integration("acme", "openai")
    assert item.config == {"a": "x", "b": [1, 2]} and item.created_at == T0 and item.revision == 3
    assert store.list_events("acme", "openai", 10)[0].details == {"k": "v"}
    saved = store.commit(
        Write("acme", "openai", 3, item.model_copy(update={"status": Status.ACTIVE}), events=(make_event(T0, "e-1"),))
    )
    assert saved == store.get_integration("acme", "openai") and saved.revision == 4
    assert [e.id for e in store.list_events("acme", "openai", 10)] == ["e-1", "e-0"]
    store.commit(Write("acme", "gcp", None, full_integration()))
    assert store.get_integration("acme", "gcp") == full_integration().model_copy(update={"revision": 1})
    store.close()


def test_a_file_of_the_previous_release_gains_the_columns_added_since(tmp_path: Path):
    path = tmp_path / "integrations.db"
    db = sqlite3.connect(path)
    db.executescript(PREVIOUS_RELEASE)  # no `capabilities` column
    db.close()
    store = SqliteStore(path)
    item = full_integration().model_copy(update={"capabilities": ("costs", "usage")})
    store.commit(Write("acme", "gcp", None, item))
    assert store.get_integration("acme", "gcp").capabilities == ("costs", "usage")
    assert store.get_integration("acme", "gcp").credential == full_integration().credential
    store.close()
    db = sqlite3.connect(path)
    added = {"capabilities", "credential_expires_at", "credential_expiry_warned_at"}
    assert added <= {name for name, *_ in columns(db, "org_integrations")}
    db.close()


def test_a_new_required_column_is_refused_not_half_migrated(schema_dir: Path, tmp_path: Path):  # noqa: F811
    store = SqliteStore(tmp_path / "s.db")
    store.init_store()
    store.close()
    path = schema_dir / "org_credentials.json"
    path.write_text(
        json.dumps(json.loads(path.read_text()) + [{"name": "added", "type": "STRING", "mode": "REQUIRED"}])
    )
    rows.forget_schemas()
    with pytest.raises(StoreError, match="REQUIRED"):
        SqliteStore(tmp_path / "s.db").init_store()


def test_an_org_of_the_previous_release_gains_its_aws_external_id(tmp_path: Path):
    path = tmp_path / "integrations.db"
    db = sqlite3.connect(path)
    db.executescript(PREVIOUS_RELEASE)  # no `aws_external_id` column
    db.execute(
        "INSERT INTO org_api_keys (org_slug, api_key_id, api_key_hash, created_at) VALUES ('acme', 'kid', ?, ?)",
        ("ab" * 32, T0.isoformat(timespec="milliseconds")),
    )
    db.commit()
    db.close()
    store = SqliteStore(path)
    assert store.get_org("acme").aws_external_id is None
    assert store.set_aws_external_id("acme", "ext-1") == "ext-1"
    assert store.get_org("acme").aws_external_id == "ext-1"
    store.close()
