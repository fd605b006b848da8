"""Issue 12, AWS, through the HTTP API against the AWS stand-in (moto with IAM access control,
tests/support/aws_standin.py) and, for the answers moto never gives, the fault server
(tests/support/aws_faults.py): every error path ends in its exact status and message; a setup
goes through the queue to `active` with ["costs"]; a role that does not require the external
ID ends in `error`."""

from __future__ import annotations

import os
import time
from typing import Any, Callable

import pytest

from shared.validators.aws import ASSUME_REFUSED, NO_EXTERNAL_ID
from tests.integration.test_functions import ORG, Api, deliver, queued
from tests.support.aws_faults import Answer, AwsFaults
from tests.support.aws_standin import ACCOUNT, AwsStandIn, _aws_faults_session, aws_faults, aws_standin  # noqa: F401

INVALID = "API key invalid or expired: "
MISSING = "Missing permissions: "


class Aws:
    """The service pointed at the stand-in; the org's form (its external ID) read first."""

    def __init__(self, service_env: Any, standin: AwsStandIn, faults: AwsFaults) -> None:
        self.env, self.standin, self.faults = service_env, standin, faults
        service_env.set(**standin.env(), PROVIDER_TIMEOUT_SECONDS="1", PROVIDER_MAX_ATTEMPTS="2")
        self.api = Api(service_env.create_org(ORG))
        self.form = self.api.call("get_setup_form", "GET", f"/{ORG}/aws/setup", 200)
        self.external_id = self.form["aws"]["external_id"]

    def point(self, **endpoints: str) -> None:
        """Send one service's calls to the fault server: point(COST_EXPLORER=...)."""
        self.env.set(**{f"AWS_ENDPOINT_URL_{name}": url for name, url in endpoints.items()})


@pytest.fixture
def aws(service_env, aws_standin: AwsStandIn, aws_faults: AwsFaults) -> Aws:
    return Aws(service_env, aws_standin, aws_faults)


def _good(aws: Aws) -> str:
    return aws.standin.role(aws.external_id)


def _faulty(script: dict[str, Answer]) -> Callable[[Aws], str]:
    def prepare(aws: Aws) -> str:
        arn = _good(aws)
        aws.faults.script.update(script)
        services = {a.split(":")[0] for a in aws.faults.script}
        endpoints = {
            "COST_EXPLORER" if s == "GetCostAndUsage" else "S3" if s == "ListObjectsV2" else "STS" for s in services
        }
        aws.point(**{name: aws.faults.url for name in endpoints})
        return arn

    return prepare


def _bucket_row(allowed: bool) -> Callable[[Aws], tuple[str, dict[str, str]]]:
    def prepare(aws: Aws) -> tuple[str, dict[str, str]]:
        bucket = aws.standin.bucket()
        return aws.standin.role(aws.external_id, bucket=bucket if allowed else None), {"cur_bucket": bucket}

    return prepare


def _platform_keys(**env: str) -> Callable[[Aws], str]:
    def prepare(aws: Aws) -> str:
        arn = _good(aws)
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            os.environ.pop(name, None)
        aws.env.set(AWS_EC2_METADATA_DISABLED="true", **env)
        return arn

    return prepare


CE_REFUSED = MISSING + "ce:GetCostAndUsage was refused: grant ce:GetCostAndUsage to the role"
CE_NOT_ENABLED = (
    MISSING + "ce:GetCostAndUsage: Cost Explorer has no data for the account: enable Cost Explorer in the "
    "Billing console (data arrives within 24 hours)"
)
SLOW = Answer(delay=3.0)

# (id, prepare(aws) -> role ARN or (ARN, config), HTTP status of setup?wait=true, (status, status_code, status_message))
ROWS: list[tuple[str, Callable[[Aws], Any], int, tuple[str, str | None, str | None]]] = [
    ("valid", _good, 200, ("active", None, None)),
    ("no-external-id-condition", lambda aws: aws.standin.role(None), 200,
     ("error", "missing_permissions", MISSING + NO_EXTERNAL_ID)),
    ("trust-names-another-principal",
     lambda aws: aws.standin.role(aws.external_id, principal=f"arn:aws:iam::{ACCOUNT}:user/someone-else"), 200,
     ("error", "invalid_credentials", INVALID + ASSUME_REFUSED)),
    ("trust-requires-another-external-id", lambda aws: aws.standin.role("another-orgs-external-id"), 200,
     ("error", "invalid_credentials", INVALID + ASSUME_REFUSED)),
    ("no-cost-explorer-permission", lambda aws: aws.standin.role(aws.external_id, cost_explorer=False), 200,
     ("error", "missing_permissions", CE_REFUSED)),
    ("cost-explorer-not-enabled", _faulty({"GetCostAndUsage": Answer(400, "DataUnavailableException")}), 200,
     ("error", "missing_permissions", CE_NOT_ENABLED)),
    ("cost-explorer-access-denied-exception", _faulty({"GetCostAndUsage": Answer(400, "AccessDeniedException")}), 200,
     ("error", "missing_permissions", CE_REFUSED)),
    ("cost-explorer-throttled", _faulty({"GetCostAndUsage": Answer(400, "LimitExceededException")}), 503,
     ("error", "rate_limited", "Rate limit exceeded: AWS Cost Explorer rate limit reached")),
    ("cost-explorer-down", _faulty({"GetCostAndUsage": Answer(503, "ServiceUnavailable")}), 503,
     ("error", "provider_unavailable", "Provider unavailable: AWS Cost Explorer answered ServiceUnavailable")),
    ("cost-explorer-500", _faulty({"GetCostAndUsage": Answer(500)}), 503,
     ("error", "provider_unavailable", "Provider unavailable: AWS Cost Explorer answered InternalFailure")),
    ("cost-explorer-slow", _faulty({"GetCostAndUsage": SLOW}), 503,
     ("error", "provider_unavailable", "Provider unavailable: AWS Cost Explorer did not answer in time")),
    ("sts-throttled", _faulty({"AssumeRole": Answer(400, "Throttling")}), 503,
     ("error", "rate_limited", "Rate limit exceeded: AWS STS rate limit reached")),
    ("session-in-another-account",
     _faulty({"AssumeRole:no-external-id": Answer(403, "AccessDenied"),
              "GetCallerIdentity": Answer(account="999999999999")}),
     200, ("error", "invalid_credentials",
           INVALID + "sts:GetCallerIdentity: the assumed session is not in the role's account")),
    ("bucket-listable", _bucket_row(True), 200, ("active", None, None)),
    ("bucket-refused", _bucket_row(False), 200, ("error", "missing_permissions", None)),
    ("platform-credentials-refused", _platform_keys(AWS_ACCESS_KEY_ID="AKIAUNKNOWN000000000",
                                                    AWS_SECRET_ACCESS_KEY="nope"), 503,
     ("error", "provider_unavailable",
      "Provider unavailable: AWS STS refused the platform's own AWS credentials (InvalidClientTokenId)")),
    ("platform-without-credentials", _platform_keys(), 503,
     ("error", "provider_unavailable", "Provider unavailable: the platform has no AWS credentials")),
]  # fmt: skip


@pytest.mark.parametrize(("prepare", "http", "expected"), [pytest.param(*r[1:], id=r[0]) for r in ROWS])
def test_every_aws_verdict_through_setup_with_wait(aws: Aws, prepare, http: int, expected: tuple, caplog) -> None:
    prepared = prepare(aws)
    arn, config = prepared if isinstance(prepared, tuple) else (prepared, {})
    body = aws.api.setup("aws", {"credential": arn, **({"config": config} if config else {})}, expect=http, wait=True)
    if http == 503:
        assert body["error"] == {"code": "provider_unavailable", "message": "Provider unavailable"}
    view = aws.api.get("aws")
    status, code, message = expected
    assert (view["status"], view["status_code"]) == (status, code)
    bucket = config.get("cur_bucket")
    if status == "active":
        assert view["capabilities"] == ["costs"]
        assert view["status_message"] is None  # the bucket read is a remark on the audit event
    elif bucket:
        assert view["status_message"] == (
            f"{MISSING}s3:ListObjectsV2 on s3://{bucket} was refused: grant s3:ListBucket on arn:aws:s3:::{bucket}"
        )
    else:
        assert view["status_message"] == message
    assert arn not in str(view) and view["credential"]["hint"] == "..." + arn[-4:]
    assert arn not in caplog.text and aws.external_id not in caplog.text  # logs name codes, never the role


def test_a_missing_bucket_is_named(aws: Aws) -> None:
    arn = aws.standin.role(aws.external_id, bucket="cur-does-not-exist")
    body = {"credential": arn, "config": {"cur_bucket": "cur-does-not-exist", "cur_prefix": "exports/daily/"}}
    view = aws.api.setup("aws", body, expect=200, wait=True)
    assert (view["status"], view["status_message"]) == (
        "error", MISSING + "s3:ListObjectsV2: bucket cur-does-not-exist does not exist"
    )  # fmt: skip


@pytest.mark.parametrize(
    "credential",
    [
        "arn:aws:iam::12345678901:role/costs",  # 11 digits
        "arn:aws:iam::1234567890123:role/costs",
        "arn:aws-eu:iam::123456789012:role/costs",  # no such partition
        "arn:aws:iam::123456789012:user/costs",  # a user, not a role
        "arn:aws:sts::123456789012:assumed-role/costs/session",
        "arn:aws:iam::123456789012:role/",
        "arn:aws:iam::123456789012:role/" + "n" * 65,
        "arn:aws:iam::123456789012:role/with space",
        "arn:aws:iam::123456789012:role//double",
        "arn:aws:iam::123456789012:role/" + "p/" * 300 + "name",  # path over 512
        "AKIAIOSFODNN7EXAMPLE",  # an access key is never what we take
    ],
)
def test_anything_but_a_role_arn_is_invalid_format_and_never_echoed(aws: Aws, credential: str) -> None:
    message = aws.api.error("setup_integration", "POST", f"/{ORG}/aws/setup", 400, "invalid_format",
                            "Invalid API key format", json={"credential": credential})  # fmt: skip
    assert credential not in message and credential not in aws.api.last.get_data(as_text=True)
    aws.api.error("get_integration", "GET", f"/{ORG}/aws", 404, "not_configured")


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"cur_prefix": "exports/"}, "Field 'config.cur_prefix' needs config.cur_bucket"),
        ({"cur_bucket": "Not_A_Bucket"}, "Field 'config.cur_bucket' is invalid"),
        ({"cur_bucket": "ok-bucket", "cur_prefix": "a b"}, "Field 'config.cur_prefix' is invalid"),
        ({"region": "eu-west-1"}, "Unknown field in 'config': aws takes cur_bucket, cur_prefix"),
    ],
)
def test_aws_config_errors(aws: Aws, config: dict[str, str], message: str) -> None:
    body = {"credential": _good(aws), "config": config}
    aws.api.error("setup_integration", "POST", f"/{ORG}/aws/setup", 400, "bad_request", message, json=body)


def test_setup_through_the_queue_ends_active_with_costs(aws: Aws) -> None:
    """The issue's bar: from setup to `active` with ["costs"] through the queue and the validator function."""
    assert aws.api.setup("aws", {"credential": _good(aws)})["status"] == "pending"
    [message] = queued(aws.env, 1)
    assert deliver(message).status_code < 300
    view = aws.api.get("aws")
    assert (view["status"], view["capabilities"], view["status_code"]) == ("active", ["costs"], None)
    validated = next(e for e in aws.api.call("list_events", "GET", f"/{ORG}/aws/events", 200)["events"]
                     if e["action"] == "validate")  # fmt: skip
    assert validated["actor"] == "system" and validated["details"]["capabilities"] == ["costs"]


def test_a_role_without_the_external_id_requirement_ends_in_error_through_the_queue(aws: Aws) -> None:
    assert aws.api.setup("aws", {"credential": aws.standin.role(None)})["status"] == "pending"
    [message] = queued(aws.env, 1)
    assert deliver(message).status_code < 300
    view = aws.api.get("aws")
    assert (view["status"], view["status_code"], view["status_message"]) == (
        "error", "missing_permissions", MISSING + NO_EXTERNAL_ID
    )  # fmt: skip
    assert view["capabilities"] is None


def test_a_validation_ends_within_its_time_whatever_aws_does(aws: Aws) -> None:
    """VALIDATION_TIMEOUT_SECONDS bounds every AWS call, attempt and backoff (botocore's own retries off)."""
    arn = _faulty({"AssumeRole": Answer(delay=5.0)})(aws)
    aws.env.set(VALIDATION_TIMEOUT_SECONDS="2", PROVIDER_TIMEOUT_SECONDS="1", PROVIDER_MAX_ATTEMPTS="5")
    started = time.monotonic()
    aws.api.setup("aws", {"credential": arn}, expect=503, wait=True)
    assert time.monotonic() - started < 4.5  # 2 s and generous slack; unbounded, 5 attempts of 5 s
    assert aws.api.get("aws")["status_message"] == "Provider unavailable: AWS STS did not answer in time"
    assert 1 <= aws.faults.calls.count("AssumeRole") <= 2
