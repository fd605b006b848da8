"""Structured logs: one JSON object per line, as Cloud Logging reads them, and never a secret,
a header value or a request body, even when a request is full of them."""

from __future__ import annotations

import io
import json
import logging
import sys
from pathlib import Path
from typing import Any, Iterator

import functions_framework
import pytest

from shared.domain.errors import ProviderUnavailableError

from shared import logs
from shared.logs import JsonFormatter, bind, configure, reset_context
from tests.support.provider_servers import openai_key

ROOT = Path(__file__).resolve().parents[2]
BASE = "/api/v1/integrations"
ORG = "acme_corp"


def record(
    message: str,
    level: int = logging.INFO,
    fields: dict[str, Any] | None = None,
    exc_info: Any = None,
    args: tuple[Any, ...] = (),
) -> logging.LogRecord:
    made = logging.LogRecord("integrations.test", level, __file__, 1, message, args, exc_info)
    if fields is not None:
        made.fields = fields
    return made


@pytest.fixture(autouse=True)
def _fresh_context() -> Iterator[None]:
    reset_context()
    yield
    reset_context()


def test_formatter_writes_one_json_object_with_severity_and_message() -> None:
    line = JsonFormatter().format(record("hello %s", logging.WARNING, args=("world",)))
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["severity"] == "WARNING" and entry["message"] == "hello world"
    assert entry["logger"] == "integrations.test" and entry["time"].endswith("+00:00")


def test_bound_context_and_fields_are_included() -> None:
    bind(org=ORG, provider="openai", trace="abc123")
    entry = json.loads(JsonFormatter().format(record("x", fields={"status": 202, "latency_ms": 1.5})))
    assert entry["org"] == ORG and entry["provider"] == "openai"
    assert entry["logging.googleapis.com/trace"] == "abc123"
    assert entry["status"] == 202 and entry["latency_ms"] == 1.5
    with_project = json.loads(JsonFormatter("my-proj").format(record("x")))
    assert with_project["logging.googleapis.com/trace"] == "projects/my-proj/traces/abc123"
    reset_context()
    assert "org" not in json.loads(JsonFormatter().format(record("x")))


def test_bind_ignores_empty_values() -> None:
    bind(org=ORG, provider=None, trace="")
    entry = json.loads(JsonFormatter().format(record("x")))
    assert entry["org"] == ORG and "provider" not in entry and "logging.googleapis.com/trace" not in entry


def test_an_exception_is_logged_by_type_only() -> None:
    canary = openai_key()
    try:
        raise ValueError(f"third-party text holding {canary}")
    except ValueError:
        line = JsonFormatter().format(record("failed", logging.ERROR, exc_info=sys.exc_info()))
    entry = json.loads(line)
    assert entry["error_type"] == "ValueError" and entry["severity"] == "ERROR"
    assert canary not in line and "Traceback" not in line


def test_configure_installs_one_json_handler_on_stdout(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    monkeypatch.setattr(logs, "_configured", False)
    try:
        configure("DEBUG")
        configure("DEBUG")  # idempotent: still one handler
        ours = [h for h in root.handlers if isinstance(h.formatter, JsonFormatter)]
        assert len(ours) == 1
        logging.getLogger("integrations.test").debug("first", extra={"fields": {"n": 1}})
        logging.getLogger("integrations.test").info("second")
        logging.getLogger("httpx").info("noisy library line")  # quieted to WARNING
        out = capsys.readouterr().out.splitlines()
        entries = [json.loads(line) for line in out]
        assert [(e["severity"], e["message"]) for e in entries] == [("DEBUG", "first"), ("INFO", "second")]
        assert entries[0]["n"] == 1
    finally:
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)


# ---------------------------------------------------------------- a request full of canaries


@pytest.fixture
def captured(service_env, caplog: pytest.LogCaptureFixture) -> Iterator[io.StringIO]:
    """Every log line formatted as production formats it, at emit time; caplog keeps the raw records."""
    configure("DEBUG")
    logging.getLogger().setLevel(logging.DEBUG)
    caplog.set_level(logging.DEBUG)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logging.getLogger().addHandler(handler)
    try:
        yield stream
    finally:
        logging.getLogger().removeHandler(handler)


def _app(name: str, signature_type: str = "http") -> Any:
    saved = list(sys.path)
    try:
        return functions_framework.create_app(
            target=name, source=str(ROOT / "functions" / name / "main.py"), signature_type=signature_type
        )
    finally:
        sys.path[:] = saved


def test_no_header_value_body_or_key_is_logged(
    service_env, captured: io.StringIO, caplog: pytest.LogCaptureFixture
) -> None:
    api_key = service_env.create_org(ORG)
    valid, invalid, bad_format = openai_key(), openai_key(), "sk-" + "CANARYBADFORMAT"
    service_env.servers.openai.set(valid, "valid")
    service_env.servers.openai.set(invalid, "invalid")  # OpenAI's 401 echoes part of the key
    header_canary = "hdr-canary-" + openai_key()[-20:]
    name_canary = "name-canary-7d1e"
    headers = {
        "X-API-Key": api_key,
        "Authorization": f"Bearer {header_canary}",
        "Cookie": f"s={header_canary}",
        "User-Agent": header_canary,
        "X-Forwarded-For": header_canary,
        "X-Cloud-Trace-Context": "abc/1",
    }
    setup = _app("setup_integration").test_client()
    answers = [
        setup.post(
            f"{BASE}/{ORG}/openai/setup?wait=true", json={"credential": valid, "name": name_canary}, headers=headers
        ),
        setup.post(f"{BASE}/{ORG}/anthropic/setup", json={"credential": bad_format}, headers=headers),
        setup.post(f"{BASE}/{ORG}/openai/setup?wait=true", json={"credential": invalid}, headers=headers),
        setup.post(
            f"{BASE}/{ORG}/openai/setup",
            data=b'{"credential": "' + valid.encode() + b'"',
            headers={**headers, "Content-Type": "application/json"},
        ),
        setup.post(f"{BASE}/{ORG}/openai/setup", json={"credential": valid}, headers={"X-API-Key": api_key + "x"}),
        _app("rotate_credential")
        .test_client()
        .post(f"{BASE}/{ORG}/openai/rotate?wait=true", json={"credential": valid}, headers=headers),
        _app("validate_integration").test_client().post(f"{BASE}/{ORG}/openai/validate", headers=headers),
    ]
    assert [a.status_code for a in answers] == [200, 400, 200, 400, 401, 200, 200]
    service_env._close_queue()

    text = captured.getvalue()
    lines = text.splitlines()
    assert lines and all(isinstance(json.loads(line), dict) for line in lines)
    assert all({"severity", "message"} <= set(json.loads(line)) for line in lines)
    raw = "\n".join(f"{r.getMessage()} {getattr(r, 'fields', '')} {r.args}" for r in caplog.records)
    for secret in (api_key, valid, invalid, bad_format, header_canary, name_canary, valid[-24:], invalid[:20]):
        assert secret not in text, secret[:6]
        assert secret not in raw, secret[:6]
    assert "CANARYBADFORMAT" not in text
    request_lines = [json.loads(line) for line in lines if json.loads(line)["message"] == "request"]
    assert len(request_lines) == len(answers)


# ---------------------------------------------------------------- every extra reaches the line


def test_flat_extras_reach_the_line_next_to_grouped_fields() -> None:
    logger = logging.getLogger("integrations.test.extras")
    made: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            made.append(record)

    keep = Keep()
    logger.addHandler(keep)
    logger.propagate = False
    try:
        logger.warning(
            "provider call failed",
            extra={
                "provider": "openai",
                "attempt": 2,
                "error": "ConnectError",
                "host": "api.openai.com",
                "fields": {"target": "current"},
            },
        )
        logger.warning(
            "odd values",
            extra={
                "cause": ValueError(f"text with {openai_key()}"),
                "ids": {"b", "a"},
                "severity": "DEBUG",
                "logger": "forged",
            },
        )
    finally:
        logger.removeHandler(keep)
        logger.propagate = True
    first, second = (json.loads(JsonFormatter().format(r)) for r in made)
    assert first["provider"] == "openai" and first["attempt"] == 2 and first["error"] == "ConnectError"
    assert first["host"] == "api.openai.com" and first["target"] == "current"
    assert second["cause"] == "ValueError"  # an exception by its type only, never its text
    assert sorted(second["ids"]) == ["a", "b"]
    assert second["severity"] == "WARNING" and second["logger"] == "integrations.test.extras"  # not overridden
    assert not {"args", "msg", "levelno", "pathname", "exc_text", "stack_info", "fields"} & set(first)


def test_the_bigquery_store_retry_line_carries_its_attempt(captured: io.StringIO) -> None:
    from google.api_core import exceptions

    from shared.adapters.bigquery_store import BigQueryStore

    class Client:
        calls = 0

        def query_and_wait(self, sql: str, job_config: Any = None) -> Any:
            Client.calls += 1
            if Client.calls == 1:
                raise exceptions.BadRequest("Could not serialize access to table due to concurrent update")

            class NoRows(list):
                num_dml_affected_rows = 0

            return NoRows()

    store = BigQueryStore("proj", "dataset", client=Client(), backoff_seconds=0)
    store.get_org("acme_corp")
    lines = [json.loads(line) for line in captured.getvalue().splitlines()]
    retry = [e for e in lines if e["message"] == "bigquery concurrent update, retrying"]
    assert retry and retry[0]["attempt"] == 1


def test_a_provider_call_failure_says_why(service_env, captured: io.StringIO) -> None:
    service_env.set(OPENAI_BASE_URL="http://127.0.0.1:9/v1")  # nothing listens there
    api_key = service_env.create_org(ORG)
    service = service_env.service
    with pytest.raises(ProviderUnavailableError):  # the provider stays down: 503, on record
        service.setups.setup(service.orgs.authenticate(api_key, ORG), "openai", {"credential": openai_key()}, wait=True)
    lines = [json.loads(line) for line in captured.getvalue().splitlines()]
    failures = [e for e in lines if e["logger"].startswith("shared.validators") and e["severity"] == "WARNING"]
    assert failures
    # The validator's own fields (provider, attempt, error...) reach the line, beyond the bound context.
    assert all(set(e) - {"severity", "message", "time", "logger", "org", "provider"} for e in failures), failures


def test_a_routine_redelivery_is_one_warning_without_a_stack_trace(
    service_env, captured: io.StringIO, capfd: pytest.CaptureFixture[str]
) -> None:
    from shared.adapters.cloudevents import pubsub_cloudevent_http
    from shared.domain.models import ValidationMessage

    api_key = service_env.create_org(ORG)
    key = service_env.servers.openai.set(openai_key(), "unavailable")
    _app("setup_integration").test_client().post(
        f"{BASE}/{ORG}/openai/setup", json={"credential": key}, headers={"X-API-Key": api_key}
    )
    service_env._close_queue()
    item = service_env.service.store.get_integration(ORG, "openai")
    message = ValidationMessage(
        org=ORG, provider="openai", version=item.credential.version, credential_id=item.credential.credential_id
    )
    headers, body = pubsub_cloudevent_http(message, 1)
    captured.truncate(0)
    captured.seek(0)
    answer = _app("validate_credential", "cloudevent").test_client().post("/", headers=headers, data=body)

    assert answer.status_code == 500  # Pub/Sub (or the local queue) delivers it again
    lines = [json.loads(line) for line in captured.getvalue().splitlines()]
    assert [e for e in lines if e["severity"] in ("ERROR", "CRITICAL")] == []
    [retry] = [e for e in lines if e["message"] == "provider unavailable, asking for redelivery"]
    assert retry["severity"] == "WARNING" and retry["attempt"] == 1
    assert retry["error_type"] == "provider_unavailable" and retry["host"] == "127.0.0.1"
    assert retry["org"] == ORG and retry["provider"] == "openai"
    out, err = capfd.readouterr()
    assert "Traceback" not in out + err + captured.getvalue()
