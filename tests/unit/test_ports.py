"""The ports say everything their callers use: lifecycle included, nothing found by `getattr`.

What each adapter does with a method is proven by its contract suite (tests/contract/);
here: that the ports declare it, that every adapter and test double offers it, and the
status event's published form.
"""

from __future__ import annotations

import ast
from datetime import datetime, timezone
from pathlib import Path

import pytest

from shared.adapters.bigquery_store import BigQueryStore
from shared.adapters.local_events import LocalStatusEvents
from shared.adapters.local_queue import LocalQueue
from shared.adapters.pubsub_events import PubSubStatusEvents
from shared.adapters.pubsub_queue import PubSubQueue
from shared.adapters.sqlite_store import SqliteStore
from shared.domain.lifecycle import Status
from shared.ports import Store, StatusEvent, StatusEvents, ValidationQueue, status_event_payload
from tests.support.doubles import RecordingQueue, RecordingStatusEvents
from tests.support.port_check import mismatches, port_methods

ROOT = Path(__file__).resolve().parents[2]
LIFECYCLE = {"init_store", "close", "drain", "ensure_topic", "publish"}


def test_every_port_declares_its_lifecycle() -> None:
    assert {"init_store", "close"} <= set(port_methods(Store))
    assert set(port_methods(ValidationQueue)) == {"publish", "ensure_topic", "drain", "close"}
    assert set(port_methods(StatusEvents)) == {"publish", "ensure_topic", "close"}
    for port in (Store, ValidationQueue, StatusEvents):
        for name in {"init_store", "close", "drain", "ensure_topic"} & set(port_methods(port)):
            assert getattr(port, name).__doc__, f"{port.__name__}.{name} says what it guarantees"


@pytest.mark.parametrize(
    ("adapter", "port"),
    [
        (SqliteStore, Store),
        (BigQueryStore, Store),
        (LocalQueue, ValidationQueue),
        (PubSubQueue, ValidationQueue),
        (RecordingQueue, ValidationQueue),
        (LocalStatusEvents, StatusEvents),
        (PubSubStatusEvents, StatusEvents),
        (RecordingStatusEvents, StatusEvents),
    ],
    ids=lambda value: getattr(value, "__name__", ""),
)
def test_every_adapter_and_double_offers_every_method_of_its_port(adapter: type, port: type) -> None:
    assert mismatches(adapter, port) == []


def test_a_status_event_is_published_as_its_payload() -> None:
    at = datetime(2026, 11, 25, 10, 0, tzinfo=timezone.utc)
    event = StatusEvent(
        org="acme", provider="openai", from_status=Status.VALIDATING, to_status=Status.ACTIVE, message=None, at=at
    )
    expected = {
        "org": "acme",
        "provider": "openai",
        "from": "validating",
        "to": "active",
        "message": None,
        "at": "2026-11-25T10:00:00+00:00",
    }

    assert event.payload() == expected
    assert status_event_payload(event) == expected
    assert status_event_payload(dict(expected)) == expected  # the payload form passes unchanged


def _lifecycle_lookups(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in {"getattr", "hasattr"}
            and len(node.args) >= 2
            and isinstance(node.args[1], ast.Constant)
            and node.args[1].value in LIFECYCLE
        ):
            found.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.func.id}(..., {node.args[1].value!r})")
    return found


def test_no_lifecycle_method_is_looked_up_by_name() -> None:
    """A port's lifecycle is called as declared; `getattr(x, "close", None)` hides a missing method.

    Everywhere a port is used; adapters are left out: what they probe is a vendor's client."""
    adapters = ROOT / "shared" / "adapters"
    files = [
        p
        for folder in ("shared", "functions", "tests", "benchmarks", "tools")
        for p in (ROOT / folder).rglob("*.py")
        if adapters not in p.parents
    ]
    assert [hit for path in files for hit in _lifecycle_lookups(path)] == []
