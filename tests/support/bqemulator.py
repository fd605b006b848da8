"""bqemulator (PyPI, DuckDB-backed BigQuery emulator) for tests: one process per test session.

Why the ceremony:
- bqemulator loads DuckDB's `spatial` extension at start and would download it (no
  internet here): the extension comes from the pinned `duckdb-extension-spatial` wheel,
  installed into a test-owned HOME (DuckDB keeps extensions under ~/.duckdb).
- The emulator picks its own free ports (`--rest-port 0`) and logs them as JSON, so there
  is no bind race; we read the REST port from the log.
- The client needs credentials even against the emulator (AnonymousCredentials) and an
  http:// endpoint: `BigQueryStore(emulator_host=...)` does both.

Use the session fixture `bq_emulator` (yields "http://127.0.0.1:PORT") and
`new_dataset_name()` so each test sees only its own rows. Test modules that import the
fixture each get their own definition, so the process is shared and reference-counted:
started by the first user, stopped after the last (and at exit, whatever happens).
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Iterator

import pytest

START_TIMEOUT_SECONDS = 30.0
PROJECT = "integrations-test"


def _emulator_command() -> list[str] | None:
    exe = Path(sys.executable).with_name("bqemulator")
    if exe.is_file():
        return [str(exe)]
    found = shutil.which("bqemulator")
    return [found] if found else None


def _spatial_extension() -> Path | None:
    try:
        import duckdb
        import duckdb_extension_spatial
    except ImportError:
        return None
    version = "v" + duckdb.__version__
    path = Path(duckdb_extension_spatial.__file__).parent / "extensions" / version / "spatial.duckdb_extension"
    return path if path.is_file() else None


class BigQueryEmulator:
    """One `bqemulator start` process in its own process group, with a private HOME."""

    def __init__(self, command: list[str], extension: Path) -> None:
        self.command = command
        self.extension = extension
        self.url: str | None = None
        self.startup_seconds: float | None = None
        self._workdir = tempfile.TemporaryDirectory(prefix="bqemulator-")
        self._home = Path(self._workdir.name) / "home"
        self._log_path = Path(self._workdir.name) / "emulator.log"
        self._process: subprocess.Popen[bytes] | None = None

    def _install_extension(self) -> None:
        import duckdb

        self._home.mkdir()
        # DuckDB resolves ~ from HOME at connect time; INSTALL from a file needs no network.
        previous = os.environ.get("HOME")
        os.environ["HOME"] = str(self._home)
        try:
            conn = duckdb.connect(":memory:")
            conn.execute(f"INSTALL '{self.extension}'")
            conn.close()
        finally:
            if previous is None:
                os.environ.pop("HOME", None)
            else:
                os.environ["HOME"] = previous

    def start(self) -> str:
        started = time.monotonic()
        self._install_extension()
        env = {**os.environ, "HOME": str(self._home)}
        env.pop("BIGQUERY_EMULATOR_HOST", None)
        with open(self._log_path, "wb") as log:
            self._process = subprocess.Popen(
                [
                    *self.command,
                    "start",
                    "--rest-host",
                    "127.0.0.1",
                    "--rest-port",
                    "0",
                    "--grpc-host",
                    "127.0.0.1",
                    "--grpc-port",
                    "0",
                    "--ephemeral",
                    "--project",
                    PROJECT,
                    "--log-format",
                    "json",
                    "--log-level",
                    "info",
                ],
                cwd=self._workdir.name,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        deadline = started + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            port = self._rest_port()
            if port is not None:
                self.url = f"http://127.0.0.1:{port}"
                self.startup_seconds = time.monotonic() - started
                return self.url
            if self._process.poll() is not None:
                break
            time.sleep(0.05)
        tail = self.log_tail()
        self.stop()
        raise RuntimeError(f"bqemulator did not start within {START_TIMEOUT_SECONDS}s:\n{tail}")

    def _rest_port(self) -> int | None:
        try:
            text = self._log_path.read_text(errors="replace")
        except FileNotFoundError:
            return None
        for line in text.splitlines():
            if '"rest.listen"' not in line:
                continue
            try:
                return int(json.loads(line)["port"])
            except (ValueError, KeyError, TypeError):
                continue
        return None

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self._log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return ""

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            try:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
            except ProcessLookupError:
                pass
        self._workdir.cleanup()


_lock = threading.Lock()
_shared: BigQueryEmulator | None = None
_users = 0


def _acquire() -> str:
    global _shared, _users
    with _lock:
        if _shared is None:
            command, extension = _emulator_command(), _spatial_extension()
            if command is None or extension is None:
                reason = "bqemulator / duckdb-extension-spatial not installed (pip install -r requirements-dev.txt)"
                if os.environ.get("CI") == "true":
                    pytest.fail(reason, pytrace=False)
                pytest.skip(reason)
            emulator = BigQueryEmulator(command, extension)
            emulator.start()
            atexit.register(emulator.stop)
            _shared = emulator
        _users += 1
        assert _shared.url is not None
        return _shared.url


def _release() -> None:
    global _shared, _users
    with _lock:
        _users -= 1
        if _users == 0 and _shared is not None:
            _shared.stop()
            _shared = None


@pytest.fixture(scope="session")
def bq_emulator() -> Iterator[str]:
    """The emulator's REST endpoint, "http://127.0.0.1:PORT"."""
    url = _acquire()
    try:
        yield url
    finally:
        _release()


def new_dataset_name(prefix: str = "t") -> str:
    """A dataset name no other test uses."""
    return f"{prefix}_{uuid.uuid4().hex[:16]}"
