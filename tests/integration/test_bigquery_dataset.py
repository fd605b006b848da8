"""shared/adapters/bigquery_store/dataset.py: query jobs, their retry and their errors.

- BigQuery's concurrent-update error is rerun through google.api_core's Retry, with
  jittered backoff, a bounded number of times, then ConflictError; other errors become
  StoreError at once;
- the retry is one log line per rerun, with fields and without a stack trace;
- only checked identifiers reach the SQL text; google libraries load on first use only.
"""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Iterator

import pytest
from google.api_core import exceptions as gexc

from shared.adapters.bigquery_store import BigQueryStore
from shared.domain.errors import ConflictError, StoreError
from shared.domain.lifecycle import Status
from shared.logs import JsonFormatter
from tests.contract.test_store_contract import full_integration, make_org
from tests.support.bigquery_jobs import CONCURRENT_MESSAGE, QueryRecorder, bq_store  # noqa: F401 (fixture)
from tests.support.bqemulator import PROJECT, bq_emulator, new_dataset_name  # noqa: F401 (fixture)

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("where", ["query", "result"])
@pytest.mark.parametrize("error_class", [gexc.BadRequest, gexc.Conflict])
def test_concurrent_update_error_is_retried(bq_store: BigQueryStore, where: str, error_class: type):
    stored = bq_store.insert_integration(full_integration(provider="gcp"))
    recorder = QueryRecorder(bq_store.client)
    error = error_class(CONCURRENT_MESSAGE.format(t=f"{PROJECT}:{bq_store.dataset}.org_integrations"))
    (recorder.fail_on_query if where == "query" else recorder.fail_on_result).append(error)

    updated = bq_store.update_integration(stored.model_copy(update={"status": Status.ACTIVE}), expected_revision=1)

    assert updated.revision == 2
    assert [sql.split()[0] for sql, _ in recorder.calls] == ["UPDATE", "UPDATE"]
    assert bq_store.get_integration("acme", "gcp").status is Status.ACTIVE


def test_endless_concurrent_updates_end_in_a_conflict_not_a_hang(bq_emulator: str):
    store = BigQueryStore(PROJECT, new_dataset_name("it"), emulator_host=bq_emulator, max_attempts=3, backoff_seconds=0)
    recorder = QueryRecorder(store.client)
    recorder.fail_on_query += [gexc.BadRequest(CONCURRENT_MESSAGE.format(t="x")) for _ in range(3)]
    with pytest.raises(ConflictError):
        store.get_org("acme")
    assert len(recorder.calls) == 3


def test_backend_errors_become_store_errors(bq_emulator: str):
    missing = BigQueryStore(PROJECT, new_dataset_name("never_created"), emulator_host=bq_emulator)
    with pytest.raises(StoreError) as caught:
        missing.get_integration("acme", "gcp")
    assert not isinstance(caught.value, ConflictError)
    assert isinstance(caught.value.__cause__, gexc.GoogleAPICallError)


def test_emulator_host_without_scheme_gets_http(bq_emulator: str):
    bare = bq_emulator.removeprefix("http://")
    store = BigQueryStore(PROJECT, new_dataset_name("it"), emulator_host=bare)
    store.init_store()
    try:
        store.create_org(make_org("acme"))
        assert store.get_org("acme").slug == "acme"
    finally:
        store.client.delete_dataset(f"{PROJECT}.{store.dataset}", delete_contents=True, not_found_ok=True)


@pytest.mark.parametrize("project, dataset", [("p", "bad-name"), ("p", "x`; DROP"), ("Bad Project", "ok")])
def test_identifiers_that_would_reach_sql_text_are_rejected(project: str, dataset: str):
    with pytest.raises(StoreError):
        BigQueryStore(project, dataset, emulator_host="http://127.0.0.1:9")


def test_importing_the_adapter_does_not_import_the_client_library():
    code = (
        "import sys, shared.adapters.bigquery_store\n"
        "assert 'google.cloud.bigquery' not in sys.modules, 'eager import'\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True, timeout=60)


def test_importing_any_of_its_modules_imports_nothing_from_google():
    code = (  # (a namespace-package .pth may create empty `google` modules at start: not counted)
        "import sys, pkgutil, importlib\n"
        "before = set(sys.modules)\n"
        "import shared.adapters.bigquery_store as p\n"
        "for m in pkgutil.iter_modules(p.__path__): importlib.import_module(f'{p.__name__}.{m.name}')\n"
        "loaded = sorted(m for m in set(sys.modules) - before if m.split('.')[0] == 'google')\n"
        "assert not loaded, loaded\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True, timeout=60)


# -- the retry, on a client that loses races on demand (no emulator needed) -------------------


class NoRows(list):
    num_dml_affected_rows = 0


class RacingClient:
    """Answers every query with no rows, after failing the first ones with `errors`."""

    def __init__(self, errors: list[Exception]) -> None:
        self.errors = errors
        self.calls = 0

    def query_and_wait(self, sql: str, job_config: Any = None) -> Any:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return NoRows()


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The waits google.api_core's Retry takes (recorded, not slept)."""
    from google.api_core.retry import retry_unary

    waited: list[float] = []
    monkeypatch.setattr(retry_unary, "time", SimpleNamespace(sleep=waited.append, monotonic=retry_unary.time.monotonic))
    return waited


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("shared.adapters.bigquery_store")
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.DEBUG)
    yield out
    logger.removeHandler(handler)
    logger.setLevel(level)


def lost(n: int) -> list[Exception]:
    return [gexc.BadRequest(CONCURRENT_MESSAGE.format(t="proj:secretive_table")) for _ in range(n)]


def test_reruns_wait_through_api_core_retry_with_jittered_doubling_backoff(sleeps: list[float]) -> None:
    client = RacingClient(lost(5))
    store = BigQueryStore("proj", "dataset", client=client, max_attempts=6, backoff_seconds=1.0)

    assert store.get_org("acme") is None

    assert client.calls == 6 and len(sleeps) == 5
    bounds = [2.0, 4.0, 5.0, 5.0, 5.0]  # 2 x backoff, doubling, at most 5 s
    assert all(0 <= wait <= bound for wait, bound in zip(sleeps, bounds)), sleeps


def test_a_race_lost_max_attempts_times_is_a_conflict_chained_to_the_last_loss(sleeps: list[float]) -> None:
    client = RacingClient(lost(3))
    store = BigQueryStore("proj", "dataset", client=client, max_attempts=3, backoff_seconds=0)

    with pytest.raises(ConflictError) as caught:
        store.get_org("acme")

    assert client.calls == 3 and len(sleeps) == 2
    assert isinstance(caught.value.__cause__, gexc.BadRequest)


def test_any_other_error_is_not_rerun(sleeps: list[float]) -> None:
    client = RacingClient([gexc.NotFound("Not found: Dataset proj:dataset")])
    store = BigQueryStore("proj", "dataset", client=client, backoff_seconds=0)

    with pytest.raises(StoreError) as caught:
        store.get_org("acme")

    assert client.calls == 1 and sleeps == []
    assert not isinstance(caught.value, ConflictError) and isinstance(caught.value.__cause__, gexc.NotFound)
    assert str(caught.value) == "BigQuery request failed (NotFound)"


def test_each_rerun_is_one_info_line_with_fields_and_no_trace(sleeps: list[float], log_lines: io.StringIO) -> None:
    store = BigQueryStore("proj", "dataset", client=RacingClient(lost(2)), max_attempts=4, backoff_seconds=0)

    store.get_org("acme")

    lines = [json.loads(line) for line in log_lines.getvalue().splitlines()]
    assert [(e["severity"], e["message"]) for e in lines] == [("INFO", "bigquery concurrent update, retrying")] * 2
    assert [(e["attempt"], e["max_attempts"], e["error"]) for e in lines] == [
        (1, 4, "BadRequest"),
        (2, 4, "BadRequest"),
    ]
    assert "secretive_table" not in log_lines.getvalue() and "error_type" not in lines[0]
