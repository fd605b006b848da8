"""The error catalogue: every error a user can cause has a code, an HTTP status and a message.

`IntegrationsError` is the package's one base exception; adapters translate vendor
errors into it. Messages never repeat request input or secrets.
"""

from __future__ import annotations

from typing import Any

# code -> (HTTP status, catalogue message). Codes whose message says which field or
# status is wrong carry their own text at raise time.
CATALOGUE: dict[str, tuple[int, str]] = {
    "invalid_format": (400, "Invalid API key format"),
    "invalid_credentials": (200, "API key invalid or expired"),
    "missing_permissions": (200, "Missing permissions"),
    # The credential is past its expiry: its `expires_at` came, or the provider says so (status expired).
    "credential_expired": (200, "Credential expired"),
    # Verdicts on a valid credential worth saying (an integration's status_code, never a request error).
    "valid": (200, "Valid"),
    "capabilities_reduced": (200, "Capabilities reduced"),
    "rate_limited": (429, "Rate limit exceeded"),
    "encryption_failed": (502, "Credential encryption failed"),
    "bad_request": (400, "Bad request"),
    "unknown_provider": (404, "Unknown provider"),
    "not_configured": (404, "Integration not configured"),
    "invalid_transition": (409, "Invalid status transition"),
    # A pipeline's get_credential refused (never an HTTP answer: pipelines call in process).
    "credential_not_usable": (409, "Credential not usable"),
    "method_not_allowed": (405, "Method not allowed"),
    "unsupported_media_type": (415, "Content-Type must be application/json"),
    "payload_too_large": (413, "Request body too large"),
    # Malformed HTTP, refused by the local server before any function runs (shared/http_guard.py).
    "request_timeout": (408, "Request not received in time"),
    "uri_too_long": (414, "Request URI too long"),
    "headers_too_large": (431, "Request headers too large"),
    "unauthorized": (401, "Missing or invalid API key"),
    "forbidden": (403, "API key does not belong to this organization"),
    "provider_unavailable": (503, "Provider unavailable"),
    "not_found": (404, "Not found"),
    "internal": (500, "Internal error"),
}


def catalogue_message(code: str) -> str:
    return CATALOGUE[code][1]


class IntegrationsError(Exception):
    """Base of every error this package raises on purpose."""

    code = "internal"

    def __init__(self, message: str | None = None, *, code: str | None = None, headers: dict[str, str] | None = None):
        self.code = code or self.code
        self.message = message or catalogue_message(self.code)
        self.headers = headers or {}
        super().__init__(self.message)

    @property
    def status(self) -> int:
        return CATALOGUE[self.code][0]


class BadRequestError(IntegrationsError):
    code = "bad_request"


class InvalidFormatError(IntegrationsError):
    code = "invalid_format"


class UnknownProviderError(IntegrationsError):
    code = "unknown_provider"


class NotConfiguredError(IntegrationsError):
    code = "not_configured"


class InvalidTransitionError(IntegrationsError):
    code = "invalid_transition"


class RateLimitedError(IntegrationsError):
    code = "rate_limited"


class EncryptionError(IntegrationsError):
    """The cipher failed (KMS down, bad key name, integrity check): nothing is stored."""

    code = "encryption_failed"


class DecryptionError(IntegrationsError):
    """A ciphertext did not decrypt: tampered, moved to another owner, or key missing."""

    code = "internal"


class UnauthorizedError(IntegrationsError):
    code = "unauthorized"


class ForbiddenError(IntegrationsError):
    code = "forbidden"


class ProviderUnavailableError(IntegrationsError):
    code = "provider_unavailable"


class StoreError(IntegrationsError):
    """The store failed (a backend error, not a conflict)."""

    code = "internal"


class ConflictError(StoreError):
    """A compare-and-set lost: the row changed (or appeared) since it was read."""


class QueueError(IntegrationsError):
    """The validation message could not be handed to the queue."""

    code = "internal"


class CredentialNotUsableError(InvalidTransitionError):
    """The integration exists but is not `active`, or its credential lacks what the pipeline
    needs: pipelines must not use it. Its own code, so the audit trail tells a pipeline's
    refusal from a request's (`except InvalidTransitionError` still catches it)."""

    code = "credential_not_usable"


class StaleValidation(IntegrationsError):
    """The credential a validation was about is no longer the one targeted (replaced, deleted
    or disabled meanwhile): its verdict is about nothing in force and is dropped."""

    code = "invalid_transition"

    def __init__(self) -> None:
        super().__init__("The credential changed while it was being validated")


class RetryLater(Exception):
    """A transient provider failure in the validator function: Pub/Sub must deliver again.
    Not an IntegrationsError: it is no answer to a request, only a signal to the queue."""


class CipherFailure(Exception):
    """Why a cipher failed, chained as the cause of EncryptionError / DecryptionError.

    Its text is for operators (rewrap reports it) and never holds key material, plaintext
    or associated data."""


class SettingsError(IntegrationsError):
    """A setting is missing or invalid; the message names the variable (never its value)."""

    code = "internal"


class MissingStoreError(StoreError):
    """A read found no store file: DATA_DIR points elsewhere, or nothing was ever stored."""

    def __init__(self, path: Any):
        super().__init__(
            f"No store at {path} (DATA_DIR={path.parent}): set DATA_DIR to the data directory "
            "the service uses, or run `python -m shared.cli init-store` to create an empty one"
        )
