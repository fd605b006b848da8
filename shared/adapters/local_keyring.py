"""Local keyring: AES-256-GCM under versioned keys kept in one file (the embedded `Cipher`).

Keyring file (JSON, mode 0600, in a 0700 directory; created on first use)::

    {"format": 2, "id": "<16 hex digits: 8 random bytes>", "primary": 2,
     "versions": {"1": {"key": "<base64, 32 bytes>", "created_at": "..."}, "2": {...}}}

A random id per keyring keeps version names (`local/<id>/v<N>`) from ever being reused by
another keyring. Format-1 files (no id, names `local/v<N>`) keep working; new ones are format 2.
A keyring is created only while the store holds no ciphertext (`may_create`, asked only when
the file is missing): a lost keyring is an error naming the file, never a silent fresh one.

Failures raise EncryptionError / DecryptionError with the catalogue message; the reason
(never key material, plaintext or associated data) is the chained `KeyringFailure`.

Ciphertext format (every field checked on decrypt)::

    b"LK2" | keyring id (8 bytes) | key version (uint32 BE) | nonce (12 random bytes) | AES-GCM ciphertext + tag (16)
    b"LK1" |                        key version (uint32 BE) | nonce (12 random bytes) | AES-GCM ciphertext + tag (16)

A format-2 keyring seals LK2, a format-1 keyring LK1. The header is authenticated together
with the caller's associated data, so no part of either can be swapped; a ciphertext of
another keyring fails naming both keyrings.

Several processes may start at once: the file is created and rewritten only under an
exclusive `fcntl` lock on a sibling ``.lock`` file, always by writing a fresh 0600
temporary file and `os.replace`-ing it in, so readers never see a partial keyring.
A process notices another one's rotation by the file's identity changing (stat).
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import struct
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ..domain.errors import DecryptionError, EncryptionError
from ..domain.errors import CipherFailure
from ..ports import Encrypted


class KeyringFailure(CipherFailure):
    """Why the keyring failed, chained as the cause of the catalogue error (never a secret)."""


MAGIC = b"LK2"
LEGACY_MAGIC = b"LK1"
KEYRING_ID_LEN = 8
_VERSION = struct.Struct(">I")
HEADER_LEN = len(MAGIC) + KEYRING_ID_LEN + _VERSION.size
LEGACY_HEADER_LEN = len(LEGACY_MAGIC) + _VERSION.size
NONCE_LEN = 12
TAG_LEN = 16
MIN_CIPHERTEXT_LEN = HEADER_LEN + NONCE_LEN + TAG_LEN
LEGACY_MIN_CIPHERTEXT_LEN = LEGACY_HEADER_LEN + NONCE_LEN + TAG_LEN
KEY_LEN = 32
FORMAT = 2


@dataclass(frozen=True)
class _Ring:
    keyring_id: bytes | None  # None: a format-1 keyring (LK1 ciphertexts, names local/v<N>)
    primary: int
    keys: dict[int, AESGCM]
    identity: tuple[int, int, int]  # (inode, mtime_ns, size) of the file it was read from

    def name(self, version: int) -> str:
        return f"local/{self.keyring_id.hex()}/v{version}" if self.keyring_id else f"local/v{version}"

    def header(self, version: int) -> bytes:
        if self.keyring_id is None:
            return LEGACY_MAGIC + _VERSION.pack(version)
        return MAGIC + self.keyring_id + _VERSION.pack(version)


class LocalKeyring:
    """Versioned AES-256-GCM keys in a local file; thread- and multi-process-safe.

    `may_create` is asked (only when the file is missing) whether a new keyring may be
    created: False when the store holds ciphertext. None: always (tests, a fresh directory).
    """

    def __init__(self, path: Path, may_create: Callable[[], bool] | None = None):
        self._path = Path(path)
        self._lock_path = self._path.with_name(self._path.name + ".lock")
        self._may_create = may_create
        self._mutex = threading.Lock()
        self._ring: _Ring | None = None  # loaded on first use, not at construction

    def __repr__(self) -> str:
        return f"LocalKeyring(path={str(self._path)!r})"

    # -- Cipher port ---------------------------------------------------------------

    def encrypt(self, plaintext: bytes, associated_data: bytes) -> Encrypted:
        try:
            ring = self._current()
            header = ring.header(ring.primary)
            nonce = os.urandom(NONCE_LEN)
            sealed = ring.keys[ring.primary].encrypt(nonce, bytes(plaintext), header + bytes(associated_data))
        except Exception as exc:  # noqa: BLE001 - any failure means nothing may be stored
            raise EncryptionError() from _failure(exc, "encryption failed")
        return Encrypted(ciphertext=header + nonce + sealed, key_version=ring.name(ring.primary))

    def decrypt(self, ciphertext: bytes, associated_data: bytes) -> bytes:
        ciphertext = bytes(ciphertext)
        if len(ciphertext) < LEGACY_MIN_CIPHERTEXT_LEN:
            raise DecryptionError() from KeyringFailure("ciphertext is truncated")
        if ciphertext.startswith(MAGIC):
            sealed_by, header_len = ciphertext[len(MAGIC) : len(MAGIC) + KEYRING_ID_LEN], HEADER_LEN
        elif ciphertext.startswith(LEGACY_MAGIC):
            sealed_by, header_len = None, LEGACY_HEADER_LEN
        else:
            raise DecryptionError() from KeyringFailure("not a local keyring ciphertext")
        if len(ciphertext) < header_len + NONCE_LEN + TAG_LEN:
            raise DecryptionError() from KeyringFailure("ciphertext is truncated")
        (version,) = _VERSION.unpack_from(ciphertext, header_len - _VERSION.size)
        try:
            ring = self._current()
        except Exception as exc:  # noqa: BLE001
            raise DecryptionError() from _failure(exc, "unavailable")
        if sealed_by != ring.keyring_id:
            reason = f"sealed by {_describe(sealed_by)}, this is {_describe(ring.keyring_id)}"
            raise DecryptionError() from KeyringFailure(reason)
        key = ring.keys.get(version)
        if key is None:
            raise DecryptionError() from KeyringFailure(f"unknown key version {ring.name(version)}")
        header, nonce = ciphertext[:header_len], ciphertext[header_len : header_len + NONCE_LEN]
        try:
            return key.decrypt(nonce, ciphertext[header_len + NONCE_LEN :], header + bytes(associated_data))
        except InvalidTag:
            reason = "authentication failed (tampered, or another owner's associated data)"
            raise DecryptionError() from KeyringFailure(reason)

    def primary_key_version(self) -> str:
        ring = self._current_or_encryption_error()
        return ring.name(ring.primary)

    # -- keyring management (CLI, serve) -----------------------------------------------

    def load(self) -> None:
        """Load (or create, if allowed) the keyring now, else raise KeyringFailure: `serve` at start."""
        try:
            self._current()
        except Exception as exc:  # noqa: BLE001
            raise _failure(exc, "unavailable") from None

    def key_versions(self) -> list[str]:
        """Every version that can still decrypt, oldest first."""
        ring = self._current_or_encryption_error()
        return [ring.name(v) for v in sorted(ring.keys)]

    def rotate(self) -> str:
        """Add a key version and make it primary; older versions stay for decrypt."""
        try:
            with self._mutex, self._file_lock():
                document = self._read_document()
                if document is None:
                    self._refuse_unless_allowed()
                    document = _new_document()
                _parse(document, None)  # never extend a keyring that does not load
                new_version = max(int(v) for v in document["versions"]) + 1
                document["versions"][str(new_version)] = _new_key_entry()
                document["primary"] = new_version
                self._write_document(document)
                self._ring = ring = _parse(document, self._identity())
        except Exception as exc:  # noqa: BLE001
            raise EncryptionError() from _failure(exc, "rotation failed")
        return ring.name(new_version)

    # -- loading -------------------------------------------------------------------

    def _current_or_encryption_error(self) -> _Ring:
        try:
            return self._current()
        except Exception as exc:  # noqa: BLE001
            raise EncryptionError() from _failure(exc, "unavailable")

    def _current(self) -> _Ring:
        """The keyring as on disk now: one stat per call, a re-read only when it changed."""
        with self._mutex:
            ring = self._ring
            identity = self._identity()
            if ring is not None and ring.identity == identity:
                return ring
            if identity is None:
                self._create()
                identity = self._identity()
            document = self._read_document()
            if document is None:
                raise KeyringFailure("Local keyring file disappeared while loading")
            self._ring = _parse(document, identity)
            return self._ring

    def _create(self) -> None:
        """Create the keyring once, even when several processes race to do it."""
        with self._file_lock():
            if self._read_document() is None:
                self._refuse_unless_allowed()
                self._write_document(_new_document())

    def _refuse_unless_allowed(self) -> None:
        if self._may_create is not None and not self._may_create():
            raise KeyringFailure(
                f"Local keyring file {self._path.absolute()} is missing, but the store holds credentials "
                "encrypted with it: restore the file from a backup; or, to start over without those "
                "credentials, delete the stored data (the SQLite file next to it)"
            )

    def _identity(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self._path)
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def _read_document(self) -> dict | None:
        try:
            raw = self._path.read_bytes()
        except FileNotFoundError:
            return None
        document = json.loads(raw)
        if not isinstance(document, dict) or "versions" not in document or "primary" not in document:
            raise KeyringFailure("Local keyring file is malformed")
        return document

    # -- writing -------------------------------------------------------------------

    def _ensure_dir(self) -> None:
        directory = self._path.parent
        if not directory.exists():
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            os.chmod(directory, 0o700)  # mkdir's mode is filtered by the umask

    @contextmanager
    def _file_lock(self) -> Iterator[None]:
        self._ensure_dir()
        fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the lock

    def _write_document(self, document: dict) -> None:
        """Write a fresh 0600 temporary file, then atomically replace the keyring with it."""
        tmp = self._path.with_name(f".{self._path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(json.dumps(document, indent=2, sort_keys=True).encode())
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self._path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        dir_fd = os.open(self._path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def _parse(document: dict, identity: tuple[int, int, int] | None) -> _Ring:
    fmt = document.get("format", 1)
    if fmt == 1:
        keyring_id = None
    elif fmt == FORMAT:
        keyring_id = _keyring_id(document.get("id"))
    else:
        raise KeyringFailure("Local keyring file has an unknown format")
    keys: dict[int, AESGCM] = {}
    for version, entry in document["versions"].items():
        material = base64.b64decode(entry["key"], validate=True)
        if len(material) != KEY_LEN:
            raise KeyringFailure("Local keyring holds a key of the wrong length")
        keys[int(version)] = AESGCM(material)
    primary = int(document["primary"])
    if primary not in keys:
        raise KeyringFailure("Local keyring primary version has no key")
    return _Ring(keyring_id=keyring_id, primary=primary, keys=keys, identity=identity or (0, 0, 0))


def _keyring_id(text: object) -> bytes:
    try:
        keyring_id = bytes.fromhex(text) if isinstance(text, str) else b""
    except ValueError:
        keyring_id = b""
    if len(keyring_id) != KEYRING_ID_LEN:
        raise KeyringFailure("Local keyring file has no valid id")
    return keyring_id


def _failure(exc: Exception, what: str) -> KeyringFailure:
    """The reason to chain: ours as it is; anything else by its type only (never its text)."""
    if isinstance(exc, KeyringFailure):
        return exc
    return KeyringFailure(f"Local keyring {what} ({type(exc).__name__})")


def _describe(keyring_id: bytes | None) -> str:
    return f"keyring {keyring_id.hex()}" if keyring_id else "a keyring of format 1 (no id)"


def _new_key_entry() -> dict[str, str]:
    return {
        "key": base64.b64encode(AESGCM.generate_key(bit_length=KEY_LEN * 8)).decode(),
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def _new_document() -> dict:
    return {"format": FORMAT, "id": os.urandom(KEYRING_ID_LEN).hex(), "primary": 1, "versions": {"1": _new_key_entry()}}
