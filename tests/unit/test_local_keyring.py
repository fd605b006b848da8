"""The local keyring's own guarantees: file safety, restarts, races, rotation, bad input,
a lost keyring never silently replaced, version names never reused, format-1 files still read."""

from __future__ import annotations

import base64
import json
import multiprocessing
import os
import stat
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from shared.adapters.local_keyring import (
    LEGACY_MIN_CIPHERTEXT_LEN,
    MAGIC,
    MIN_CIPHERTEXT_LEN,
    KeyringFailure,
    LocalKeyring,
)
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


def keyring_id(path: Path) -> str:
    return json.loads(path.read_text())["id"]


def test_keyring_file_shape(keyring_path: Path) -> None:
    LocalKeyring(keyring_path).primary_key_version()
    document = json.loads(keyring_path.read_text())
    assert document["format"] == 2 and document["primary"] == 1
    assert len(bytes.fromhex(document["id"])) == 8
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
    assert restarted.primary_key_version() == sealed.key_version == f"local/{keyring_id(keyring_path)}/v1"


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
    assert keyring.key_versions() == [f"local/{keyring_id(keyring_path)}/v1"]
    for pid, ciphertext, key_version in outcomes:
        assert key_version == keyring.key_versions()[0]
        assert keyring.decrypt(ciphertext, AD) == f"sk-test-{pid}".encode()


def test_rotate_adds_a_primary_and_keeps_old_versions(keyring_path: Path) -> None:
    keyring = LocalKeyring(keyring_path)
    old = keyring.encrypt(b"sk-test-old", AD)

    name = f"local/{keyring_id(keyring_path)}/v"
    assert keyring.rotate() == name + "2"
    assert keyring.rotate() == name + "3"

    assert keyring.key_versions() == [name + "1", name + "2", name + "3"]
    assert keyring.primary_key_version() == name + "3"
    assert keyring.encrypt(b"sk-test-new", AD).key_version == name + "3"
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
    assert ciphertext[:3] == MAGIC == b"LK2"
    assert ciphertext[3:11] == bytes.fromhex(keyring_id(keyring_path))
    assert struct.unpack(">I", ciphertext[11:15]) == (2,)
    assert len(ciphertext) == MIN_CIPHERTEXT_LEN + len(b"abc")


def _cause(error: BaseException) -> str:
    assert isinstance(error.__cause__, KeyringFailure)
    return str(error.__cause__)


def test_malformed_ciphertexts(keyring_path: Path) -> None:
    keyring = LocalKeyring(keyring_path)
    good = keyring.encrypt(b"sk-test-malformed", AD).ciphertext
    unknown_version = good[:11] + struct.pack(">I", 99) + good[15:]
    cases = {
        "ciphertext is truncated": [b"", good[: MIN_CIPHERTEXT_LEN - 1], good[: LEGACY_MIN_CIPHERTEXT_LEN - 1]],
        "not a local keyring ciphertext": [b"LK3" + good[3:], b"\x00" * MIN_CIPHERTEXT_LEN],
        f"unknown key version local/{keyring_id(keyring_path)}/v99": [unknown_version],
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


# ---------------------------------------------------------------- a lost keyring (issue 9, item 5)


def test_a_lost_keyring_is_not_replaced_while_the_store_holds_ciphertext(keyring_path: Path) -> None:
    sealed = LocalKeyring(keyring_path).encrypt(b"sk-test-lost", AD)
    keyring_path.unlink()
    keyring = LocalKeyring(keyring_path, may_create=lambda: False)  # the store holds ciphertext

    for attempt, error in (
        (lambda: keyring.encrypt(b"sk-test-new", AD), EncryptionError),
        (lambda: keyring.decrypt(sealed.ciphertext, AD), DecryptionError),
        (keyring.primary_key_version, EncryptionError),
        (keyring.rotate, EncryptionError),
    ):
        with pytest.raises(error) as caught:
            attempt()
        reason = _cause(caught.value)
        assert str(keyring_path.absolute()) in reason and "is missing" in reason and "restore" in reason
        assert "sk-test" not in reason
    with pytest.raises(KeyringFailure, match="is missing"):
        keyring.load()
    assert not keyring_path.exists(), "a lost keyring was replaced by a new one"


def test_may_create_is_asked_only_when_the_file_is_missing(keyring_path: Path) -> None:
    asked: list[int] = []

    def may_create() -> bool:
        asked.append(1)
        return True

    LocalKeyring(keyring_path, may_create=may_create).encrypt(b"sk-test", AD)
    assert asked == [1]  # once, to create it
    again = LocalKeyring(keyring_path, may_create=may_create)
    again.decrypt(again.encrypt(b"sk-test", AD).ciphertext, AD)
    again.rotate()
    assert asked == [1], "an existing keyring must not cost a store query"


def test_a_new_keyring_never_reuses_a_version_name(keyring_path: Path) -> None:
    first = LocalKeyring(keyring_path)
    sealed = first.encrypt(b"sk-test-first", AD)
    first_id = keyring_id(keyring_path)
    keyring_path.unlink()  # lost, and the store was wiped: a new keyring is allowed

    second = LocalKeyring(keyring_path, may_create=lambda: True)
    assert second.encrypt(b"sk-test-second", AD).key_version != sealed.key_version
    assert keyring_id(keyring_path) != first_id
    with pytest.raises(DecryptionError) as caught:
        second.decrypt(sealed.ciphertext, AD)
    assert _cause(caught.value) == f"sealed by keyring {first_id}, this is keyring {keyring_id(keyring_path)}"


def _format_1_keyring(path: Path) -> bytes:
    """A keyring file as written before keyring ids (format 1); returns its key."""
    key = AESGCM.generate_key(bit_length=256)
    path.parent.mkdir(mode=0o700)
    path.write_text(
        json.dumps(
            {
                "format": 1,
                "primary": 1,
                "versions": {"1": {"key": base64.b64encode(key).decode(), "created_at": "2024-01-01T00:00:00+00:00"}},
            }
        )
    )
    os.chmod(path, 0o600)
    return key


def _lk1(key: bytes, version: int, plaintext: bytes, associated_data: bytes) -> bytes:
    """An LK1 ciphertext exactly as the format-1 keyring sealed it."""
    header, nonce = b"LK1" + struct.pack(">I", version), os.urandom(12)
    return header + nonce + AESGCM(key).encrypt(nonce, plaintext, header + associated_data)


def test_format_1_keyring_files_and_lk1_ciphertexts_keep_working(keyring_path: Path) -> None:
    key = _format_1_keyring(keyring_path)
    old = _lk1(key, 1, b"sk-test-old", AD)
    keyring = LocalKeyring(keyring_path, may_create=lambda: False)

    assert keyring.decrypt(old, AD) == b"sk-test-old"
    assert keyring.primary_key_version() == "local/v1"
    sealed = keyring.encrypt(b"sk-test-new", AD)
    assert sealed.ciphertext[:3] == b"LK1" and sealed.key_version == "local/v1"
    assert keyring.rotate() == "local/v2" and json.loads(keyring_path.read_text())["format"] == 1
    assert keyring.decrypt(old, AD) == b"sk-test-old"
    assert keyring.decrypt(sealed.ciphertext, AD) == b"sk-test-new"
    with pytest.raises(DecryptionError) as caught:
        keyring.decrypt(old, AD + b"x")
    assert "authentication failed" in _cause(caught.value)

    other = LocalKeyring(keyring_path.parent.parent / "other" / "keyring.json")
    foreign = other.encrypt(b"sk-test-foreign", AD).ciphertext
    with pytest.raises(DecryptionError) as caught:
        keyring.decrypt(foreign, AD)
    assert _cause(caught.value) == f"sealed by keyring {foreign[3:11].hex()}, this is a keyring of format 1 (no id)"
    with pytest.raises(DecryptionError) as caught:
        other.decrypt(old, AD)
    assert _cause(caught.value).startswith("sealed by a keyring of format 1 (no id), this is keyring ")


@pytest.mark.parametrize(
    "document",
    [
        {"format": 2, "primary": 1, "versions": {}},
        {"format": 2, "id": "zz" * 8, "primary": 1, "versions": {}},
        {"format": 2, "id": "ab" * 4, "primary": 1, "versions": {}},
        {"format": 3, "id": "ab" * 8, "primary": 1, "versions": {}},
    ],
    ids=["no-id", "bad-hex", "short-id", "unknown-format"],
)
def test_keyring_file_with_a_bad_id_or_format_is_refused(keyring_path: Path, document: dict) -> None:
    keyring_path.parent.mkdir(mode=0o700)
    keyring_path.write_text(json.dumps(document))
    with pytest.raises(EncryptionError) as caught:
        LocalKeyring(keyring_path).encrypt(b"sk-test", AD)
    assert "valid id" in _cause(caught.value) or "unknown format" in _cause(caught.value)


# ---------------------------------------------------------------- the same, as the service is built


ORG = "acme_corp"


def _service_with_a_credential(data_dir: Path):  # type: ignore[no-untyped-def]
    from shared.container import build_service
    from shared.settings import Settings
    from tests.support.doubles import RecordingQueue
    from tests.support.provider_servers import openai_key

    settings = Settings(data_dir=data_dir, validation_rate_limit="100/600")
    service = build_service(settings, queue=RecordingQueue())
    actor = service.orgs.authenticate(service.orgs.create_org(ORG), ORG)
    service.setups.setup(actor, "openai", {"credential": openai_key()})
    service.store.close()
    return settings, actor


def test_the_service_refuses_to_replace_a_lost_keyring(tmp_path: Path) -> None:
    from shared.container import build_service
    from shared.service.credentials import associated_data
    from tests.support.doubles import RecordingQueue
    from tests.support.provider_servers import anthropic_key

    settings, actor = _service_with_a_credential(tmp_path / "data")
    keyring = tmp_path / "data" / "keyring.json"
    keyring.unlink()

    restarted = build_service(settings, queue=RecordingQueue())  # as a new process would
    with pytest.raises(EncryptionError) as caught:
        restarted.setups.setup(actor, "anthropic", {"credential": anthropic_key()})
    assert str(keyring.absolute()) in _cause(caught.value)
    with pytest.raises(DecryptionError) as caught:
        restarted.setups.validate(actor, "openai")
    assert str(keyring.absolute()) in _cause(caught.value)
    [row] = restarted.store.list_credentials(None, 10)
    with pytest.raises(DecryptionError):
        restarted.cipher.decrypt(row.ciphertext, associated_data(ORG, "openai", 1, row.credential_id))
    assert not keyring.exists()
    restarted.store.close()


def test_a_keyring_and_its_check_cost_nothing_until_first_use(tmp_path: Path) -> None:
    """Cold start: building the service and reading queries no store for the keyring, and an
    existing keyring is never checked against the store."""
    from shared.adapters.sqlite_store import SqliteStore
    from shared.container import build_service
    from shared.settings import Settings
    from tests.support.doubles import RecordingQueue
    from tests.support.provider_servers import openai_key

    class CountingStore(SqliteStore):
        listed = 0

        def list_credentials(self, after, limit):  # type: ignore[no-untyped-def]
            CountingStore.listed += 1
            return super().list_credentials(after, limit)

    data_dir = tmp_path / "data"
    store = CountingStore(data_dir / "integrations.db")
    service = build_service(
        Settings(data_dir=data_dir, validation_rate_limit="100/600"), store=store, queue=RecordingQueue()
    )
    actor = service.orgs.authenticate(service.orgs.create_org(ORG), ORG)
    service.integrations.list(actor)
    assert CountingStore.listed == 0 and not (data_dir / "keyring.json").exists()
    service.setups.setup(actor, "openai", {"credential": openai_key()})
    assert CountingStore.listed == 1  # the first encrypt creates the keyring, after one query
    service.setups.setup(actor, "openai", {"credential": openai_key()})
    assert CountingStore.listed == 1
    store.close()


def _cli_env(data_dir: Path) -> dict[str, str]:
    from tests.support.live_service import free_port

    env = {k: v for k, v in os.environ.items() if not k.startswith(("STORE_", "KMS_", "QUEUE_", "PUBSUB_"))}
    env.update(DATA_DIR=str(data_dir), PORT=str(free_port()), VALIDATOR_URL="http://127.0.0.1:9/unused")
    return env


def test_serve_refuses_to_start_when_its_keyring_is_lost(tmp_path: Path) -> None:
    import subprocess
    import sys

    from tests.support.doubles import ROOT

    _service_with_a_credential(tmp_path / "data")
    keyring = tmp_path / "data" / "keyring.json"
    keyring.unlink()
    done = subprocess.run(
        [sys.executable, "-m", "shared.cli", "serve"],
        cwd=ROOT,
        env=_cli_env(tmp_path / "data"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert str(keyring.absolute()) in done.stderr and "restore the file" in done.stderr
    assert "delete the stored data" in done.stderr
    assert not keyring.exists()


def test_keyring_rotate_refuses_to_replace_a_lost_keyring(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from shared.cli import main

    _service_with_a_credential(tmp_path / "data")
    keyring = tmp_path / "data" / "keyring.json"
    keyring.unlink()
    for name, value in _cli_env(tmp_path / "data").items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("KMS_BACKEND", raising=False)
    assert main(["keyring", "rotate"]) != 0
    assert str(keyring.absolute()) in capsys.readouterr().err
    assert not keyring.exists()
