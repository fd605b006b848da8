"""A local gRPC stand-in for Cloud KMS: Encrypt, Decrypt and GetCryptoKey.

It speaks the real wire protocol (`/google.cloud.kms.v1.KeyManagementService/...`,
with the request/response messages from `google.cloud.kms_v1.types`), so the real
`KeyManagementServiceClient` talks to it over a plaintext channel. It behaves like
Cloud KMS where our adapter can tell: AES-256-GCM under versioned keys per crypto
key, AAD checked, `name` of the version used returned, request CRC32C fields checked
(INVALID_ARGUMENT), response CRC32C and `verified_*` fields filled, unknown key ->
NOT_FOUND, undecryptable ciphertext -> INVALID_ARGUMENT, empty plaintext rejected
(the field is "Required"), plaintext over 64 KiB rejected.

Test hooks: `add_key`, `rotate`, `fail_next` (next N calls end with a status such as
UNAVAILABLE), `corrupt_crc_next` (next N responses carry a wrong CRC32C),
`unverified_next` (next N Encrypt responses claim the request CRC was not verified),
`delay_next` (next N calls sleep first) and `calls` (per-method call counts).

The stand-in ciphertext is ``version (uint32 BE) | nonce (12) | AES-GCM ct+tag``;
like the real one it is opaque to callers and records its key version.
"""

from __future__ import annotations

import os
import struct
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent import futures
from dataclasses import dataclass, field

import google_crc32c
import grpc
import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from google.cloud.kms_v1.types import resources, service

SERVICE = "google.cloud.kms.v1.KeyManagementService"
MAX_PLAINTEXT = 64 * 1024
_VERSION = struct.Struct(">I")
_NONCE_LEN = 12
DEFAULT_KEY = "projects/test-project/locations/global/keyRings/test-ring/cryptoKeys/credentials"


def crc32c(data: bytes) -> int:
    return int(google_crc32c.value(data))


@dataclass
class _CryptoKey:
    versions: dict[int, AESGCM] = field(default_factory=dict)
    primary: int = 0


class _Abort(Exception):
    def __init__(self, code: grpc.StatusCode, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


class KmsStandIn:
    """The server and its state. Use as a context manager, or via the `kms_server` fixture."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._keys: dict[str, _CryptoKey] = {}
        self._faults: list[grpc.StatusCode] = []
        self._corrupt = 0
        self._unverified = 0
        self._delays: list[float] = []
        self.calls: Counter[str] = Counter()
        self._server: grpc.Server | None = None
        self.port: int = 0

    # -- lifecycle -------------------------------------------------------------------

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> KmsStandIn:
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=16))
        handlers = {
            "Encrypt": grpc.unary_unary_rpc_method_handler(
                self._wrap("Encrypt", self._encrypt),
                request_deserializer=service.EncryptRequest.deserialize,
                response_serializer=service.EncryptResponse.serialize,
            ),
            "Decrypt": grpc.unary_unary_rpc_method_handler(
                self._wrap("Decrypt", self._decrypt),
                request_deserializer=service.DecryptRequest.deserialize,
                response_serializer=service.DecryptResponse.serialize,
            ),
            "GetCryptoKey": grpc.unary_unary_rpc_method_handler(
                self._wrap("GetCryptoKey", self._get_crypto_key),
                request_deserializer=service.GetCryptoKeyRequest.deserialize,
                response_serializer=resources.CryptoKey.serialize,
            ),
        }
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))
        self.port = server.add_insecure_port("127.0.0.1:0")
        server.start()
        self._server = server
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop(grace=None).wait()
            self._server = None

    def __enter__(self) -> KmsStandIn:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- test hooks ------------------------------------------------------------------

    def add_key(self, name: str = DEFAULT_KEY) -> str:
        """Create a crypto key with one version (its primary); returns the key name."""
        with self._lock:
            self._keys.setdefault(name, _CryptoKey())
        if not self._keys[name].versions:
            self.rotate(name)
        return name

    def rotate(self, name: str = DEFAULT_KEY) -> str:
        """Add a version and make it primary (as Cloud KMS rotation does); returns its name."""
        with self._lock:
            key = self._keys.setdefault(name, _CryptoKey())
            version = max(key.versions, default=0) + 1
            key.versions[version] = AESGCM(AESGCM.generate_key(bit_length=256))
            key.primary = version
        return _version_name(name, version)

    def fail_next(self, count: int = 1, code: grpc.StatusCode = grpc.StatusCode.UNAVAILABLE) -> None:
        with self._lock:
            self._faults.extend([code] * count)

    def corrupt_crc_next(self, count: int = 1) -> None:
        with self._lock:
            self._corrupt += count

    def unverified_next(self, count: int = 1) -> None:
        with self._lock:
            self._unverified += count

    def delay_next(self, count: int, seconds: float) -> None:
        with self._lock:
            self._delays.extend([seconds] * count)

    def reset_faults(self) -> None:
        with self._lock:
            self._faults.clear()
            self._delays.clear()
            self._corrupt = self._unverified = 0

    # -- RPCs ------------------------------------------------------------------------

    def _wrap(self, method: str, handler):  # type: ignore[no-untyped-def]
        def serve(request, context):  # type: ignore[no-untyped-def]
            with self._lock:
                self.calls[method] += 1
                delay = self._delays.pop(0) if self._delays else 0.0
                fault = self._faults.pop(0) if self._faults else None
            if delay:
                time.sleep(delay)
            if fault is not None:
                context.abort(fault, "injected fault")
            try:
                return handler(request)
            except _Abort as abort:
                context.abort(abort.code, abort.message)

        return serve

    def _take(self, attribute: str) -> bool:
        with self._lock:
            remaining = getattr(self, attribute)
            if remaining:
                setattr(self, attribute, remaining - 1)
            return bool(remaining)

    def _key(self, name: str) -> tuple[str, _CryptoKey, int | None]:
        """Resolve a crypto key or crypto key version name."""
        key_name, _, version = name.partition("/cryptoKeyVersions/")
        with self._lock:
            key = self._keys.get(key_name)
        if key is None or (version and (not version.isdigit() or int(version) not in key.versions)):
            raise _Abort(grpc.StatusCode.NOT_FOUND, f"{name} not found.")
        return key_name, key, int(version) if version else None

    @staticmethod
    def _check_crc(request, field_name: str, data: bytes) -> bool:  # type: ignore[no-untyped-def]
        checksum_field = f"{field_name}_crc32c"
        if not request._pb.HasField(checksum_field):
            return False
        if getattr(request, checksum_field) != crc32c(data):
            raise _Abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"The checksum in field {checksum_field} did not match the data in field {field_name}.",
            )
        return True

    def _encrypt(self, request: service.EncryptRequest) -> service.EncryptResponse:
        key_name, key, version = self._key(request.name)
        version = version or key.primary
        if not request.plaintext:
            raise _Abort(grpc.StatusCode.INVALID_ARGUMENT, "plaintext is required.")
        if len(request.plaintext) > MAX_PLAINTEXT:
            raise _Abort(grpc.StatusCode.INVALID_ARGUMENT, "plaintext exceeds the maximum size.")
        plaintext_verified = self._check_crc(request, "plaintext", request.plaintext)
        aad = request.additional_authenticated_data
        aad_verified = self._check_crc(request, "additional_authenticated_data", aad)
        nonce = os.urandom(_NONCE_LEN)
        ciphertext = _VERSION.pack(version) + nonce + key.versions[version].encrypt(nonce, request.plaintext, aad)
        checksum = crc32c(ciphertext)
        if self._take("_corrupt"):
            checksum ^= 1
        if self._take("_unverified"):
            plaintext_verified = aad_verified = False
        return service.EncryptResponse(
            name=_version_name(key_name, version),
            ciphertext=ciphertext,
            ciphertext_crc32c=checksum,
            verified_plaintext_crc32c=plaintext_verified,
            verified_additional_authenticated_data_crc32c=aad_verified,
            protection_level=resources.ProtectionLevel.SOFTWARE,
        )

    def _decrypt(self, request: service.DecryptRequest) -> service.DecryptResponse:
        _, key, version = self._key(request.name)
        if version is not None:
            raise _Abort(grpc.StatusCode.INVALID_ARGUMENT, "name must be a CryptoKey, not a version.")
        self._check_crc(request, "ciphertext", request.ciphertext)
        aad = request.additional_authenticated_data
        self._check_crc(request, "additional_authenticated_data", aad)
        invalid = _Abort(grpc.StatusCode.INVALID_ARGUMENT, "Decryption failed: the ciphertext is invalid.")
        ciphertext = request.ciphertext
        if len(ciphertext) < _VERSION.size + _NONCE_LEN + 16:
            raise invalid
        (used,) = _VERSION.unpack_from(ciphertext)
        aead = key.versions.get(used)
        if aead is None:
            raise invalid
        nonce = ciphertext[_VERSION.size : _VERSION.size + _NONCE_LEN]
        try:
            plaintext = aead.decrypt(nonce, ciphertext[_VERSION.size + _NONCE_LEN :], aad)
        except InvalidTag:
            raise invalid from None
        checksum = crc32c(plaintext)
        if self._take("_corrupt"):
            checksum ^= 1
        return service.DecryptResponse(
            plaintext=plaintext,
            plaintext_crc32c=checksum,
            used_primary=used == key.primary,
            protection_level=resources.ProtectionLevel.SOFTWARE,
        )

    def _get_crypto_key(self, request: service.GetCryptoKeyRequest) -> resources.CryptoKey:
        key_name, key, version = self._key(request.name)
        if version is not None:
            raise _Abort(grpc.StatusCode.NOT_FOUND, f"{request.name} not found.")
        return resources.CryptoKey(
            name=key_name,
            purpose=resources.CryptoKey.CryptoKeyPurpose.ENCRYPT_DECRYPT,
            primary=resources.CryptoKeyVersion(
                name=_version_name(key_name, key.primary),
                state=resources.CryptoKeyVersion.CryptoKeyVersionState.ENABLED,
                protection_level=resources.ProtectionLevel.SOFTWARE,
                algorithm=resources.CryptoKeyVersion.CryptoKeyVersionAlgorithm.GOOGLE_SYMMETRIC_ENCRYPTION,
            ),
        )


def _version_name(key_name: str, version: int) -> str:
    return f"{key_name}/cryptoKeyVersions/{version}"


@pytest.fixture
def kms_server() -> Iterator[KmsStandIn]:
    """A running stand-in with `DEFAULT_KEY` created; stopped after the test."""
    with KmsStandIn() as server:
        server.add_key(DEFAULT_KEY)
        yield server
