"""The README's curl session, run as written, twice, the way a new user runs it: the stand-ins
(terminal 1), `python -m shared.cli serve` with the README's settings and the stand-ins' env file
(terminal 2), and the session's shell blocks in bash (terminal 3). Every answer must be a
success both times: in particular no 429 from the validation rate limit on the second run."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.support.live_service import free_port

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


def session_blocks() -> tuple[str, str, str]:
    """(terminals block, create-org block, session block) of the README's curl session."""
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## A session with curl") :]
    section = section[: section.index("\n## ")]
    blocks = re.findall(r"```sh\n(.*?)```", section, re.S)
    terminals = next(b for b in blocks if "make run" in b)
    create = next(b for b in blocks if "create-org" in b)
    session = next(b for b in blocks if "curl" in b and "create-org" not in b)
    return terminals, create, session


def server_settings(terminals: str) -> dict[str, str]:
    """The VAR=value assignments in front of `make run` in the terminals block."""
    line = next(line for line in terminals.splitlines() if "make run" in line)
    command = line.split("&&")[-1].split("#")[0]
    words = shlex.split(command)
    return dict(w.split("=", 1) for w in words[: words.index("make")])


def wait_for(url: str, process: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the server exited with {process.returncode}")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    pytest.fail("the server did not answer")


def stop(process: subprocess.Popen, sig: int) -> None:
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


@pytest.mark.skipif(shutil.which("curl") is None or shutil.which("bash") is None, reason="needs curl and bash")
def test_the_readme_session_runs_twice_without_an_error(tmp_path):
    terminals, create, session = session_blocks()
    port = free_port()
    # The session's `.venv/bin/python`, relative to where it runs: this interpreter.
    (tmp_path / ".venv" / "bin").mkdir(parents=True)
    wrapper = tmp_path / ".venv" / "bin" / "python"
    wrapper.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} "$@"\n')
    wrapper.chmod(0o755)
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("STORE_", "KMS_", "QUEUE_", "PUBSUB_", "BIGQUERY_", "VALIDATION_", "GCP_", "VALIDATOR_"))
    }
    env = base | {
        "PYTHONPATH": str(ROOT),
        "DATA_DIR": str(tmp_path / "data"),
        "PORT": str(port),
        "PYTHONUNBUFFERED": "1",
    }

    # Terminal 1: what `make standins` runs, writing .standins.env where the session sources it.
    standins = subprocess.Popen(
        [sys.executable, "-m", "tests.support.standins", "--env-file", ".standins.env"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    server = None
    try:
        deadline = time.monotonic() + 30
        while not (tmp_path / ".standins.env").exists():
            assert time.monotonic() < deadline and standins.poll() is None, "the stand-ins did not start"
            time.sleep(0.1)
        # Terminal 2: `. ./.standins.env && <README settings> make run`.
        exports = subprocess.run(
            ["bash", "-c", ". ./.standins.env && env -0"], cwd=tmp_path, env=env, capture_output=True, check=True
        ).stdout.decode()
        server_env = dict(item.split("=", 1) for item in exports.split("\0") if "=" in item)
        server_env |= server_settings(terminals) | {"LOG_LEVEL": "WARNING", "PROVIDER_BACKOFF_SECONDS": "0.01"}
        with open(tmp_path / "server.log", "wb") as log:
            server = subprocess.Popen(
                [sys.executable, "-m", "shared.cli", "serve"],
                cwd=tmp_path,
                env=server_env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        wait_for(f"http://127.0.0.1:{port}/", server)

        # Terminal 3: source the env file, create the org once, then run the session twice.
        local = session.replace("127.0.0.1:8080", f"127.0.0.1:{port}")
        script = (
            ". ./.standins.env\n"
            + create
            + "\nexport KEY\n"
            + "\n".join(f"echo '=== run {n}'\n{local}" for n in (1, 2))
        )
        done = subprocess.run(
            ["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
        )
    finally:
        if server is not None:
            stop(server, signal.SIGTERM)
        stop(standins, signal.SIGINT)

    output = done.stdout
    assert done.returncode == 0, done.stderr
    runs = output.split("=== run ")[1:]
    assert len(runs) == 2
    for run in runs:
        assert '"error"' not in run, f"a step failed:\n{run}"
        assert run.rstrip().endswith("204"), "the session ends with a delete answering 204"
        assert '"provider":"openai"' in run and '"provider":"gcp"' in run and '"provider":"slack"' in run
        # The Admin key reads costs (the inline rotation answers with it); the API key only infers.
        assert '"capabilities":["costs","usage"]' in run and '"capabilities":["inference"]' in run
        assert '"provider":"azure"' in run and '"capabilities":["costs"]' in run
    assert "rate_limited" not in output
    assert standins.returncode == 0 and server.returncode is not None
