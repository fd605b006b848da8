"""Cold start: boto3 (about 140 ms of imports) is loaded only by the AWS check itself. Every
function serves its first request, and its requests doing real work (an OpenAI setup that
queues a validation, the list that shows `aws`, the OpenAI setup form, an AWS setup refused by
the format check), without importing boto3 or botocore; the AWS setup form, which asks AWS STS
for the platform's principal, does (the probe sees it)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from benchmarks.common import ALL_FUNCTIONS, ROOT, VALIDATOR
from benchmarks.http_requests import authenticated_request, first_request
from benchmarks.processes import create_orgs, embedded_env

AWS_MODULES = ("boto3", "botocore", "s3transfer")

PROBE = r"""
import json, sys
import functions_framework
spec = json.loads(sys.argv[1])
loaded = {}
for i, (name, signature, method, path, body, headers) in enumerate(spec["requests"]):
    app = functions_framework.create_app(target=name, source=f"{spec['root']}/functions/{name}/main.py",
                                         signature_type=signature)
    status = app.test_client().open(path, method=method, data=(body or "").encode() or None, headers=headers).status_code
    loaded[f"{i} {method} {path} {status}"] = sorted(m for m in sys.modules if m.split(".")[0] in spec["aws"])
print(json.dumps(loaded))
"""


def _request(name: str, method: str, path: str, body: dict | None, api_key: str) -> list:
    headers = {"X-API-Key": api_key, **({"Content-Type": "application/json"} if body is not None else {})}
    return [
        name,
        "http",
        method,
        "/api/v1/integrations" + path,
        json.dumps(body) if body is not None else None,
        headers,
    ]


def _probe(tmp_path: Path, requests: list[list], **env: str) -> dict[str, list[str]]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps({"root": str(ROOT), "aws": AWS_MODULES, "requests": requests})],
        cwd=ROOT, env=embedded_env(tmp_path / "data", LOG_LEVEL="WARNING", **env), capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_no_function_imports_boto3_unless_it_calls_aws(tmp_path: Path) -> None:
    [api_key] = create_orgs(embedded_env(tmp_path / "data"), ["bench_cold"])
    requests = []
    for name in ALL_FUNCTIONS:
        signature = "cloudevent" if name == VALIDATOR else "http"
        for req in (first_request(name), authenticated_request(name, api_key)):
            body = req.body.decode() if req.body else None
            requests.append([name, signature, req.method, req.path, body, req.headers])
    requests += [
        _request(
            "setup_integration", "POST", "/bench_cold/openai/setup", {"credential": "sk-proj-" + "a" * 40}, api_key
        ),
        _request("list_integrations", "GET", "/bench_cold?category=cloud", None, api_key),
        _request("get_setup_form", "GET", "/bench_cold/openai/setup", None, api_key),
        _request(
            "setup_integration", "POST", "/bench_cold/aws/setup", {"credential": "arn:aws:iam::1:role/x"}, api_key
        ),
    ]
    loaded = _probe(tmp_path, requests, VALIDATOR_URL="http://127.0.0.1:9/")
    assert len(loaded) == len(requests)
    assert [r.rsplit(" ", 1)[1] for r in list(loaded)[-4:]] == ["202", "200", "200", "400"]  # real work done
    assert {request: modules for request, modules in loaded.items() if modules} == {}


def test_the_probe_sees_boto3_when_the_aws_form_asks_aws(tmp_path: Path) -> None:
    [api_key] = create_orgs(embedded_env(tmp_path / "data"), ["bench_cold"])
    loaded = _probe(
        tmp_path,
        [_request("get_setup_form", "GET", "/bench_cold/aws/setup", None, api_key)],
        AWS_ENDPOINT_URL="http://127.0.0.1:9", AWS_ACCESS_KEY_ID="AKIAPROBE", AWS_SECRET_ACCESS_KEY="probe",
        PROVIDER_TIMEOUT_SECONDS="0.5", PROVIDER_MAX_ATTEMPTS="1",
    )  # fmt: skip
    [(request, modules)] = loaded.items()
    assert request.endswith(" 503") and "boto3" in modules and "botocore" in modules
