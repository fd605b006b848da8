"""The Cipher contract: one set of tests, run against every adapter.

`local` is the embedded keyring file; `cloudkms` is the real Cloud KMS client talking
gRPC to the local stand-in in tests/support/kms_server.py.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from shared.adapters.cloudkms_cipher import CloudKmsCipher
from shared.adapters.local_keyring import LocalKeyring
from shared.domain.errors import DecryptionError, IntegrationsError
from shared.ports import Cipher, CipherFailure, Encrypted
from shared.service.credentials import associated_data, legacy_associated_data
from tests.support.kms_server import DEFAULT_KEY, KmsStandIn

OTHER_KEY = DEFAULT_KEY.replace("cryptoKeys/", "cryptoKeys/other-")


@dataclass
class CipherUnderTest:
    cipher: Cipher
    rotate: Callable[[], str]  # add a key version, make it primary, return its name
    another: Callable[[], Cipher]  # an independent instance: another keyring file / another KMS key


@pytest.fixture(params=["local", "cloudkms"])
def under_test(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[CipherUnderTest]:
    if request.param == "local":
        keyring = LocalKeyring(tmp_path / "data" / "keyring.json")
        yield CipherUnderTest(
            cipher=keyring, rotate=keyring.rotate, another=lambda: LocalKeyring(tmp_path / "another" / "keyring.json")
        )
        return
    with KmsStandIn() as server:
        server.add_key(DEFAULT_KEY)
        kms = CloudKmsCipher(DEFAULT_KEY, endpoint=server.endpoint, timeout_seconds=5.0)
        others: list[CloudKmsCipher] = []

        def another() -> Cipher:
            others.append(CloudKmsCipher(server.add_key(OTHER_KEY), endpoint=server.endpoint, timeout_seconds=5.0))
            return others[-1]

        try:
            yield CipherUnderTest(cipher=kms, rotate=lambda: server.rotate(DEFAULT_KEY), another=another)
        finally:
            for built in (kms, *others):
                built.close()


@pytest.fixture
def cipher(under_test: CipherUnderTest) -> Cipher:
    return under_test.cipher


def owner_ad(org: str = "acme", provider: str = "openai", version: int = 1, credential_id: str = "c" * 32) -> bytes:
    """The service's own binding (shared/service/credentials.py)."""
    return associated_data(org, provider, version, credential_id)


def fake_secret() -> bytes:
    return b"sk-test-" + secrets.token_urlsafe(32).encode()


def test_round_trip(cipher: Cipher) -> None:
    plaintext = fake_secret()
    sealed = cipher.encrypt(plaintext, owner_ad())
    assert isinstance(sealed, Encrypted)
    assert cipher.decrypt(sealed.ciphertext, owner_ad()) == plaintext


def test_encryption_is_randomized(cipher: Cipher) -> None:
    plaintext = fake_secret()
    first, second = cipher.encrypt(plaintext, owner_ad()), cipher.encrypt(plaintext, owner_ad())
    assert first.ciphertext != second.ciphertext
    assert cipher.decrypt(second.ciphertext, owner_ad()) == plaintext


@pytest.mark.parametrize(
    "other_ad",
    [
        owner_ad(org="globex"),
        owner_ad(provider="anthropic"),
        owner_ad(version=2),
        owner_ad(credential_id="d" * 32),
        legacy_associated_data("acme", "openai", 1),
        b"",
    ],
    ids=["other-org", "other-provider", "other-version", "other-credential-id", "legacy-binding", "empty-ad"],
)
def test_other_associated_data_fails(cipher: Cipher, other_ad: bytes) -> None:
    sealed = cipher.encrypt(fake_secret(), owner_ad())
    with pytest.raises(DecryptionError):
        cipher.decrypt(sealed.ciphertext, other_ad)


def test_every_flipped_byte_fails(cipher: Cipher) -> None:
    sealed = cipher.encrypt(b"sk-test-flip", owner_ad()).ciphertext
    for index in range(len(sealed)):
        tampered = bytearray(sealed)
        tampered[index] ^= 0x01
        with pytest.raises(DecryptionError):
            cipher.decrypt(bytes(tampered), owner_ad())


def test_truncated_or_extended_ciphertext_fails(cipher: Cipher) -> None:
    sealed = cipher.encrypt(fake_secret(), owner_ad()).ciphertext
    for broken in (b"", sealed[:1], sealed[:10], sealed[:-1], sealed + b"\x00", b"not a ciphertext at all"):
        with pytest.raises(DecryptionError):
            cipher.decrypt(broken, owner_ad())


def test_empty_plaintext(cipher: Cipher) -> None:
    sealed = cipher.encrypt(b"", owner_ad())
    assert sealed.ciphertext
    assert cipher.decrypt(sealed.ciphertext, owner_ad()) == b""
    with pytest.raises(DecryptionError):
        cipher.decrypt(sealed.ciphertext, owner_ad(version=2))


def test_large_plaintext(cipher: Cipher) -> None:
    plaintext = secrets.token_bytes(64 * 1024)
    sealed = cipher.encrypt(plaintext, owner_ad())
    assert cipher.decrypt(sealed.ciphertext, owner_ad()) == plaintext


def test_key_version_recorded_and_rotation_keeps_old_ciphertexts(cipher: Cipher, under_test: CipherUnderTest) -> None:
    old_plaintext, new_plaintext = fake_secret(), fake_secret()
    before = cipher.encrypt(old_plaintext, owner_ad())
    assert before.key_version == cipher.primary_key_version()

    new_version = under_test.rotate()

    assert cipher.primary_key_version() == new_version != before.key_version
    after = cipher.encrypt(new_plaintext, owner_ad())
    assert after.key_version == new_version
    assert cipher.decrypt(before.ciphertext, owner_ad()) == old_plaintext
    assert cipher.decrypt(after.ciphertext, owner_ad()) == new_plaintext


def test_ciphertext_never_contains_the_plaintext(cipher: Cipher) -> None:
    plaintext = fake_secret()
    sealed = cipher.encrypt(plaintext, owner_ad())
    assert plaintext not in sealed.ciphertext
    assert plaintext[8:24] not in sealed.ciphertext  # not even the random middle
    assert plaintext.decode() not in repr(sealed) + sealed.key_version


def test_errors_are_the_projects_and_carry_no_secret(cipher: Cipher) -> None:
    plaintext = fake_secret()
    sealed = cipher.encrypt(plaintext, owner_ad())
    with pytest.raises(DecryptionError) as caught:
        cipher.decrypt(sealed.ciphertext, owner_ad(org="globex"))
    error = caught.value
    assert isinstance(error, IntegrationsError)
    chain = [error, error.__cause__, error.__context__]
    text = " ".join(f"{e!s} {e!r}" for e in chain if e is not None)
    for secret in (plaintext.decode(), "acme", "globex"):
        assert secret not in text


def test_encrypt_from_eight_threads(cipher: Cipher) -> None:
    def work(worker: int) -> list[tuple[bytes, bytes, bytes]]:
        sealed = []
        for item in range(10):
            plaintext, ad = fake_secret(), owner_ad(org=f"org{worker}", version=item)
            sealed.append((plaintext, ad, cipher.encrypt(plaintext, ad).ciphertext))
        return sealed

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = [entry for batch in pool.map(work, range(8)) for entry in batch]

    assert len({ciphertext for _, _, ciphertext in results}) == 80
    for plaintext, ad, ciphertext in results:
        assert cipher.decrypt(ciphertext, ad) == plaintext


def test_another_instances_ciphertext_fails_and_says_why(cipher: Cipher, under_test: CipherUnderTest) -> None:
    """A ciphertext of another keyring (or KMS key) never decrypts, even under the same version
    name and associated data; the chained cause says why and holds no secret."""
    plaintext = fake_secret()
    foreign = under_test.another()
    sealed = foreign.encrypt(plaintext, owner_ad())
    assert sealed.key_version != cipher.primary_key_version()
    with pytest.raises(DecryptionError) as caught:
        cipher.decrypt(sealed.ciphertext, owner_ad())
    cause = caught.value.__cause__
    assert isinstance(cause, CipherFailure) and plaintext.decode() not in str(cause)
    with pytest.raises(DecryptionError):
        foreign.decrypt(cipher.encrypt(plaintext, owner_ad()).ciphertext, owner_ad())
