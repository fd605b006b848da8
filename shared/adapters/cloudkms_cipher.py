"""Cloud KMS `Cipher`: symmetric Encrypt/Decrypt on one crypto key, integrity-checked.

Every call carries CRC32C checksums of what it sends and verifies the ones that come
back, as Google documents (https://cloud.google.com/kms/docs/data-integrity-guidelines).
Only transient errors are retried, a bounded number of times with a short backoff;
every vendor error leaves as EncryptionError / DecryptionError with the catalogue
message; the reason (error class and status, never data) is the chained `CloudKmsFailure`.

Ciphertext format (what `encrypt` returns)::

    b"\\x01" | Cloud KMS ciphertext of the plaintext,  AAD = associated_data
    b"\\x02" | Cloud KMS ciphertext of b"\\x00",       AAD = b"empty:" + associated_data

Cloud KMS requires a non-empty plaintext, so an empty one is sealed as a marker
under a distinct AAD; flipping the format byte therefore changes the AAD and the
decrypt fails. The KMS ciphertext records its key version; Cloud KMS picks it.

google-cloud-kms and grpc are imported in `__init__`, never at module import.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any, TypeVar

from ..domain.errors import DecryptionError, EncryptionError
from ..domain.errors import CipherFailure
from ..ports import Encrypted

KEY_NAME_PATTERN = re.compile(r"projects/[^/]+/locations/[^/]+/keyRings/[^/]+/cryptoKeys/[^/]+")
FORMAT_PLAIN = b"\x01"
FORMAT_EMPTY = b"\x02"
_EMPTY_MARKER = b"\x00"
_EMPTY_AAD_PREFIX = b"empty:"

T = TypeVar("T")


class CloudKmsFailure(CipherFailure):
    """Why a Cloud KMS call failed, chained as the cause of the catalogue error."""


class _IntegrityError(Exception):
    """A CRC32C check failed: the data was corrupted in transit."""


def _crc32c(data: bytes) -> int:
    import google_crc32c

    return int(google_crc32c.value(data))


class CloudKmsCipher:
    """`Cipher` over a Cloud KMS symmetric key (or a plaintext gRPC stand-in at `endpoint`)."""

    def __init__(
        self,
        key_name: str,
        endpoint: str | None = None,
        client: Any = None,
        max_attempts: int = 3,
        timeout_seconds: float = 10.0,
        backoff_seconds: float = 0.1,
    ):
        if not isinstance(key_name, str) or not KEY_NAME_PATTERN.fullmatch(key_name):
            raise EncryptionError(
                "KMS_KEY_NAME must be a full crypto key name: "
                "projects/<project>/locations/<location>/keyRings/<ring>/cryptoKeys/<key>"
            )
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        from google.api_core import exceptions as api_exceptions

        self._key_name = key_name
        self._max_attempts = max_attempts
        self._timeout = timeout_seconds
        self._backoff = backoff_seconds
        self._api_exceptions = api_exceptions
        self._transient = (
            api_exceptions.ServiceUnavailable,
            api_exceptions.DeadlineExceeded,
            api_exceptions.InternalServerError,
            api_exceptions.GatewayTimeout,
            api_exceptions.ResourceExhausted,  # quota: Google's guidance is to retry with backoff
            ConnectionError,
        )
        self._client = client if client is not None else self._build_client(endpoint)

    @staticmethod
    def _build_client(endpoint: str | None) -> Any:
        from google.cloud import kms_v1

        if not endpoint:
            return kms_v1.KeyManagementServiceClient()
        # A plaintext channel: api_endpoint + anonymous credentials would still open TLS.
        import grpc
        from google.cloud.kms_v1.services.key_management_service.transports import (
            KeyManagementServiceGrpcTransport,
        )

        transport = KeyManagementServiceGrpcTransport(channel=grpc.insecure_channel(endpoint))
        return kms_v1.KeyManagementServiceClient(transport=transport)

    def __repr__(self) -> str:
        return f"CloudKmsCipher(key_name={self._key_name!r})"

    def close(self) -> None:
        """Close the gRPC channel (tests; a function instance keeps its client for life)."""
        transport = getattr(self._client, "transport", None)
        if transport is not None and hasattr(transport, "close"):
            transport.close()

    # -- Cipher port ---------------------------------------------------------------

    def encrypt(self, plaintext: bytes, associated_data: bytes) -> Encrypted:
        plaintext, associated_data = bytes(plaintext), bytes(associated_data)
        if plaintext:
            fmt, kms_plaintext, kms_aad = FORMAT_PLAIN, plaintext, associated_data
        else:
            fmt, kms_plaintext, kms_aad = FORMAT_EMPTY, _EMPTY_MARKER, _EMPTY_AAD_PREFIX + associated_data
        request = {
            "name": self._key_name,
            "plaintext": kms_plaintext,
            "plaintext_crc32c": _crc32c(kms_plaintext),
            "additional_authenticated_data": kms_aad,
            "additional_authenticated_data_crc32c": _crc32c(kms_aad),
        }

        def call() -> Any:
            response = self._client.encrypt(request=request, retry=None, timeout=self._timeout)
            if not response.verified_plaintext_crc32c:
                raise _IntegrityError("the plaintext sent to Cloud KMS was not verified")
            if not response.verified_additional_authenticated_data_crc32c:
                raise _IntegrityError("the associated data sent to Cloud KMS was not verified")
            if response.ciphertext_crc32c != _crc32c(response.ciphertext):
                raise _IntegrityError("the ciphertext returned by Cloud KMS was corrupted")
            return response

        response = self._call("encrypt", call, EncryptionError)
        return Encrypted(ciphertext=fmt + bytes(response.ciphertext), key_version=response.name)

    def decrypt(self, ciphertext: bytes, associated_data: bytes) -> bytes:
        ciphertext, associated_data = bytes(ciphertext), bytes(associated_data)
        fmt, kms_ciphertext = ciphertext[:1], ciphertext[1:]
        if fmt == FORMAT_PLAIN:
            kms_aad = associated_data
        elif fmt == FORMAT_EMPTY:
            kms_aad = _EMPTY_AAD_PREFIX + associated_data
        else:
            raise DecryptionError() from CloudKmsFailure("not a Cloud KMS ciphertext")
        if not kms_ciphertext:
            raise DecryptionError() from CloudKmsFailure("ciphertext is truncated")
        request = {
            "name": self._key_name,
            "ciphertext": kms_ciphertext,
            "ciphertext_crc32c": _crc32c(kms_ciphertext),
            "additional_authenticated_data": kms_aad,
            "additional_authenticated_data_crc32c": _crc32c(kms_aad),
        }

        def call() -> Any:
            response = self._client.decrypt(request=request, retry=None, timeout=self._timeout)
            if response.plaintext_crc32c != _crc32c(response.plaintext):
                raise _IntegrityError("the plaintext returned by Cloud KMS was corrupted")
            return response

        plaintext = bytes(self._call("decrypt", call, DecryptionError).plaintext)
        if fmt == FORMAT_EMPTY:
            if plaintext != _EMPTY_MARKER:
                raise DecryptionError() from CloudKmsFailure("malformed empty-plaintext marker")
            return b""
        return plaintext

    def primary_key_version(self) -> str:
        def call() -> Any:
            return self._client.get_crypto_key(request={"name": self._key_name}, retry=None, timeout=self._timeout)

        crypto_key = self._call("get crypto key", call, EncryptionError)
        if not crypto_key.primary.name:
            raise EncryptionError() from CloudKmsFailure("key has no primary version (not ENCRYPT_DECRYPT?)")
        return crypto_key.primary.name

    # -- retries and error translation ---------------------------------------------

    def _call(self, action: str, call: Callable[[], T], error: type[EncryptionError] | type[DecryptionError]) -> T:
        """Run `call`, retrying transient failures; translate every failure into `error`.

        Integrity failures are retried too: a corrupted message in transit is transient.
        """
        api = self._api_exceptions
        for attempt in range(1, self._max_attempts + 1):
            try:
                return call()
            except (*self._transient, _IntegrityError) as exc:
                if attempt == self._max_attempts:
                    raise error() from CloudKmsFailure(_reason(action, exc, attempt))
            except api.GoogleAPIError as exc:
                raise error() from CloudKmsFailure(_reason(action, exc, attempt))
            except Exception as exc:  # noqa: BLE001 - e.g. a malformed response; never leak it raw
                raise error() from CloudKmsFailure(_reason(action, exc, attempt))
            time.sleep(self._backoff * (2 ** (attempt - 1)))
        raise AssertionError("unreachable")  # pragma: no cover


def _reason(action: str, exc: Exception, attempts: int) -> str:
    """Say what failed without echoing the vendor's text (it may quote request data)."""
    if isinstance(exc, _IntegrityError):
        reason = f"integrity check failed: {exc}"
    else:
        reason = type(exc).__name__
        code = getattr(exc, "grpc_status_code", None) or getattr(exc, "code", None)
        if code is not None:
            reason = f"{reason} ({getattr(code, 'name', code)})"
    tries = f" after {attempts} attempts" if attempts > 1 else ""
    return f"Cloud KMS {action} failed{tries}: {reason}"
