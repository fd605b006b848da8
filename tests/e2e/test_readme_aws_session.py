"""The README's AWS curl session, run as written, twice: the stand-ins (terminal 1, AWS
included), `python -m shared.cli serve` with the stand-ins' env file (terminal 2), and the AWS
block in bash (terminal 3): the form, a role made from it, a setup that ends `active` with
["costs"], a rotation to a role without the external ID requirement that fails, a delete."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from shared.validators.aws import NO_EXTERNAL_ID
from tests.e2e.test_readme_session import ROOT, server_settings, session_blocks, stop, wait_for
from tests.support.live_service import free_port

pytestmark = pytest.mark.slow


def aws_block() -> str:
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("### AWS: ") :]
    return next(b for b in re.findall(r"```sh\n(.*?)```", section, re.S) if "aws/setup" in b)


@pytest.mark.skipif(shutil.which("curl") is None or shutil.which("bash") is None, reason="needs curl and bash")
def test_the_readme_aws_session_runs_twice(tmp_path: Path) -> None:
    terminals, create, _ = session_blocks()
    port = free_port()
    (tmp_path / ".venv" / "bin").mkdir(parents=True)
    wrapper = tmp_path / ".venv" / "bin" / "python"
    wrapper.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} "$@"\n')
    wrapper.chmod(0o755)
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "DATA_DIR": str(tmp_path / "data"), "PORT": str(port),
           "PYTHONUNBUFFERED": "1", "HOME": str(tmp_path)}  # fmt: skip
    standins = subprocess.Popen(
        [sys.executable, "-m", "tests.support.standins", "--env-file", ".standins.env"],
        cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    server = None
    try:
        deadline = time.monotonic() + 30
        while not (tmp_path / ".standins.env").exists():
            assert time.monotonic() < deadline and standins.poll() is None, "the stand-ins did not start"
            time.sleep(0.1)
        exports = subprocess.run(["bash", "-c", ". ./.standins.env && env -0"], cwd=tmp_path, env=env,
                                 capture_output=True, check=True).stdout.decode()  # fmt: skip
        server_env = dict(item.split("=", 1) for item in exports.split("\0") if "=" in item)
        server_env |= server_settings(terminals) | {"LOG_LEVEL": "WARNING", "PROVIDER_BACKOFF_SECONDS": "0.01"}
        with open(tmp_path / "server.log", "wb") as log:
            server = subprocess.Popen([sys.executable, "-m", "shared.cli", "serve"], cwd=tmp_path, env=server_env,
                                      stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
        wait_for(f"http://127.0.0.1:{port}/", server)
        block = aws_block()
        script = (
            f". ./.standins.env\nAPI=http://127.0.0.1:{port}/api/v1/integrations\n"
            + create + "\nexport KEY\n" + "\n".join(f"echo '=== run {n}'\n{block}" for n in (1, 2))
        )  # fmt: skip
        done = subprocess.run(["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=120)  # fmt: skip
    finally:
        if server is not None:
            stop(server, signal.SIGTERM)
        stop(standins, signal.SIGINT)
    assert done.returncode == 0, done.stderr
    runs = done.stdout.split("=== run ")[1:]
    assert len(runs) == 2
    for run in runs:
        text = run.split("\n", 1)[1]  # after the run's number; curl's answers follow one another
        setup, end = json.JSONDecoder().raw_decode(text)
        rotate, end2 = json.JSONDecoder().raw_decode(text, end)
        deleted = text[end2:].strip()
        assert (setup["status"], setup["capabilities"]) == ("active", ["costs"]), setup
        assert rotate["status"] == "active" and rotate["rotation"]["status"] == "failed", rotate
        assert rotate["rotation"]["message"] == "Missing permissions: " + NO_EXTERNAL_ID
        assert deleted == "204"
    assert standins.returncode == 0
