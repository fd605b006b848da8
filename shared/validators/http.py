"""One HTTP call to a provider, with bounded retries on transient failures.

Transient: timeouts, connection errors, 5xx, 529 and 429 (unless the provider says the
429 is permanent, e.g. OpenAI's `insufficient_quota`). Everything else is returned to
the caller to map. After `settings.provider_max_attempts` attempts the outcome is
`provider_unavailable`, or `rate_limited` when the last answer was a 429.

Bounds: each call, connect to last byte, ends within `provider_timeout_seconds`
(deadline.py); one validation's calls, attempts and backoff included, end within
`validation_timeout_seconds` (no retry starts that could not finish in time); an
answer is read up to `provider_max_response_bytes` after decompression (capped.py).

Secrets: keys travel only in request headers passed per call (never in the URL, never
on the shared client); nothing here logs a header, a body or an exception's text.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import httpx

from shared.ports import ValidationResult
from shared.settings import Settings

log = logging.getLogger(__name__)

# Longest we wait between two attempts, whatever the backoff or the provider asks for.
MAX_BACKOFF_SECONDS = 8.0
# A provider's `retry-after` (or RetryInfo.retryDelay) is honoured up to this many seconds.
RETRY_AFTER_CAP_SECONDS = 5.0

TRANSIENT_STATUSES = frozenset({429, 500, 502, 503, 504, 529})


# The end (time.monotonic()) of the validation in progress, set by `validation_deadline`.
_VALIDATION_END: ContextVar[float | None] = ContextVar("validation_end", default=None)


def make_client(settings: Settings, transport: httpx.BaseTransport | None = None) -> httpx.Client:
    """One client per validator: explicit timeouts, no redirects (a key must not follow one),
    only the encodings capped.py decodes with a bound."""
    from .capped import ACCEPT_ENCODING
    from .deadline import DeadlineTransport

    return httpx.Client(
        timeout=httpx.Timeout(settings.provider_timeout_seconds),
        transport=transport if transport is not None else DeadlineTransport(),
        follow_redirects=False,
        headers={"user-agent": "integrations-validator/1", "accept-encoding": ACCEPT_ENCODING},
    )


@contextmanager
def validation_deadline(seconds: float) -> Iterator[None]:
    """Every provider call made in this block ends within `seconds` from now (an
    enclosing validation's earlier end wins)."""
    end = time.monotonic() + seconds
    outer = _VALIDATION_END.get()
    token = _VALIDATION_END.set(end if outer is None else min(outer, end))
    try:
        yield
    finally:
        _VALIDATION_END.reset(token)


def validation_end(settings: Settings) -> float:
    """When the validation in progress must end (time.monotonic()); a call outside one gets its own."""
    return _VALIDATION_END.get() or time.monotonic() + settings.validation_timeout_seconds


def json_body(response: httpx.Response) -> Any:
    """The parsed JSON body, or None when there is none or it is not JSON (nesting too
    deep for the parser included: a RecursionError is a provider's answer, not our fault)."""
    try:
        return response.json()
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None


def parse_duration(value: str | None) -> float | None:
    """Seconds from `retry-after` ("3", "0.5") or a protobuf Duration ("38s", "1.5s")."""
    if not value:
        return None
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*s?\s*", str(value))
    return float(match.group(1)) if match else None


def header_retry_after(response: httpx.Response) -> float | None:
    return parse_duration(response.headers.get("retry-after"))


def default_is_transient(response: httpx.Response) -> bool:
    return response.status_code in TRANSIENT_STATUSES


class Outcome:
    """Either the provider's final answer (`response`) or a transient verdict (`result`)."""

    __slots__ = ("response", "result", "attempts")

    def __init__(self, response: httpx.Response | None, result: ValidationResult | None, attempts: int):
        self.response = response
        self.result = result
        self.attempts = attempts


def _send(client: httpx.Client, request: httpx.Request, deadline: float, limit: int) -> httpx.Response:
    """One call, bounded in time (connect through last byte) and in bytes read."""
    from .capped import read_capped
    from .deadline import call_deadline

    with call_deadline(deadline):
        response = client.send(request, stream=True)
        try:
            return read_capped(response, limit, deadline)
        finally:
            response.close()  # unread bytes: the connection is dropped, not drained


def _log_failure(provider: str, host: str, attempt: int, retrying: bool, **what: Any) -> None:
    """A failed attempt: a warning with what failed (error type or status), never a trace."""
    fields = {"provider": provider, "host": host, "attempt": attempt, "retrying": retrying, **what}
    log.warning("provider call failed", extra={"fields": fields})


def request_with_retries(
    client: httpx.Client,
    method: str,
    url: str,
    settings: Settings,
    *,
    headers: Mapping[str, str],
    provider: str,
    is_transient: Callable[[httpx.Response], bool] = default_is_transient,
    retry_after: Callable[[httpx.Response], float | None] = header_retry_after,
    is_rate_limit: Callable[[httpx.Response], bool] = lambda response: response.status_code == 429,
    json_payload: Any = None,
    form: Mapping[str, str] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> Outcome:
    """Send the request until a non-transient answer, the attempts or the time run out."""
    from .capped import AnswerTooLarge, AnswerUnreadable

    attempts, timeout = settings.provider_max_attempts, settings.provider_timeout_seconds
    validation_end_at = validation_end(settings)
    host = httpx.URL(url).host
    content = json.dumps(json_payload).encode() if json_payload is not None else None
    request_headers = dict(headers)
    if content is not None:
        request_headers["content-type"] = "application/json"
    last_outcome, last_detail = "provider_unavailable", f"{provider} did not answer in time"
    made = 0
    while True:
        now = time.monotonic()
        deadline = min(now + timeout, validation_end_at)
        if deadline <= now:
            break  # a later step of a validation whose time is up
        made += 1
        wait: float | None = None
        failure: dict[str, Any]
        request = client.build_request(method, url, headers=request_headers, content=content, data=form,
                                       timeout=httpx.Timeout(deadline - now))  # fmt: skip
        try:
            response = _send(client, request, deadline, settings.provider_max_response_bytes)
        except (AnswerTooLarge, AnswerUnreadable) as exc:
            # An answer came: the same request would get it again, so it is not retried.
            _log_failure(provider, host, made, False, error_type=type(exc).__name__)
            detail = (
                "an answer too large to read" if isinstance(exc, AnswerTooLarge) else "an answer that could not be read"
            )
            return Outcome(None, ValidationResult("provider_unavailable", f"{provider} sent {detail}"), made)
        except httpx.TimeoutException as exc:
            last_outcome, last_detail = "provider_unavailable", f"{provider} did not answer in time"
            failure = {"error_type": type(exc).__name__}
        except httpx.HTTPError as exc:
            # The exception's text names the URL only (never a header); still, do not echo it.
            last_outcome, last_detail = "provider_unavailable", f"could not reach {provider}"
            failure = {"error_type": type(exc).__name__}
        else:
            if not is_transient(response):
                return Outcome(response, None, made)
            status = response.status_code
            if is_rate_limit(response):
                last_outcome, last_detail = "rate_limited", f"{provider} rate limit reached"
            else:
                last_outcome, last_detail = "provider_unavailable", f"{provider} answered HTTP {status}"
            failure = {"status": status}
            asked = retry_after(response)
            if asked is not None:
                wait = min(asked, RETRY_AFTER_CAP_SECONDS)
        backoff = min(settings.provider_backoff_seconds * 2 ** (made - 1), MAX_BACKOFF_SECONDS)
        pause = max(backoff, wait) if wait is not None else backoff
        # A retry starts only when its backoff and a whole call fit in the validation's time.
        retrying = made < attempts and time.monotonic() + pause + timeout <= validation_end_at
        _log_failure(provider, host, made, retrying, **failure)
        if not retrying:
            break
        sleep(pause)
    return Outcome(None, ValidationResult(last_outcome, last_detail), made)  # type: ignore[arg-type]
