"""The local keyring's own guarantees: file safety, restarts, races, rotation, bad input."""

from __future__ import annotations

import json
import multiprocessing
import os
import stat
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.adapters.local_keyring import MAGIC, MIN_CIPHERTEXT_LEN, KeyringFailure, LocalKeyring
from shared.domain.errors import DecryptionError, EncryptionError

AD = b"org=acme|provider=openai|credential_version=1"


@pytest.fixture
def keyring_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "keyring.json"


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    """Prove the modes come from the code, not from a friendly umask."""
    previous = os.umask(0)
    try:
        yield
    finally:
        os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_nothing_is_created_until_first_use(keyring_path: Path) -> None:
    LocalKeyring(keyring_path)
    assert not keyring_path.parent.exists()


@pytest.mark.usefixtures("permissive_umask")
def test_keyring_file_is_0600_in_a_0700_directory(keyring_path: Path) -> None:
    keyring = LocalKeyring(keyring_path)
    keyring.encrypt(b"secret", AD)

    assert mode(keyring_path) == 0o600
    assert mode(keyring_path.parent) == 0o700
    lock = keyring_path.with_name(keyring_path.name + ".lock")
    assert mode(lock) == 0o600
    assert sorted(p.name for p in keyring_path.parent.iterdir()) == ["keyring.json", "keyring.json.lock"]


@pytest.mark.usefixtures("permissive_umask")
def test_rotation_keeps_the_file_0600(keyring_path: Path) -> None:
    keyring = LocalKeyring(keyring_path)
    keyring.rotate()
    assert mode(keyring_path) == 0o600
    assert [p.name for p in keyring_path.parent.iterdir() if p.name.endswith(".tmp")] == []


def test_keyring_file_shape(keyring_path: Path) -> None:
    LocalKeyring(keyring_path).primary_key_version()
    document = json.loads(keyring_path.read_text())
    assert document["primary"] == 1
    assert list(document["versions"]) == ["1"]


def test_repr_shows_no_key_material(keyring_path: Path) -> None:
    keyring = LocalKeyring(keyring_path)
    keyring.encrypt(b"secret", AD)
    key_b64 = json.loads(keyring_path.read_text())["versions"]["1"]["key"]
    assert key_b64 not in repr(keyring)


def test_survives_restart(keyring_path: Path) -> None:
    sealed = LocalKeyring(keyring_path).encrypt(b"sk-test-restart", AD)
    restarted = LocalKeyring(keyring_path)
    assert restarted.decrypt(sealed.ciphertext, AD) == b"sk-test-restart"
    assert restarted.primary_key_version() == sealed.key_version == "local/v1"


def _race_to_create(path: str, barrier: multiprocessing.synchronize.Barrier, results) -> None:  # type: ignore[no-untyped-def]
    barrier.wait(timeout=30)
    keyring = LocalKeyring(Path(path))
    sealed = keyring.encrypt(f"sk-test-{os.getpid()}".encode(), AD)
    results.put((os.getpid(), sealed.ciphertext, sealed.key_version))


def test_concurrent_creation_by_four_processes_ends_with_one_key(keyring_path: Path) -> None:
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(4)
    results = context.Queue()
    workers = [context.Process(target=_race_to_create, args=(str(keyring_path), barrier, results)) for _ in range(4)]
    for worker in workers:
        worker.start()
    outcomes = [results.get(timeout=60) for _ in workers]
    for worker in workers:
        worker.join(timeout=30)
        assert worker.exitcode == 0

    keyring = LocalKeyring(keyring_path)
    assert keyring.key_versions() == ["local/v1"]
    for pid, ciphertext, key_version in outcomes:
        assert key_version == "local/v1"
        assert keyring.decrypt(ciphertext, AD) == f"sk-test-{pid}".encode()


def test_rotate_adds_a_primary_and_keeps_old_versions(keyring_path: Path) -> None:
    keyring = LocalKeyring(keyring_path)
    old = keyring.encrypt(b"sk-test-old", AD)

    assert keyring.rotate() == "local/v2"
    assert keyring.rotate() == "local/v3"

    assert keyring.key_versions() == ["local/v1", "local/v2", "local/v3"]
    assert keyring.primary_key_version() == "local/v3"
    assert keyring.encrypt(b"sk-test-new", AD).key_version == "local/v3"
    assert keyring.decrypt(old.ciphertext, AD) == b"sk-test-old"


def test_rotation_by_another_process_is_picked_up(keyring_path: Path) -> None:
    server = LocalKeyring(keyring_path)
    server.encrypt(b"warm the cache", AD)

    new_version = LocalKeyring(keyring_path).rotate()  # e.g. `python -m shared.cli keyring rotate`

    sealed = server.encrypt(b"sk-test-after", AD)
    assert sealed.key_version == new_version == server.primary_key_version()
    assert LocalKeyring(keyring_path).decrypt(sealed.ciphertext, AD) == b"sk-test-after"


def test_ciphertext_layout(keyring_path: Path) -> None:
    keyring = LocalKeyring(keyring_path)
    keyring.rotate()
    ciphertext = keyring.encrypt(b"abc", AD).ciphertext
    assert ciphertext[:3] == MAGIC
    assert struct.unpack(">I", ciphertext[3:7]) == (2,)
    assert len(ciphertext) == MIN_CIPHERTEXT_LEN + len(b"abc")


def _cause(error: BaseException) -> str:
    assert isinstance(error.__cause__, KeyringFailure)
    return str(error.__cause__)


def test_malformed_ciphertexts(keyring_path: Path) -> None:
    keyring = LocalKeyring(keyring_path)
    good = keyring.encrypt(b"sk-test-malformed", AD).ciphertext
    unknown_version = good[:3] + struct.pack(">I", 99) + good[7:]
    cases = {
        "ciphertext is truncated": [b"", good[:MIN_CIPHERTEXT_LEN - 1]],
        "not a local keyring ciphertext": [b"LK2" + good[3:], b"\x00" * MIN_CIPHERTEXT_LEN],
        "unknown key version local/v99": [unknown_version],
        "authentication failed": [good[:-1], good + b"\x00", good[:20] + good[21:] + b"\x00"],
    }
    for reason, ciphertexts in cases.items():
        for ciphertext in ciphertexts:
            with pytest.raises(DecryptionError) as caught:
                keyring.decrypt(ciphertext, AD)
            assert reason in _cause(caught.value)
            assert "sk-test" not in str(caught.value) + _cause(caught.value)


def test_corrupt_keyring_file_raises_project_errors(keyring_path: Path) -> None:
    sealed = LocalKeyring(keyring_path).encrypt(b"sk-test", AD)
    keyring_path.write_text("{not json")

    keyring = LocalKeyring(keyring_path)
    with pytest.raises(EncryptionError):
        keyring.encrypt(b"sk-test", AD)
    with pytest.raises(DecryptionError):
        keyring.decrypt(sealed.ciphertext, AD)
    with pytest.raises(EncryptionError):
        keyring.primary_key_version()


def test_wrong_length_key_is_rejected(keyring_path: Path) -> None:
    keyring_path.parent.mkdir(mode=0o700)
    keyring_path.write_text(json.dumps({"format": 1, "primary": 1, "versions": {"1": {"key": "AAAA"}}}))
    with pytest.raises(EncryptionError) as caught:
        LocalKeyring(keyring_path).encrypt(b"sk-test", AD)
    assert "wrong length" in _cause(caught.value)
