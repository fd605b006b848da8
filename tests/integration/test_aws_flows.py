"""Issue 12, AWS: the setup form's external ID and policies (pasted as they are, they work), the
platform's identity by web identity federation from Google Cloud, the pipelines' temporary
session, and the weekly revalidation. Against the AWS stand-in (tests/support/aws_standin.py)."""

from __future__ import annotations

import json
import os
import re
from datetime import timedelta

import boto3
import pytest

from shared.domain.aws import AwsSession
from shared.domain.errors import CredentialNotUsableError
from shared.pipelines import get_credential
from tests.integration.test_aws import Aws, aws  # noqa: F401 (fixture)
from tests.integration.test_functions import ORG
from tests.support.aws_standin import AwsStandIn, _aws_faults_session, aws_faults, aws_standin  # noqa: F401
from tests.support.provider_servers import openai_key


def _role_from_form(aws: Aws, form: dict, bucket: str | None = None) -> str:
    """A customer's role made exactly from the form: its trust and permissions policies pasted."""
    iam = aws.standin.client("iam")
    name = f"from-form-{os.urandom(4).hex()}"
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(form["aws"]["trust_policy"]))["Role"][
        "Arn"
    ]
    iam.put_role_policy(RoleName=name, PolicyName="costs", PolicyDocument=json.dumps(form["aws"]["permissions_policy"]))
    return arn


def test_the_form_gives_a_stable_external_id_and_policies_that_work_as_pasted(aws: Aws) -> None:
    form = aws.form
    assert form["credential"]["kind"] == "aws_role" and form["provider"] == "aws"
    block = form["aws"]
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", block["external_id"])
    assert block["principal_arn"] == aws.standin.platform_arn  # locally: the default chain's identity
    assert block["trust_policy"] == {"Version": "2012-10-17", "Statement": [{
        "Sid": "CostPlatformAssumesWithExternalId", "Effect": "Allow", "Principal": {"AWS": aws.standin.platform_arn},
        "Action": "sts:AssumeRole", "Condition": {"StringEquals": {"sts:ExternalId": block["external_id"]}}}]}  # fmt: skip
    assert block["permissions_policy"] == {"Version": "2012-10-17", "Statement": [
        {"Sid": "ReadCostExplorer", "Effect": "Allow", "Action": "ce:GetCostAndUsage", "Resource": "*"}]}  # fmt: skip
    # One per org, stable: read again, after an API key rotation, after the integration comes and goes.
    aws.api.api_key = aws.env.service.orgs.rotate_org_key(ORG)
    assert aws.api.call("get_setup_form", "GET", f"/{ORG}/aws/setup", 200)["aws"] == block
    other = aws.env.create_org("other_org")
    assert aws.env.service.external_ids.of("other_org") != block["external_id"] and other
    # Pasted as given, the policies make a role the check accepts.
    view = aws.api.setup("aws", {"credential": _role_from_form(aws, form)}, expect=200, wait=True)
    assert (view["status"], view["capabilities"]) == ("active", ["costs"])
    aws.api.call("delete_integration", "DELETE", f"/{ORG}/aws", 204)
    assert aws.api.call("get_setup_form", "GET", f"/{ORG}/aws/setup", 200)["aws"]["external_id"] == block["external_id"]


def test_with_a_cost_export_bucket_the_form_adds_least_privilege_s3_statements(aws: Aws) -> None:
    bucket = aws.standin.bucket()
    body = {"credential": aws.standin.role(aws.external_id, bucket=bucket), "config": {"cur_bucket": bucket}}
    assert aws.api.setup("aws", body, expect=200, wait=True)["status"] == "active"
    aws.api.call(
        "update_integration", "PATCH", f"/{ORG}/aws", 200, json={"config": {"cur_bucket": bucket, "cur_prefix": "cur/"}}
    )
    form = aws.api.call("get_setup_form", "GET", f"/{ORG}/aws/setup", 200)
    assert form["aws"]["permissions_policy"]["Statement"][1:] == [
        {"Sid": "ListCostExports", "Effect": "Allow", "Action": "s3:ListBucket", "Resource": f"arn:aws:s3:::{bucket}",
         "Condition": {"StringLike": {"s3:prefix": ["cur/*"]}}},
        {"Sid": "ReadCostExports", "Effect": "Allow", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/cur/*"},
    ]  # fmt: skip


def test_the_form_answers_503_when_the_platform_has_no_aws_identity(aws: Aws, caplog) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        os.environ.pop(name, None)
    aws.env.set(AWS_EC2_METADATA_DISABLED="true")
    aws.api.error("get_setup_form", "GET", f"/{ORG}/aws/setup", 503, "provider_unavailable", "Provider unavailable")
    why = [r for r in caplog.records if r.getMessage() == "the platform's AWS principal is unknown"]
    assert why and why[0].fields["detail"] == "the platform has no AWS credentials"


# -- the platform's identity from Google Cloud -------------------------------------------------


def _federated(aws: Aws, trusted: list[str]) -> str:
    """The service as on Google Cloud: no AWS key anywhere, AWS_PLATFORM_ROLE_ARN and a metadata server."""
    platform_role = aws.standin.platform_role(trusted)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        os.environ.pop(name, None)
    aws.env.set(AWS_PLATFORM_ROLE_ARN=platform_role, GCE_METADATA_HOST=aws.standin.metadata.host,
                AWS_EC2_METADATA_DISABLED="true")  # fmt: skip
    return platform_role


def test_from_google_cloud_the_platform_reaches_aws_by_web_identity_then_role_chaining(aws: Aws) -> None:
    platform_role = _federated(aws, [aws.standin.metadata.unique_id])
    before = aws.standin.metadata.requests
    form = aws.api.call("get_setup_form", "GET", f"/{ORG}/aws/setup", 200)
    assert form["aws"]["principal_arn"] == platform_role  # what customers' trust policies name
    view = aws.api.setup("aws", {"credential": _role_from_form(aws, form)}, expect=200, wait=True)
    assert (view["status"], view["capabilities"]) == ("active", ["costs"])
    assert aws.standin.metadata.requests > before  # the ID token came from the metadata server
    # A role that trusts the platform user (not the platform role) refuses the federated session.
    refused = aws.api.call("rotate_credential", "POST", f"/{ORG}/aws/rotate?wait=true", 200,
                           json={"credential": aws.standin.role(aws.external_id)})  # fmt: skip
    assert refused["rotation"]["status"] == "failed" and refused["status"] == "active"


def test_a_platform_role_that_does_not_trust_the_function_is_provider_unavailable(aws: Aws) -> None:
    _federated(aws, ["100000000000000000000"])  # another service account's unique id
    aws.api.setup("aws", {"credential": aws.standin.role(aws.external_id)}, expect=503, wait=True)
    assert aws.api.get("aws")["status_message"] == (
        "Provider unavailable: AWS refused the platform's web identity (AccessDenied): "
        "check the trust policy of AWS_PLATFORM_ROLE_ARN"
    )


# -- pipelines ---------------------------------------------------------------------------------


def test_a_pipeline_gets_an_hour_of_the_role_never_a_key(aws: Aws) -> None:
    role = aws.standin.role(aws.external_id)
    aws.api.setup("aws", {"credential": role}, expect=200, wait=True)
    session = get_credential(ORG, "aws", pipeline="aws-costs-daily", needs="costs")
    assert isinstance(session, AwsSession) and role not in repr(session) and "ASIA" not in str(session)
    assert timedelta(minutes=55) < session.expiration - aws.env.service.clock() <= timedelta(hours=1, seconds=5)
    sts = boto3.client("sts", endpoint_url=aws.standin.url, region_name="us-east-1", **session.as_boto3())
    assert sts.get_caller_identity()["Arn"].endswith(f"/{role.rsplit('/', 1)[1]}/{ORG}.aws-costs-daily")
    ce = boto3.client("ce", endpoint_url=aws.standin.url, region_name="us-east-1", **session.as_boto3())
    ce.get_cost_and_usage(TimePeriod={"Start": "2026-01-01", "End": "2026-01-02"}, Granularity="DAILY",
                          Metrics=["UnblendedCost"])  # fmt: skip
    decrypt = aws.api.call("list_events", "GET", f"/{ORG}/aws/events", 200)["events"][0]
    assert (decrypt["action"], decrypt["actor"], decrypt["outcome"]) == ("decrypt", "pipeline:aws-costs-daily", "ok")
    with pytest.raises(CredentialNotUsableError, match="'usage'"):
        get_credential(ORG, "aws", pipeline="aws-usage", needs="usage")


def test_a_role_that_stopped_trusting_the_platform_is_refused_to_the_pipeline_and_audited(aws: Aws) -> None:
    role = aws.standin.role(aws.external_id)
    aws.api.setup("aws", {"credential": role}, expect=200, wait=True)
    aws.standin.client("iam").update_assume_role_policy(
        RoleName=role.rsplit("/", 1)[1], PolicyDocument=json.dumps(aws.form["aws"]["trust_policy"] | {"Statement": [{
            **aws.form["aws"]["trust_policy"]["Statement"][0], "Principal": {"AWS": "arn:aws:iam::123456789012:root"}}]}),
    )  # fmt: skip
    with pytest.raises(CredentialNotUsableError) as refused:
        get_credential(ORG, "aws", pipeline="aws-costs-daily")
    assert refused.value.message.startswith(
        "AWS refused the role: sts:AssumeRole with the org's external ID was refused"
    )
    decrypt = aws.api.call("list_events", "GET", f"/{ORG}/aws/events", 200)["events"][0]
    assert (decrypt["action"], decrypt["outcome"]) == ("decrypt", "credential_not_usable")


# -- the weekly revalidation -------------------------------------------------------------------


def test_scheduled_revalidation_checks_aws_weekly_and_the_others_daily(aws: Aws) -> None:
    aws.api.setup("aws", {"credential": aws.standin.role(aws.external_id)}, expect=200, wait=True)
    key = openai_key()
    aws.env.servers.openai.set(key, "valid")
    aws.api.setup("openai", {"credential": key}, expect=200, wait=True)
    aws.point(COST_EXPLORER=aws.faults.url)  # unscripted: answers like AWS, and counts the requests
    service = aws.env.service
    summary = service.revalidation.revalidate_all()
    assert summary == 'revalidated 1: {"active": 1, "not_due": 1}'  # openai, daily; aws not due
    assert aws.faults.calls == []  # no Cost Explorer request ($0.01) before the week is out
    item = service.store.get_integration(ORG, "aws")
    week_ago = item.last_validated_at - timedelta(days=7)
    service.store.update_integration(item.model_copy(update={"last_validated_at": week_ago}), item.revision)
    assert service.revalidation.revalidate_all() == 'revalidated 2: {"active": 2}'
    assert aws.faults.calls == ["GetCostAndUsage"]
