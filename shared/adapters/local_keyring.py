"""Local keyring: AES-256-GCM under versioned keys kept in one file (the embedded `Cipher`).

Keyring file (JSON, mode 0600, in a 0700 directory; created on first use)::

    {"format": 1, "primary": 2,
     "versions": {"1": {"key": "<base64, 32 bytes>", "created_at": "..."}, "2": {...}}}

Failures raise EncryptionError / DecryptionError with the catalogue message; the reason
(never key material, plaintext or associated data) is the chained `KeyringFailure`.

Ciphertext format (every field checked on decrypt)::

    b"LK1" | key version (uint32 big-endian) | nonce (12 random bytes) | AES-GCM ciphertext + 16-byte tag

The 7-byte header (magic + version) is authenticated together with the caller's
associated data, so neither the version nor the associated data can be swapped.

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
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ..domain.errors import DecryptionError, EncryptionError
from ..ports import Encrypted

class KeyringFailure(Exception):
    """Why the keyring failed, chained as the cause of the catalogue error (never a secret)."""


MAGIC = b"LK1"
_VERSION = struct.Struct(">I")
HEADER_LEN = len(MAGIC) + _VERSION.size
NONCE_LEN = 12
TAG_LEN = 16
MIN_CIPHERTEXT_LEN = HEADER_LEN + NONCE_LEN + TAG_LEN
KEY_LEN = 32
VERSION_PREFIX = "local/v"


@dataclass(frozen=True)
class _Ring:
    primary: int
    keys: dict[int, AESGCM]
    identity: tuple[int, int, int]  # (inode, mtime_ns, size) of the file it was read from


class LocalKeyring:
    """Versioned AES-256-GCM keys in a local file; thread- and multi-process-safe."""

    def __init__(self, path: Path):
        self._path = Path(path)
        self._lock_path = self._path.with_name(self._path.name + ".lock")
        self._mutex = threading.Lock()
        self._ring: _Ring | None = None  # loaded on first use, not at construction

    def __repr__(self) -> str:
        return f"LocalKeyring(path={str(self._path)!r})"

    # -- Cipher port ---------------------------------------------------------------

    def encrypt(self, plaintext: bytes, associated_data: bytes) -> Encrypted:
        try:
            ring = self._current()
            version = ring.primary
            header = MAGIC + _VERSION.pack(version)
            nonce = os.urandom(NONCE_LEN)
            sealed = ring.keys[version].encrypt(nonce, bytes(plaintext), header + bytes(associated_data))
        except EncryptionError:
            raise
        except Exception as exc:  # noqa: BLE001 - any failure means nothing may be stored
            raise EncryptionError() from KeyringFailure(f"Local keyring encryption failed ({type(exc).__name__})")
        return Encrypted(ciphertext=header + nonce + sealed, key_version=_version_name(version))

    def decrypt(self, ciphertext: bytes, associated_data: bytes) -> bytes:
        ciphertext = bytes(ciphertext)
        if len(ciphertext) < MIN_CIPHERTEXT_LEN:
            raise DecryptionError() from KeyringFailure("ciphertext is truncated")
        if ciphertext[: len(MAGIC)] != MAGIC:
            raise DecryptionError() from KeyringFailure("not a local keyring ciphertext")
        (version,) = _VERSION.unpack_from(ciphertext, len(MAGIC))
        key = self._key_for(version)
        header = ciphertext[:HEADER_LEN]
        nonce = ciphertext[HEADER_LEN : HEADER_LEN + NONCE_LEN]
        try:
            return key.decrypt(nonce, ciphertext[HEADER_LEN + NONCE_LEN :], header + bytes(associated_data))
        except InvalidTag:
            reason = "authentication failed (tampered, or another owner's associated data)"
            raise DecryptionError() from KeyringFailure(reason)

    def primary_key_version(self) -> str:
        return _version_name(self._current_or_encryption_error().primary)

    # -- keyring management (CLI) ----------------------------------------------------

    def key_versions(self) -> list[str]:
        """Every version that can still decrypt, oldest first."""
        return [_version_name(v) for v in sorted(self._current_or_encryption_error().keys)]

    def rotate(self) -> str:
        """Add a key version and make it primary; older versions stay for decrypt."""
        with self._mutex, self._file_lock():
            document = self._read_document() or _new_document()
            new_version = max(int(v) for v in document["versions"]) + 1
            document["versions"][str(new_version)] = _new_key_entry()
            document["primary"] = new_version
            self._write_document(document)
            self._ring = self._parse(document, self._identity())
        return _version_name(new_version)

    # -- loading -------------------------------------------------------------------

    def _current_or_encryption_error(self) -> _Ring:
        try:
            return self._current()
        except EncryptionError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise EncryptionError() from KeyringFailure(f"Local keyring unavailable ({type(exc).__name__})")

    def _key_for(self, version: int) -> AESGCM:
        try:
            ring = self._current()
        except Exception as exc:  # noqa: BLE001
            raise DecryptionError() from KeyringFailure(f"keyring unavailable ({type(exc).__name__})")
        key = ring.keys.get(version)
        if key is None:
            raise DecryptionError() from KeyringFailure(f"unknown key version {_version_name(version)}")
        return key

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
                raise EncryptionError() from KeyringFailure("Local keyring file disappeared while loading")
            self._ring = self._parse(document, identity)
            return self._ring

    def _create(self) -> None:
        """Create the keyring once, even when several processes race to do it."""
        self._ensure_dir()
        with self._file_lock():
            if self._read_document() is None:
                self._write_document(_new_document())

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
            raise EncryptionError() from KeyringFailure("Local keyring file is malformed")
        return document

    @staticmethod
    def _parse(document: dict, identity: tuple[int, int, int] | None) -> _Ring:
        keys: dict[int, AESGCM] = {}
        for version, entry in document["versions"].items():
            material = base64.b64decode(entry["key"], validate=True)
            if len(material) != KEY_LEN:
                raise EncryptionError() from KeyringFailure("Local keyring holds a key of the wrong length")
            keys[int(version)] = AESGCM(material)
        primary = int(document["primary"])
        if primary not in keys:
            raise EncryptionError() from KeyringFailure("Local keyring primary version has no key")
        return _Ring(primary=primary, keys=keys, identity=identity or (0, 0, 0))

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


def _version_name(version: int) -> str:
    return f"{VERSION_PREFIX}{version}"


def _new_key_entry() -> dict[str, str]:
    return {
        "key": base64.b64encode(AESGCM.generate_key(bit_length=KEY_LEN * 8)).decode(),
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def _new_document() -> dict:
    return {"format": 1, "primary": 1, "versions": {"1": _new_key_entry()}}
