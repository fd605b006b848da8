"""CloudKmsCipher against the local gRPC KMS stand-in: validation, integrity, retries, errors."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from shared.adapters.cloudkms_cipher import CloudKmsCipher, CloudKmsFailure
from shared.domain.errors import DecryptionError, EncryptionError, IntegrationsError
from tests.support.kms_server import DEFAULT_KEY, KmsStandIn, crc32c, kms_server  # noqa: F401 - fixture

AD = b"org=acme|provider=openai|credential_version=1"
SECRET = b"sk-test-integration-0123456789abcdefghij"
REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def cipher(kms_server: KmsStandIn) -> Iterator[CloudKmsCipher]:  # noqa: F811
    built = CloudKmsCipher(
        DEFAULT_KEY, endpoint=kms_server.endpoint, max_attempts=3, timeout_seconds=2.0, backoff_seconds=0.01
    )
    yield built
    built.close()


def reason(error: BaseException) -> str:
    assert isinstance(error.__cause__, CloudKmsFailure)
    return str(error.__cause__)


def assert_no_secret(error: BaseException) -> None:
    chained = [error, error.__cause__, error.__context__]
    text = " ".join(f"{e!s} {e!r}" for e in chained if e is not None)
    assert SECRET.decode() not in text
    assert AD.decode() not in text


@pytest.mark.parametrize(
    "bad_name",
    [
        "",
        "credentials",
        "projects/p/locations/global/keyRings/r",
        "projects/p/locations/global/keyRings/r/cryptoKeys/",
        "projects/p/locations/global/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1",
        "projects//locations/global/keyRings/r/cryptoKeys/k",
        " projects/p/locations/global/keyRings/r/cryptoKeys/k",
    ],
)
def test_bad_key_name_is_rejected_when_built(kms_server: KmsStandIn, bad_name: str) -> None:  # noqa: F811
    with pytest.raises(EncryptionError, match="KMS_KEY_NAME"):
        CloudKmsCipher(bad_name, endpoint=kms_server.endpoint)
    assert sum(kms_server.calls.values()) == 0


def test_key_version_is_the_encrypt_responses_version_name(cipher: CloudKmsCipher) -> None:
    sealed = cipher.encrypt(SECRET, AD)
    assert sealed.key_version == f"{DEFAULT_KEY}/cryptoKeyVersions/1"


def test_corrupted_response_crc_once_is_retried(cipher: CloudKmsCipher, kms_server: KmsStandIn) -> None:  # noqa: F811
    kms_server.corrupt_crc_next(1)
    sealed = cipher.encrypt(SECRET, AD)
    assert kms_server.calls["Encrypt"] == 2
    assert cipher.decrypt(sealed.ciphertext, AD) == SECRET


def test_corrupted_ciphertext_crc_raises_encryption_error(
    cipher: CloudKmsCipher,
    kms_server: KmsStandIn,  # noqa: F811
) -> None:
    kms_server.corrupt_crc_next(3)
    with pytest.raises(EncryptionError) as caught:
        cipher.encrypt(SECRET, AD)
    assert "integrity check failed" in reason(caught.value)
    assert kms_server.calls["Encrypt"] == 3
    assert_no_secret(caught.value)


def test_unverified_request_crc_raises_encryption_error(
    cipher: CloudKmsCipher,
    kms_server: KmsStandIn,  # noqa: F811
) -> None:
    kms_server.unverified_next(3)
    with pytest.raises(EncryptionError) as caught:
        cipher.encrypt(SECRET, AD)
    assert "not verified" in reason(caught.value)


def test_corrupted_plaintext_crc_raises_decryption_error(
    cipher: CloudKmsCipher,
    kms_server: KmsStandIn,  # noqa: F811
) -> None:
    sealed = cipher.encrypt(SECRET, AD)
    kms_server.corrupt_crc_next(3)
    with pytest.raises(DecryptionError) as caught:
        cipher.decrypt(sealed.ciphertext, AD)
    assert "integrity check failed" in reason(caught.value)
    assert_no_secret(caught.value)


def test_stand_in_rejects_a_wrong_request_crc(cipher: CloudKmsCipher) -> None:
    """The adapter relies on KMS checking our CRC32C; the stand-in must do so too."""
    from google.api_core.exceptions import InvalidArgument

    request = {"name": DEFAULT_KEY, "plaintext": SECRET, "plaintext_crc32c": crc32c(SECRET) ^ 1}
    with pytest.raises(InvalidArgument):
        cipher._client.encrypt(request=request, retry=None, timeout=2.0)


def test_transient_unavailable_is_retried_then_succeeds(
    cipher: CloudKmsCipher,
    kms_server: KmsStandIn,  # noqa: F811
) -> None:
    kms_server.fail_next(2, grpc.StatusCode.UNAVAILABLE)
    sealed = cipher.encrypt(SECRET, AD)
    assert kms_server.calls["Encrypt"] == 3
    kms_server.fail_next(1, grpc.StatusCode.INTERNAL)
    assert cipher.decrypt(sealed.ciphertext, AD) == SECRET
    assert kms_server.calls["Decrypt"] == 2


def test_quota_exhaustion_is_retried(cipher: CloudKmsCipher, kms_server: KmsStandIn) -> None:  # noqa: F811
    kms_server.fail_next(1, grpc.StatusCode.RESOURCE_EXHAUSTED)
    sealed = cipher.encrypt(SECRET, AD)
    assert kms_server.calls["Encrypt"] == 2
    assert cipher.decrypt(sealed.ciphertext, AD) == SECRET


def test_deadline_exceeded_is_retried(kms_server: KmsStandIn) -> None:  # noqa: F811
    impatient = CloudKmsCipher(DEFAULT_KEY, endpoint=kms_server.endpoint, timeout_seconds=0.3, backoff_seconds=0.01)
    try:
        impatient.primary_key_version()  # connect first, so the deadline measures the call
        kms_server.delay_next(1, 1.0)
        sealed = impatient.encrypt(SECRET, AD)
        assert kms_server.calls["Encrypt"] == 2
        assert impatient.decrypt(sealed.ciphertext, AD) == SECRET
    finally:
        impatient.close()


def test_persistent_failure_raises_encryption_error_in_bounded_time(
    cipher: CloudKmsCipher,
    kms_server: KmsStandIn,  # noqa: F811
) -> None:
    kms_server.fail_next(100, grpc.StatusCode.UNAVAILABLE)
    started = time.monotonic()
    with pytest.raises(EncryptionError) as caught:
        cipher.encrypt(SECRET, AD)
    assert time.monotonic() - started < 2.0
    assert kms_server.calls["Encrypt"] == 3
    assert "after 3 attempts" in reason(caught.value)
    assert_no_secret(caught.value)


def test_unreachable_endpoint_raises_encryption_error_in_bounded_time() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    unreachable = CloudKmsCipher(
        DEFAULT_KEY, endpoint=f"127.0.0.1:{closed_port}", timeout_seconds=1.0, backoff_seconds=0.01
    )
    started = time.monotonic()
    try:
        with pytest.raises(EncryptionError) as caught:
            unreachable.encrypt(SECRET, AD)
    finally:
        unreachable.close()
    assert time.monotonic() - started < 5.0
    assert "ServiceUnavailable" in reason(caught.value)


def test_not_found_key_raises_encryption_error_without_retry(kms_server: KmsStandIn) -> None:  # noqa: F811
    missing = CloudKmsCipher(
        "projects/test-project/locations/global/keyRings/test-ring/cryptoKeys/missing",
        endpoint=kms_server.endpoint,
        backoff_seconds=0.01,
    )
    try:
        with pytest.raises(EncryptionError) as caught:
            missing.encrypt(SECRET, AD)
        assert "NotFound" in reason(caught.value)
        assert_no_secret(caught.value)
        with pytest.raises(EncryptionError):
            missing.primary_key_version()
    finally:
        missing.close()
    assert kms_server.calls["Encrypt"] == 1


def test_permission_denied_is_not_retried(cipher: CloudKmsCipher, kms_server: KmsStandIn) -> None:  # noqa: F811
    kms_server.fail_next(1, grpc.StatusCode.PERMISSION_DENIED)
    with pytest.raises(EncryptionError) as caught:
        cipher.encrypt(SECRET, AD)
    assert "PermissionDenied" in reason(caught.value)
    assert kms_server.calls["Encrypt"] == 1


def test_tampered_ciphertext_raises_decryption_error_without_retry(
    cipher: CloudKmsCipher,
    kms_server: KmsStandIn,  # noqa: F811
) -> None:
    sealed = cipher.encrypt(SECRET, AD).ciphertext
    tampered = sealed[:-1] + bytes([sealed[-1] ^ 0x80])
    with pytest.raises(DecryptionError) as caught:
        cipher.decrypt(tampered, AD)
    assert isinstance(caught.value, IntegrationsError)
    assert "InvalidArgument" in reason(caught.value)
    assert kms_server.calls["Decrypt"] == 1
    assert_no_secret(caught.value)


def test_an_injected_client_is_used(kms_server: KmsStandIn) -> None:  # noqa: F811
    from google.cloud import kms_v1
    from google.cloud.kms_v1.services.key_management_service.transports import KeyManagementServiceGrpcTransport

    channel = grpc.insecure_channel(kms_server.endpoint)
    client = kms_v1.KeyManagementServiceClient(transport=KeyManagementServiceGrpcTransport(channel=channel))
    try:
        injected = CloudKmsCipher(DEFAULT_KEY, client=client)
        assert injected.decrypt(injected.encrypt(SECRET, AD).ciphertext, AD) == SECRET
        assert kms_server.calls["Encrypt"] == 1
    finally:
        channel.close()


def test_modules_do_not_import_cloud_libraries() -> None:
    """Embedded defaults must not pay for grpc / google-cloud-kms at import time."""
    code = (
        "import sys, shared.adapters.cloudkms_cipher, shared.adapters.local_keyring\n"
        "loaded = [m for m in ('grpc', 'google.cloud.kms_v1', 'google.api_core', 'google_crc32c') if m in sys.modules]\n"
        "assert not loaded, loaded\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, check=True, timeout=30)
