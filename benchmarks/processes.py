"""Processes: each started in its own session and killed as a group; the environment of a
fresh clone; a group's peak RSS; org API keys made by the project's own service."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

from benchmarks.common import CLOUD_ENV_PREFIXES, ROOT


class Processes:
    """Every process this script starts, each in its own session, killed as a group."""

    def __init__(self) -> None:
        self._running: list[subprocess.Popen[bytes]] = []

    def start(self, args: list[str], env: dict[str, str], stderr_path: Path | None = None) -> subprocess.Popen[bytes]:
        stderr = stderr_path.open("wb") if stderr_path else subprocess.DEVNULL
        try:
            proc = subprocess.Popen(
                args,
                cwd=ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                start_new_session=True,
            )
        finally:
            if stderr_path:
                stderr.close()  # the child holds its own copy
        self._running.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen[bytes]) -> None:
        for sig, wait in ((signal.SIGTERM, 3.0), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                pass
            try:
                proc.wait(wait)
                break
            except subprocess.TimeoutExpired:
                continue
        # The group may outlive its leader (a gunicorn worker): make sure nothing is left.
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        if proc in self._running:
            self._running.remove(proc)

    def stop_all(self) -> None:
        for proc in list(self._running):
            self.stop(proc)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def embedded_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of a fresh clone: embedded backends, no cloud variable, the repo importable."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(CLOUD_ENV_PREFIXES)}
    env.update(DATA_DIR=str(data_dir), PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1")
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.update(extra)
    return env


def group_peak_rss_mib(leader: int) -> float:
    """The largest VmHWM among the processes of a process group (the gunicorn worker, usually)."""
    peak_kib = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            pgrp = int(stat.rsplit(")", 1)[1].split()[2])
            if pgrp != leader:
                continue
            for line in (entry / "status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak_kib = max(peak_kib, int(line.split()[1]))
        except (OSError, ValueError, IndexError):
            continue
    return peak_kib / 1024


def create_orgs(env: dict[str, str], slugs: list[str]) -> list[str]:
    """Org API keys, made by the project's own service in one subprocess (the CLI makes one per call)."""
    code = (
        "import json, sys\nfrom shared.container import get_service\n"
        "service = get_service()\nservice.store.init_store()\n"
        "print(json.dumps([service.orgs.create_org(s) for s in sys.argv[1:]]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, *slugs], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    if done.returncode != 0:
        raise RuntimeError(f"creating orgs failed: {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])
