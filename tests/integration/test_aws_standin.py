"""The AWS stand-in is AWS where the tests rely on it: moto with IAM access control really
enforces the trust policy (principal and sts:ExternalId), and each correction the stand-in
makes to moto (tests/support/aws_standin.py) closes a gap moto itself shows here."""

from __future__ import annotations

from typing import Any

import pytest
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.support.aws_standin import ACCOUNT, ORIGINALS, AwsStandIn, aws_standin  # noqa: F401 (fixture)

EXTERNAL_ID = "org-external-id-0123456789abcdefghijklmnopqrstuvw"


def _assume(standin: AwsStandIn, keys: dict[str, str], arn: str, external_id: str | None) -> str:
    """'ok', or the error code AWS (the stand-in) answered."""
    extra = {"ExternalId": external_id} if external_id is not None else {}
    try:
        standin.client("sts", keys).assume_role(RoleArn=arn, RoleSessionName="standin-test", **extra)
        return "ok"
    except ClientError as exc:
        return exc.response["Error"]["Code"]


def _session(answer: dict[str, Any]) -> dict[str, str]:
    c = answer["Credentials"]
    return {"aws_access_key_id": c["AccessKeyId"], "aws_secret_access_key": c["SecretAccessKey"],
            "aws_session_token": c["SessionToken"]}  # fmt: skip


def test_the_trust_policys_external_id_condition_is_enforced(aws_standin: AwsStandIn) -> None:
    guarded, open_role = aws_standin.role(EXTERNAL_ID), aws_standin.role(None)
    platform = aws_standin.platform
    assert _assume(aws_standin, platform, guarded, EXTERNAL_ID) == "ok"
    assert _assume(aws_standin, platform, guarded, "someone-elses-external-id") == "AccessDenied"
    assert _assume(aws_standin, platform, guarded, None) == "AccessDenied"  # correction 1
    # A role without the condition takes any external ID, or none: what the service must detect.
    assert _assume(aws_standin, platform, open_role, EXTERNAL_ID) == "ok"
    assert _assume(aws_standin, platform, open_role, None) == "ok"


def test_moto_alone_lets_a_request_without_the_external_id_pass_the_condition() -> None:
    """The gap correction 1 closes: moto compares only the condition keys a request carries."""
    from moto.iam.access_control import IAMPolicyStatement

    statement = IAMPolicyStatement({"Effect": "Allow", "Principal": {"AWS": "x"}, "Action": "sts:AssumeRole",
                                    "Condition": {"StringEquals": {"sts:ExternalId": EXTERNAL_ID}}})  # fmt: skip
    assert ORIGINALS["conditions"](statement, {}) is True  # moto: an absent key passes
    assert statement._check_conditions({}) is False  # the stand-in (and AWS): it does not
    assert statement._check_conditions({"sts:ExternalId": EXTERNAL_ID}) is True
    assert statement._check_conditions(None) is True  # identity policies: as moto evaluates them


def test_the_trust_policys_principal_is_enforced(aws_standin: AwsStandIn) -> None:
    someone = aws_standin.role(EXTERNAL_ID, principal=f"arn:aws:iam::{ACCOUNT}:user/someone-else")
    assert _assume(aws_standin, aws_standin.platform, someone, EXTERNAL_ID) == "AccessDenied"
    # And the signature: a wrong secret is refused before any policy is read.
    forged = {**aws_standin.platform, "aws_secret_access_key": "not-the-secret"}
    assert _assume(aws_standin, forged, aws_standin.role(EXTERNAL_ID), EXTERNAL_ID) == "SignatureDoesNotMatch"


def test_a_role_principal_matches_its_sessions_as_in_aws(aws_standin: AwsStandIn) -> None:
    """Correction 2: a trust policy naming a role trusts that role's sessions (role chaining)."""
    hop = aws_standin.role(None, may_assume=True)
    customer = aws_standin.role(EXTERNAL_ID, principal=hop)
    hop_session = _session(
        aws_standin.client("sts", aws_standin.platform).assume_role(RoleArn=hop, RoleSessionName="hop")
    )
    assert _assume(aws_standin, hop_session, customer, EXTERNAL_ID) == "ok"
    assert _assume(aws_standin, hop_session, customer, None) == "AccessDenied"
    from moto.iam.access_control import IAMPolicyStatement

    statement = IAMPolicyStatement({"Principal": {"AWS": hop}})
    session_arn = f"arn:aws:sts::{ACCOUNT}:assumed-role/{hop.rsplit('/', 1)[1]}/hop"
    assert ORIGINALS["principal"](statement, session_arn) is False  # moto: strings compared
    assert statement._check_principal(session_arn) is True


def test_web_identity_is_authorized_by_the_token_and_the_trust_policy(aws_standin: AwsStandIn) -> None:
    """Correction 3: unsigned AssumeRoleWithWebIdentity, checked against the platform role's trust."""
    metadata = aws_standin.metadata
    role = aws_standin.platform_role([metadata.unique_id])
    sts = __import__("boto3").client("sts", endpoint_url=aws_standin.url, region_name="us-east-1",
                                     config=Config(signature_version=UNSIGNED))  # fmt: skip

    def exchange(token: str) -> str:
        try:
            sts.assume_role_with_web_identity(RoleArn=role, RoleSessionName="platform", WebIdentityToken=token)
            return "ok"
        except ClientError as exc:
            return exc.response["Error"]["Code"]

    assert exchange(metadata.token(role)) == "ok"
    assert exchange(metadata.token("another-audience")) == "AccessDenied"
    assert exchange("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.forged") == "InvalidIdentityToken"
    other_account = aws_standin.platform_role(["999999999999999999999"])
    try:
        sts.assume_role_with_web_identity(
            RoleArn=other_account, RoleSessionName="platform", WebIdentityToken=metadata.token(other_account)
        )
        raise AssertionError("a token of a service account the role does not trust was accepted")
    except ClientError as exc:
        assert exc.response["Error"]["Code"] == "AccessDenied"


@pytest.mark.parametrize("action", ["ce:GetCostAndUsage", "s3:ListBucket"])
def test_a_roles_permissions_are_enforced(aws_standin: AwsStandIn, action: str) -> None:
    bucket = aws_standin.bucket()
    role = aws_standin.role(EXTERNAL_ID, cost_explorer=False)
    session = _session(aws_standin.client("sts", aws_standin.platform).assume_role(
        RoleArn=role, RoleSessionName="perm", ExternalId=EXTERNAL_ID))  # fmt: skip
    with pytest.raises(ClientError) as refused:
        if action == "ce:GetCostAndUsage":
            aws_standin.client("ce", session).get_cost_and_usage(
                TimePeriod={"Start": "2026-01-01", "End": "2026-01-02"}, Granularity="DAILY", Metrics=["UnblendedCost"])  # fmt: skip
        else:
            aws_standin.client("s3", session).list_objects_v2(Bucket=bucket, MaxKeys=1)
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
