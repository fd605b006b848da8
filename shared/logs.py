"""Structured logs: one JSON object per line on stdout, as Cloud Logging reads them.

`severity`, `message`, the trace from `X-Cloud-Trace-Context`, and org / provider where
known (bound per request with `bind`). Every extra a call site passes reaches the line,
flat (`extra={"attempt": 2}`) or grouped (`extra={"fields": {...}}`). Never a request body,
a header value or a secret: call sites pass only names, counts and outcomes. An exception
is shown by its type only, never its text or stack (third-party texts may hold request data).
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys
from datetime import datetime, timezone
from typing import Any

_context: contextvars.ContextVar[dict[str, str]] = contextvars.ContextVar("log_context", default={})
_configured = False
# What every LogRecord carries; anything else on a record came from a call site's `extra`.
_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime", "taskName"}
_CORE = ("severity", "message", "time", "logger")


def bind(**values: str | None) -> None:
    """Attach values (org, provider, trace) to every log line of this request."""
    _context.set({**_context.get(), **{k: v for k, v in values.items() if v}})


def reset_context() -> None:
    _context.set({})


class JsonFormatter(logging.Formatter):
    def __init__(self, project: str | None = None):
        super().__init__()
        self._project = project

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "severity": record.levelname,
            "message": record.getMessage(),
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "logger": record.name,
        }
        context = dict(_context.get())
        trace = context.pop("trace", None)
        if trace:
            entry["logging.googleapis.com/trace"] = (
                f"projects/{self._project}/traces/{trace}" if self._project else trace
            )
        entry.update(context)
        extras = {k: v for k, v in record.__dict__.items() if k not in _STANDARD and k != "fields"}
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            extras.update(fields)
        for key, value in extras.items():
            if key not in _CORE:
                entry[str(key)] = value
        if record.exc_info and record.exc_info[0] is not None:
            # The type only: exception texts from third parties could carry request data.
            entry["error_type"] = record.exc_info[0].__name__
        return json.dumps(entry, default=_plain)


def _plain(value: Any) -> Any:
    """JSON for what json cannot write: an exception by its type only, anything else as text."""
    if isinstance(value, BaseException):
        return type(value).__name__
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    return str(value)


def configure(level: str = "INFO", project: str | None = None) -> None:
    """Install the JSON handler on the root logger once per process."""
    global _configured
    root = logging.getLogger()
    root.setLevel(level)
    if _configured:
        return
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter(project))
    root.handlers[:] = [handler]
    for noisy in ("werkzeug", "httpx", "httpcore", "urllib3", "google", "grpc"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))
    _configured = True
