"""shared/adapters/rows.py: one mapping between models and rows, driven by configs/schemas.

Every column of every schema file is written and read, and nothing else: a column added to
a schema file without its mapping fails here (and at the first write, never half-stored).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Mapping

import pytest

from shared.adapters import rows
from shared.domain.lifecycle import Status
from tests.contract.test_store_contract import CEST, T0, full_integration, make_event, make_org, make_record
from tests.support.schemas import schema_dir  # noqa: F401 (fixture)

REPO = Path(__file__).resolve().parents[2]


class Reading(dict):  # type: ignore[type-arg]
    """A row that remembers which columns were read."""

    def __init__(self, values: Mapping[str, Any]) -> None:
        super().__init__(values)
        self.read: set[str] = set()

    def __getitem__(self, key: str) -> Any:
        self.read.add(key)
        return super().__getitem__(key)


# table -> (a model with every field set, model -> row, row -> model or None)
MAPPINGS: dict[str, tuple[Any, Callable[[Any], dict[str, Any]], Callable[[Mapping[str, Any]], Any] | None]] = {
    "org_api_keys": (make_org("acme").model_copy(update={"aws_external_id": "ext-1"}), rows.org_row, rows.org_of),
    "org_integrations": (
        full_integration().model_copy(update={"revision": 7}),
        lambda item: rows.integration_row(item, revision=7),
        rows.integration_of,
    ),
    "org_credentials": (make_record(ciphertext=bytes(range(256))), rows.credential_row, rows.credential_of),
    "validation_attempts": (("acme", "openai", "a-1", T0), lambda a: rows.attempt_row(*a), None),
    "audit_events": (
        make_event(T0, "e-1", fingerprint="ab" * 32, details={"b": 1, "a": [None, "é"]}),
        rows.event_row,
        rows.event_of,
    ),
}


def schema_file_columns(table: str) -> list[str]:
    return [c["name"] for c in json.loads((REPO / "configs" / "schemas" / f"{table}.json").read_text())]


def test_every_schema_file_has_a_mapping():
    assert (
        sorted(p.stem for p in (REPO / "configs" / "schemas").glob("*.json")) == sorted(rows.TABLES) == sorted(MAPPINGS)
    )


@pytest.mark.parametrize("table", sorted(MAPPINGS))
def test_every_schema_column_is_written_and_read_and_nothing_else(table: str):
    model, to_row, of_row = MAPPINGS[table]
    row = to_row(model)
    assert list(row) == schema_file_columns(table)  # every column, in the file's order, no other
    if of_row is None:
        return
    reading = Reading(row)
    assert of_row(reading) == model  # the round trip loses nothing
    assert reading.read == set(row), f"columns never read back: {set(row) - reading.read}"


@pytest.mark.parametrize("table", sorted(MAPPINGS))
def test_a_column_added_to_a_schema_file_without_its_mapping_fails_at_once(table: str, schema_dir: Path):
    path = schema_dir / f"{table}.json"
    path.write_text(
        json.dumps(json.loads(path.read_text()) + [{"name": "added", "type": "STRING", "mode": "NULLABLE"}])
    )
    model, to_row, _ = MAPPINGS[table]
    with pytest.raises(RuntimeError, match=rf"{table}: .*unmapped columns \['added'\]"):
        to_row(model)


def test_a_column_removed_from_a_schema_file_fails_at_once(schema_dir: Path):
    path = schema_dir / "audit_events.json"
    path.write_text(json.dumps([c for c in json.loads(path.read_text()) if c["name"] != "details"]))
    with pytest.raises(RuntimeError, match=r"columns not in the schema \['details'\]"):
        rows.event_row(make_event(T0, "e-1"))


def test_timestamps_are_utc_to_the_millisecond_and_naive_ones_are_taken_as_utc():
    local = datetime(2026, 3, 14, 17, 9, 26, 535999, tzinfo=CEST)
    row = rows.org_row(make_org("acme").model_copy(update={"created_at": local}))
    assert row["created_at"] == T0 and row["created_at"].tzinfo == timezone.utc
    naive = datetime(2026, 3, 14, 15, 9, 26, 535123)
    assert rows.event_row(make_event(naive, "e-1"))["at"] == T0
    item = full_integration().model_copy(update={"updated_at": T0 + timedelta(microseconds=987654)})
    stored = rows.stored_integration(item, revision=2)
    assert stored.updated_at == T0 + timedelta(microseconds=987000) and stored.revision == 2
    rotation = item.rotation.model_copy(update={"created_at": T0 + timedelta(microseconds=999)})
    staged = json.loads(rows.integration_row(item.model_copy(update={"rotation": rotation}), 2)["rotation"])
    assert datetime.fromisoformat(staged["created_at"]) == T0  # inside the JSON too


def test_json_columns_are_compact_sorted_text_and_empty_ones_read_back_empty():
    row = rows.integration_row(full_integration().model_copy(update={"config": {"b": 1, "a": {"d": 2, "c": None}}}), 1)
    assert row["config"] == '{"a":{"c":null,"d":2},"b":1}'
    assert rows.event_row(make_event(T0, "e-1", details={"z": 1, "y": 2}))["details"] == '{"y":2,"z":1}'
    saas = rows.integration_row(
        full_integration().model_copy(update={"credential": None, "rotation": None, "config": {}}), 1
    )
    assert (saas["credential_id"], saas["rotation"], saas["config"]) == (None, None, "{}")
    read = rows.integration_of({**saas, "config": None})
    assert read.config == {} and read.credential is None and read.rotation is None
    assert rows.event_of({**rows.event_row(make_event(T0, "e-1")), "details": None}).details == {}


def test_status_is_stored_by_value_and_bytes_stay_bytes():
    row = rows.integration_row(full_integration().model_copy(update={"status": Status.ACTIVE}), 1)
    assert row["status"] == "active"
    record = rows.credential_of({**rows.credential_row(make_record()), "ciphertext": bytearray(b"\x00sealed\xff")})
    assert type(record.ciphertext) is bytes and record.ciphertext == b"\x00sealed\xff"


def test_what_a_write_answers_is_what_a_read_of_its_row_gives():
    cut = T0 + timedelta(microseconds=999)
    item = full_integration().model_copy(update={"updated_at": cut.astimezone(CEST), "last_validated_at": None})
    item = item.model_copy(
        update={
            "rotation": item.rotation.model_copy(update={"created_at": cut}),
            "credential": item.credential.model_copy(update={"created_at": cut}),
        }
    )
    stored = rows.stored_integration(item, revision=5)
    assert stored == rows.integration_of(rows.integration_row(item, revision=5))
    assert (stored.updated_at, stored.rotation.created_at, stored.credential.created_at, stored.revision) == (
        T0,
        T0,
        T0,
        5,
    )
