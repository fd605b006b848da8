"""One AWS API call through boto3, bounded and retried like every provider call (http.py).

botocore's own retries are off (one attempt per client call); this loop retries transient
answers (throttling, 5xx, timeouts, connection errors) up to PROVIDER_MAX_ATTEMPTS with
PROVIDER_BACKOFF_SECONDS doubled, and starts no attempt that could not finish within the
validation's time (VALIDATION_TIMEOUT_SECONDS). Each attempt's client has connect and read
timeouts of what is left, at most PROVIDER_TIMEOUT_SECONDS. botocore's timeouts bound each
socket operation, not a whole answer; the AWS endpoints come from settings, never from a
customer, so no customer can make one trickle.

An error answer that is not transient comes back as a `Refusal` (code, HTTP status) for the
step to name; error messages from AWS are never kept (they hold ARNs). Only codes are logged.
botocore is imported here only inside functions: this module is loaded with the AWS validator.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any, Callable

from shared.ports import ValidationResult
from shared.settings import Settings

from .http import MAX_BACKOFF_SECONDS, validation_end

log = logging.getLogger(__name__)

THROTTLING = frozenset(
    {"Throttling", "ThrottlingException", "TooManyRequestsException", "RequestLimitExceeded",
     "LimitExceededException", "SlowDown", "RequestThrottled", "RequestThrottledException"}
)  # fmt: skip
SERVER_SIDE = frozenset(
    {"InternalFailure", "InternalError", "InternalServerError", "ServiceUnavailable",
     "ServiceUnavailableException", "RequestTimeout", "RequestTimeoutException"}
)  # fmt: skip
# The platform's own credentials refused: an operator's problem, not the customer's, and not
# one a retry within seconds fixes.
PLATFORM_REFUSED = frozenset(
    {"ExpiredToken", "ExpiredTokenException", "InvalidClientTokenId", "SignatureDoesNotMatch",
     "UnrecognizedClientException", "InvalidAccessKeyId", "MissingAuthenticationToken", "IncompleteSignature"}
)  # fmt: skip
ACCESS_DENIED = frozenset({"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "403"})


@dataclass(frozen=True)
class Refusal:
    """AWS answered the call with an error that retrying does not change."""

    code: str
    status: int

    @property
    def denied(self) -> bool:
        return self.code in ACCESS_DENIED or self.status == 403


class PlatformIdentityError(Exception):
    """The platform's own AWS identity could not be had (metadata server, web identity)."""

    def __init__(self, detail: str, transient: bool = True):
        super().__init__(detail)
        self.detail = detail
        self.transient = transient


def aws_call(
    settings: Settings,
    label: str,
    make_client: Callable[[float], Any],
    operation: str,
    params: dict[str, Any],
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any] | Refusal | ValidationResult:
    """`make_client(timeout).<operation>(**params)`: the answer, a Refusal, or a verdict
    (transient after the attempts or the time ran out, or the platform's identity failing)."""
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        ConnectionError as BotoConnectionError,
        CredentialRetrievalError,
        HTTPClientError,
        NoCredentialsError,
        PartialCredentialsError,
        ReadTimeoutError,
        ConnectTimeoutError,
    )

    end = validation_end(settings)
    last = ValidationResult("provider_unavailable", f"{label} did not answer in time")
    made = 0
    while True:
        left = end - time.monotonic()
        if left <= 0:
            break
        made += 1
        timeout = min(settings.provider_timeout_seconds, left)
        failure: dict[str, Any]
        try:
            return getattr(make_client(timeout), operation)(**params)
        except ClientError as exc:
            code, status = _error_of(exc.response)
            failure = {"code": code, "status": status}
            if code in PLATFORM_REFUSED:
                _log_failure(label, operation, made, False, failure)
                return ValidationResult(
                    "provider_unavailable", f"{label} refused the platform's own AWS credentials ({code})"
                )
            if code in THROTTLING:
                last = ValidationResult("rate_limited", f"{label} rate limit reached")
            elif code in SERVER_SIDE or status >= 500:
                last = ValidationResult("provider_unavailable", f"{label} answered {code or f'HTTP {status}'}")
            else:
                return Refusal(code, status)
        except PlatformIdentityError as exc:
            failure = {"error_type": "PlatformIdentityError"}
            last = ValidationResult("provider_unavailable", exc.detail)
            if not exc.transient:
                _log_failure(label, operation, made, False, failure)
                return last
        except (NoCredentialsError, PartialCredentialsError, CredentialRetrievalError) as exc:
            _log_failure(label, operation, made, False, {"error_type": type(exc).__name__})
            return ValidationResult("provider_unavailable", "the platform has no AWS credentials")
        except (ConnectTimeoutError, ReadTimeoutError) as exc:
            failure = {"error_type": type(exc).__name__}
            last = ValidationResult("provider_unavailable", f"{label} did not answer in time")
        except (BotoConnectionError, HTTPClientError) as exc:
            failure = {"error_type": type(exc).__name__}
            last = ValidationResult("provider_unavailable", f"could not reach {label}")
        except BotoCoreError as exc:  # an answer botocore could not parse: the same again, not retried
            _log_failure(label, operation, made, False, {"error_type": type(exc).__name__})
            return ValidationResult("provider_unavailable", f"{label} sent an answer that could not be read")
        pause = min(settings.provider_backoff_seconds * 2 ** (made - 1), MAX_BACKOFF_SECONDS)
        retrying = made < settings.provider_max_attempts and time.monotonic() + pause + timeout <= end
        _log_failure(label, operation, made, retrying, failure)
        if not retrying:
            break
        sleep(pause)
    return last


def _error_of(response: dict[str, Any]) -> tuple[str, int]:
    error = response.get("Error") if isinstance(response, dict) else None
    meta = response.get("ResponseMetadata") if isinstance(response, dict) else None
    code = str(error.get("Code") or "") if isinstance(error, dict) else ""
    status = meta.get("HTTPStatusCode") if isinstance(meta, dict) else None
    return code, status if isinstance(status, int) else 0


def _log_failure(label: str, operation: str, attempt: int, retrying: bool, what: dict[str, Any]) -> None:
    fields = {"provider": label, "operation": operation, "attempt": attempt, "retrying": retrying, **what}
    log.warning("provider call failed", extra={"fields": fields})
