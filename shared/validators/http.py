"""One HTTP call to a provider, with bounded retries on transient failures.

Transient: timeouts, connection errors, 5xx, 529 and 429 (unless the provider says the
429 is permanent, e.g. OpenAI's `insufficient_quota`). Everything else is returned to
the caller to map. After `settings.provider_max_attempts` attempts the outcome is
`provider_unavailable`, or `rate_limited` when the last answer was a 429.

Secrets: keys travel only in request headers passed per call (never in the URL, never
on the shared client); nothing here logs a header, a body or an exception's text.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable, Mapping
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


def make_client(settings: Settings, transport: httpx.BaseTransport | None = None) -> httpx.Client:
    """One client per validator: explicit timeouts, no redirects (a key must not follow one)."""
    return httpx.Client(
        timeout=httpx.Timeout(settings.provider_timeout_seconds),
        transport=transport,
        follow_redirects=False,
        headers={"user-agent": "integrations-validator/1"},
    )


def json_body(response: httpx.Response) -> Any:
    """The parsed JSON body, or None when there is none or it is not JSON."""
    try:
        return response.json()
    except (ValueError, UnicodeDecodeError):
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
    """Send the request until a non-transient answer or the attempts run out."""
    attempts = settings.provider_max_attempts
    last_outcome, last_detail = "provider_unavailable", "no answer"
    for attempt in range(attempts):
        wait: float | None = None
        try:
            content = json.dumps(json_payload).encode() if json_payload is not None else None
            request_headers = dict(headers)
            if content is not None:
                request_headers["content-type"] = "application/json"
            response = client.request(method, url, headers=request_headers, content=content, data=form)
        except httpx.TimeoutException:
            last_outcome, last_detail = "provider_unavailable", f"{provider} did not answer in time"
            log.warning("provider call timed out", extra={"provider": provider, "attempt": attempt + 1})
        except httpx.HTTPError as exc:
            # The exception's text names the URL only (never a header); still, do not echo it.
            last_outcome, last_detail = "provider_unavailable", f"could not reach {provider}"
            log.warning(
                "provider call failed", extra={"provider": provider, "attempt": attempt + 1, "error": type(exc).__name__}
            )
        else:
            if not is_transient(response):
                return Outcome(response, None, attempt + 1)
            status = response.status_code
            if is_rate_limit(response):
                last_outcome, last_detail = "rate_limited", f"{provider} rate limit reached"
            else:
                last_outcome, last_detail = "provider_unavailable", f"{provider} answered HTTP {status}"
            log.warning("provider answered transiently", extra={"provider": provider, "status": status, "attempt": attempt + 1})
            asked = retry_after(response)
            if asked is not None:
                wait = min(asked, RETRY_AFTER_CAP_SECONDS)
        if attempt + 1 < attempts:
            backoff = min(settings.provider_backoff_seconds * 2**attempt, MAX_BACKOFF_SECONDS)
            sleep(max(backoff, wait) if wait is not None else backoff)
    return Outcome(None, ValidationResult(last_outcome, last_detail), attempts)  # type: ignore[arg-type]
