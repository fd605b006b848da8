"""Google's Pub/Sub emulator for tests: one start per test session, no java left behind.

The emulator ships with the Cloud SDK (component `pubsub-emulator`): SDK root is two
directories above the real path of `gcloud`. Where it (or java) is missing the tests
skip with the reason, except on CI (CI=true), where a missing emulator fails them.

Use the session fixture `pubsub_emulator` (yields "127.0.0.1:PORT"). Test modules that
import it each get their own fixture definition, so the process itself is shared and
reference-counted here: started by the first user, stopped after the last.
"""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Iterator

import pytest

logger = logging.getLogger(__name__)

START_TIMEOUT_SECONDS = 30.0
EMULATOR_RELATIVE_PATH = Path("platform/pubsub-emulator/bin/cloud-pubsub-emulator")


def find_emulator() -> tuple[Path | None, str]:
    """The emulator launcher, or None and why it is unavailable."""
    gcloud = shutil.which("gcloud")
    if gcloud is None:
        return None, "gcloud is not on PATH (install the Google Cloud SDK with the pubsub-emulator component)"
    sdk_root = Path(os.path.realpath(gcloud)).parent.parent
    launcher = sdk_root / EMULATOR_RELATIVE_PATH
    if not launcher.is_file():
        return None, f"Pub/Sub emulator not installed at {launcher} (gcloud components install pubsub-emulator)"
    if shutil.which("java") is None:
        return None, "java (17+) is not on PATH; the Pub/Sub emulator needs it"
    return launcher, ""


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"Pub/Sub emulator required on CI: {reason}", pytrace=False)
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PubSubEmulator:
    """One emulator process (a shell script exec-ing java) in its own process group."""

    def __init__(self, launcher: Path) -> None:
        self.launcher = launcher
        self.port = _free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.startup_seconds: float | None = None
        self._workdir = tempfile.TemporaryDirectory(prefix="pubsub-emulator-")
        self._log_path = Path(self._workdir.name) / "emulator.log"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        started = time.monotonic()
        with open(self._log_path, "wb") as log:
            self._process = subprocess.Popen(
                [str(self.launcher), "--host=127.0.0.1", f"--port={self.port}"],
                cwd=self._workdir.name,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: stop() kills java too
            )
        deadline = started + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                self.stop()
                raise RuntimeError(f"Pub/Sub emulator exited at start-up:\n{self.log_tail()}")
            if self._answers():
                self.startup_seconds = time.monotonic() - started
                logger.info("Pub/Sub emulator on %s started in %.2fs", self.host, self.startup_seconds)
                return
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"Pub/Sub emulator did not answer within {START_TIMEOUT_SECONDS}s:\n{self.log_tail()}")

    def _answers(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://{self.host}/", timeout=1) as response:
                return response.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def stop(self) -> None:
        process = self._process
        if process is None:
            return
        self._process = None
        _signal_group(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            _signal_group(process.pid, signal.SIGKILL)
            process.wait(timeout=5)
        # The group can outlive its leader (the launcher is a shell script): leave nothing.
        _signal_group(process.pid, signal.SIGKILL)
        self._workdir.cleanup()

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self._log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass


_lock = threading.Lock()
_shared: PubSubEmulator | None = None
_users = 0
start_count = 0  # how many emulator processes this test session started (expected: 1)


def acquire() -> PubSubEmulator:
    """The session's emulator, started on first use. Skips (fails on CI) when unavailable."""
    global _shared, _users, start_count
    launcher, reason = find_emulator()
    if launcher is None:
        _unavailable(reason)
    with _lock:
        if _shared is None or not _shared.running:
            emulator = PubSubEmulator(launcher)
            emulator.start()
            _shared = emulator
            start_count += 1
        _users += 1
        return _shared


def release() -> None:
    global _shared, _users
    with _lock:
        _users -= 1
        if _users <= 0 and _shared is not None:
            _shared.stop()
            _shared = None
            _users = 0


@atexit.register
def _stop_at_exit() -> None:  # belt and braces: an interrupted session leaves no java
    if _shared is not None:
        _shared.stop()


@pytest.fixture(scope="session")
def pubsub_emulator() -> Iterator[str]:
    """'127.0.0.1:PORT' of a running emulator, shared by the whole test session."""
    acquire()
    try:
        assert _shared is not None
        yield _shared.host
    finally:
        release()
