"""AWS for the tests: moto in server mode with its IAM access control on, on 127.0.0.1.

With access control on, moto checks every request's SigV4 signature and the caller's IAM
policies, and evaluates a role's trust policy (principal and `sts:ExternalId` condition) on
`sts:AssumeRole`. Where moto 5.2 departs from AWS in what these tests rely on, the stand-in
corrects exactly that, here and nowhere else (tests/integration/test_aws_standin.py proves
each correction, and the gap it closes, against moto itself):

1. A trust-policy condition on a key the request does not carry passes in moto (it compares
   only the keys present): `AssumeRole` *without* `ExternalId` is accepted by a role that
   requires one. In AWS, `StringEquals` on an absent key does not match: refused. The stand-in
   makes an absent key fail trust-policy conditions (identity policies are unchanged).
2. moto compares a trust policy's principal with the caller's ARN as strings; AWS matches a
   role ARN with every session of that role (role chaining). The stand-in does too.
3. moto requires a SigV4 signature on every call once access control is on, so the unsigned
   `AssumeRoleWithWebIdentity` fails with a 500. The stand-in authorizes it by its token, as
   AWS does: the token must be one `MetadataServer` issued (our stand-in of Google's signature
   check) and the role's trust policy must allow `Federated: accounts.google.com` with its
   conditions on `accounts.google.com:aud` (the token's azp), `:oaud` (aud) and `:sub`.

Not corrected, and not relied on: moto lets the caller assume a role that does not exist, or
one in another account, without any trust policy check (AWS answers AccessDenied, which the
tests reach with a role whose trust policy names someone else). So every role lives in the
platform's account, 123456789012.

moto's state is the process's: one stand-in per process (`AwsStandIn.shared()`).
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.aws_faults import AwsFaults
from tests.support.gce_metadata import MetadataServer

ACCOUNT = "123456789012"
REGION = "us-east-1"
POLICY_VERSION = "2012-10-17"
_patched = False
# moto's own functions, before the corrections (tests show the gaps they close).
ORIGINALS: dict[str, Any] = {}
_shared: "AwsStandIn | None" = None
_lock = threading.Lock()


def _policy(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": POLICY_VERSION, "Statement": list(statements)})


def patch_moto(metadata: MetadataServer) -> None:
    """The three corrections of the module docstring (once per process)."""
    global _patched
    if _patched:
        return
    from moto.core.authorization import ActionAuthenticatorMixin
    from moto.core.exceptions import AccessDeniedError, _RESTError
    from moto.iam.access_control import IAMPolicy, IAMPolicyStatement, PermissionResult
    from moto.iam.models import iam_backends

    check_conditions = ORIGINALS["conditions"] = IAMPolicyStatement._check_conditions
    check_principal = ORIGINALS["principal"] = IAMPolicyStatement._check_principal
    authorize = ORIGINALS["authorize"] = ActionAuthenticatorMixin._authenticate_and_authorize_action

    def strict_conditions(self: Any, incoming: dict[str, str] | None) -> bool:
        keys = [k for values in (self._statement.get("Condition") or {}).values() for k in values]
        if incoming is not None and any(k not in incoming for k in keys):  # a trust policy: absent fails
            return False
        return check_conditions(self, incoming)

    def session_principal(self: Any, principal: str) -> bool:
        if check_principal(self, principal):
            return True
        head, _, rest = principal.partition(":assumed-role/")
        if not rest:
            return False
        account, role = head.split(":")[-1], rest.split("/")[0]
        expected = (self._statement.get("Principal") or {}).get("AWS")
        names = [expected] if isinstance(expected, str) else list(expected or [])
        return any(n.startswith(f"arn:aws:iam::{account}:role/") and n.endswith(f"/{role}") for n in names)

    class InvalidIdentityToken(_RESTError):
        code = 400

        def __init__(self) -> None:
            super().__init__("InvalidIdentityToken", "The web identity token could not be verified")

    def web_identity(self: Any, iam_request_cls: type, resource: str = "*") -> None:
        if self._get_action() != "AssumeRoleWithWebIdentity":
            return authorize(self, iam_request_cls, resource)
        claims = metadata.claims(self._get_param("WebIdentityToken") or "")
        if claims is None:
            raise InvalidIdentityToken()
        role_arn = self._get_param("RoleArn") or ""
        role = iam_backends[ACCOUNT]["aws"].get_role_by_arn(role_arn)
        statements = json.loads(role.assume_role_policy_document)["Statement"]
        google = [s for s in statements if (s.get("Principal") or {}).get("Federated") == "accounts.google.com"]
        values = {"accounts.google.com:aud": claims.get("azp") or claims["aud"],
                  "accounts.google.com:oaud": claims["aud"], "accounts.google.com:sub": claims["sub"]}  # fmt: skip
        policy = IAMPolicy(json.dumps({"Version": POLICY_VERSION, "Statement": google}))
        if policy.is_action_permitted("sts:AssumeRoleWithWebIdentity", role_arn, None, values) != (
            PermissionResult.PERMITTED
        ):
            raise AccessDeniedError(
                user_arn=f"accounts.google.com/{claims['sub']}", action="sts:AssumeRoleWithWebIdentity"
            )

    IAMPolicyStatement._check_conditions = strict_conditions
    IAMPolicyStatement._check_principal = session_principal
    ActionAuthenticatorMixin._authenticate_and_authorize_action = web_identity
    _patched = True


class AwsStandIn:
    """moto on 127.0.0.1 with access control; an admin (for the tests' own setup) and the
    platform's user, whose only permission is sts:AssumeRole."""

    def __init__(self) -> None:
        self.metadata = MetadataServer()
        self._server: Any = None
        self.url = ""
        self.admin: dict[str, str] = {}
        self.platform: dict[str, str] = {}
        self.platform_arn = ""

    @classmethod
    def shared(cls) -> "AwsStandIn":
        global _shared
        with _lock:
            if _shared is None:
                _shared = cls().start()
            return _shared

    def start(self) -> "AwsStandIn":
        from moto import settings
        from moto.core.authorization import ActionAuthenticatorMixin
        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's server logs every request
        self.metadata.start()
        patch_moto(self.metadata)
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.url = f"http://{host}:{port}"
        # moto's switch: the first N requests are not authenticated (they make the admin), then all are.
        settings.INITIAL_NO_AUTH_ACTION_COUNT = 3
        ActionAuthenticatorMixin.request_count = 0
        anonymous = self.client("iam", {"aws_access_key_id": "bootstrap", "aws_secret_access_key": "bootstrap"})
        anonymous.create_user(UserName="admin")
        anonymous.put_user_policy(UserName="admin", PolicyName="all",
                                  PolicyDocument=_policy({"Effect": "Allow", "Action": "*", "Resource": "*"}))  # fmt: skip
        self.admin = _keys(anonymous.create_access_key(UserName="admin")["AccessKey"])
        iam = self.client("iam")
        iam.create_user(UserName="integrations-platform")
        iam.put_user_policy(UserName="integrations-platform", PolicyName="assume-customer-roles",
                            PolicyDocument=_policy({"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}))  # fmt: skip
        self.platform = _keys(iam.create_access_key(UserName="integrations-platform")["AccessKey"])
        self.platform_arn = f"arn:aws:iam::{ACCOUNT}:user/integrations-platform"
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None
        self.metadata.stop()

    def client(self, service: str, keys: dict[str, str] | None = None) -> Any:
        import boto3

        return boto3.client(service, endpoint_url=self.url, region_name=REGION, **(keys or self.admin))

    def env(self) -> dict[str, str]:
        """The environment that makes the service's default chain the platform user, on moto."""
        return {"AWS_ENDPOINT_URL": self.url, "AWS_ACCESS_KEY_ID": self.platform["aws_access_key_id"],
                "AWS_SECRET_ACCESS_KEY": self.platform["aws_secret_access_key"], "AWS_DEFAULT_REGION": REGION,
                "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null"}  # fmt: skip

    # -- customers' roles ----------------------------------------------------------------------

    def role(
        self,
        external_id: str | None,
        *,
        principal: str | list[str] | None = None,
        cost_explorer: bool = True,
        bucket: str | None = None,
        name: str | None = None,
        may_assume: bool = False,
    ) -> str:
        """A customer's role trusting `principal` (default: the platform user), requiring
        `external_id` (None: no condition); it may read Cost Explorer, list `bucket`, and (a
        hop of a chain) assume other roles."""
        name = name or f"costs-{uuid.uuid4().hex[:12]}"
        trust: dict[str, Any] = {"Effect": "Allow", "Principal": {"AWS": principal or self.platform_arn},
                                 "Action": "sts:AssumeRole"}  # fmt: skip
        if external_id is not None:
            trust["Condition"] = {"StringEquals": {"sts:ExternalId": external_id}}
        iam = self.client("iam")
        arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=_policy(trust))["Role"]["Arn"]
        allowed = [{"Effect": "Allow", "Action": "ce:GetCostAndUsage", "Resource": "*"}] if cost_explorer else []
        if bucket:
            allowed.append({"Effect": "Allow", "Action": "s3:ListBucket", "Resource": f"arn:aws:s3:::{bucket}"})
        if may_assume:
            allowed.append({"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"})
        if allowed:
            iam.put_role_policy(RoleName=name, PolicyName="costs", PolicyDocument=_policy(*allowed))
        return arn

    def bucket(self) -> str:
        name = f"cur-{uuid.uuid4().hex[:12]}"
        self.client("s3").create_bucket(Bucket=name)
        return name

    def platform_role(self, subjects: list[str], audience: str | None = None) -> str:
        """The platform's own role, trusting Google ID tokens of `subjects` (service accounts'
        unique ids) issued for `audience` (default: the role's ARN, what the service asks for),
        allowed to assume customers' roles."""
        name = f"integrations-platform-{uuid.uuid4().hex[:8]}"
        audience = audience or f"arn:aws:iam::{ACCOUNT}:role/{name}"
        trust = {"Effect": "Allow", "Principal": {"Federated": "accounts.google.com"},
                 "Action": "sts:AssumeRoleWithWebIdentity",
                 "Condition": {"StringEquals": {"accounts.google.com:aud": subjects,
                                                "accounts.google.com:oaud": audience}}}  # fmt: skip
        iam = self.client("iam")
        arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=_policy(trust))["Role"]["Arn"]
        iam.put_role_policy(RoleName=name, PolicyName="assume-customer-roles",
                            PolicyDocument=_policy({"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}))  # fmt: skip
        return arn


def _keys(access_key: dict[str, Any]) -> dict[str, str]:
    return {"aws_access_key_id": access_key["AccessKeyId"], "aws_secret_access_key": access_key["SecretAccessKey"]}


@pytest.fixture(scope="session")
def aws_standin() -> Iterator[AwsStandIn]:
    standin = AwsStandIn.shared()
    yield standin
    standin.stop()


@pytest.fixture(scope="session")
def _aws_faults_session() -> Iterator[AwsFaults]:
    faults = AwsFaults().start()
    yield faults
    faults.stop()


@pytest.fixture
def aws_faults(_aws_faults_session: AwsFaults) -> Iterator[AwsFaults]:
    _aws_faults_session.reset()
    yield _aws_faults_session
    _aws_faults_session.reset()
