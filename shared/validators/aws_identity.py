"""The platform's own AWS identity, and the boto3 clients made with it or with a role's session.

- AWS_PLATFORM_ROLE_ARN unset (local, tests): the AWS SDK's default credential chain
  (environment, shared config and credentials files, ...).
- AWS_PLATFORM_ROLE_ARN set (Google Cloud): no static AWS key anywhere. The function asks the
  metadata server for a Google-signed ID token of its service account, audience the platform
  role's ARN, and exchanges it with `sts:AssumeRoleWithWebIdentity` (unsigned: the token is the
  proof) for an hour of the platform role; customers' roles are then assumed from that session
  (role chaining). The session is reused until five minutes before it expires.

boto3 is imported inside functions only: nothing but the AWS validator pays for it.
"""

from __future__ import annotations

import os
import re
import threading
import time
from typing import Any

import httpx

from shared.domain.aws import RoleArn
from shared.settings import Settings

from .aws_calls import THROTTLING, PlatformIdentityError

USER_AGENT = "integrations-validator/1"
PLATFORM_SESSION = "integrations-platform"
REFRESH_MARGIN_SECONDS = 300
# The regional endpoints of each partition's global services (STS, Cost Explorer).
STS_REGION = {"aws": "us-east-1", "aws-cn": "cn-north-1", "aws-us-gov": "us-gov-west-1"}
CE_REGION = {"aws": "us-east-1", "aws-cn": "cn-northwest-1", "aws-us-gov": "us-gov-west-1"}
IDENTITY_PATH = "/computeMetadata/v1/instance/service-accounts/default/identity"
DEFAULT_METADATA_HOST = "metadata.google.internal"


class PlatformIdentity:
    def __init__(self, settings: Settings, transport: httpx.BaseTransport | None = None):
        self._settings = settings
        self._transport = transport
        self._lock = threading.Lock()
        self._session: Any = None
        self._federated: tuple[dict[str, str], float] | None = None

    def client(self, service: str, region: str, timeout: float, keys: dict[str, str] | None = None) -> Any:
        """A client of `service` with one attempt per call and `timeout` per socket operation,
        signed with `keys` (a role's session) or, when None, the platform's own credentials."""
        from botocore.config import Config

        config = Config(connect_timeout=timeout, read_timeout=timeout, retries={"total_max_attempts": 1},
                        user_agent_extra=USER_AGENT)  # fmt: skip
        credentials = keys if keys is not None else self._platform_keys(timeout)
        with self._lock:  # a boto3 Session is not thread-safe; its clients are
            return self._boto_session().client(service, region_name=region, config=config, **credentials)

    def _boto_session(self) -> Any:
        if self._session is None:
            import boto3

            self._session = boto3.session.Session()
        return self._session

    # -- from Google Cloud: web identity federation ---------------------------------------------

    def _platform_keys(self, timeout: float) -> dict[str, str]:
        role = self._settings.aws_platform_role_arn
        if role is None:
            return {}  # the default chain
        with self._lock:
            if self._federated and self._federated[1] - time.time() > REFRESH_MARGIN_SECONDS:
                return self._federated[0]
        keys, expires = self._assume_platform_role(role, self._id_token(role, timeout), timeout)
        with self._lock:
            self._federated = (keys, expires)
        return keys

    def _id_token(self, audience: str, timeout: float) -> str:
        """The function's Google-signed ID token, from the metadata server."""
        url = f"http://{metadata_host()}{IDENTITY_PATH}"
        try:
            with httpx.Client(transport=self._transport, timeout=timeout, follow_redirects=False) as http:
                response = http.get(url, params={"audience": audience, "format": "full"},
                                    headers={"metadata-flavor": "Google"})  # fmt: skip
        except httpx.HTTPError:
            raise PlatformIdentityError("could not reach the metadata server for the platform's ID token") from None
        token = response.text.strip()
        if response.status_code != 200 or token.count(".") != 2 or len(token) > 16384:
            raise PlatformIdentityError(f"the metadata server gave no ID token (HTTP {response.status_code})")
        return token

    def _assume_platform_role(self, role: str, token: str, timeout: float) -> tuple[dict[str, str], float]:
        from botocore import UNSIGNED
        from botocore.config import Config
        from botocore.exceptions import BotoCoreError, ClientError

        arn = RoleArn.parse(role)
        assert arn is not None  # settings checked it
        config = Config(connect_timeout=timeout, read_timeout=timeout, retries={"total_max_attempts": 1},
                        signature_version=UNSIGNED, user_agent_extra=USER_AGENT)  # fmt: skip
        with self._lock:
            sts = self._boto_session().client("sts", region_name=STS_REGION[arn.partition], config=config)
        try:
            answer = sts.assume_role_with_web_identity(
                RoleArn=role, RoleSessionName=PLATFORM_SESSION, WebIdentityToken=token, DurationSeconds=3600
            )
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code") or "")
            status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
            raise PlatformIdentityError(
                f"AWS refused the platform's web identity ({code}): check the trust policy of AWS_PLATFORM_ROLE_ARN",
                transient=code in THROTTLING or status >= 500,
            ) from None
        except BotoCoreError:
            raise PlatformIdentityError("could not exchange the platform's ID token with AWS STS") from None
        return session_keys(answer["Credentials"]), answer["Credentials"]["Expiration"].timestamp()


def metadata_host() -> str:
    """The metadata server: GCE_METADATA_HOST (google-auth's variable; tests set a stand-in), read
    here rather than by Settings, so no other function's cold start validates it."""
    host = os.environ.get("GCE_METADATA_HOST", "").strip() or DEFAULT_METADATA_HOST
    if not re.fullmatch(r"[A-Za-z0-9.\-_]+(:[0-9]{1,5})?", host):
        raise PlatformIdentityError("GCE_METADATA_HOST must be host or host:port", transient=False)
    return host


def session_keys(credentials: dict[str, Any]) -> dict[str, str]:
    """An STS answer's Credentials as the keyword arguments of a boto3 client."""
    return {
        "aws_access_key_id": credentials["AccessKeyId"],
        "aws_secret_access_key": credentials["SecretAccessKey"],
        "aws_session_token": credentials["SessionToken"],
    }
