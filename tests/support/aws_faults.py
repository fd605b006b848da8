"""AWS answers moto never gives, on 127.0.0.1: throttling, 5xx, slow answers, Cost Explorer's
DataUnavailableException, an assumed session in another account. The service is pointed at it
for one service with boto3's own setting (`AWS_ENDPOINT_URL_STS`, `AWS_ENDPOINT_URL_COST_EXPLORER`,
`AWS_ENDPOINT_URL_S3`), and gets each answer in the wire format of that service (STS: query
protocol XML; Cost Explorer: JSON 1.1; S3: REST XML), so botocore parses it as it parses AWS's.

`script[action] = Answer(...)` chooses the answer; actions are the API's names, and STS's
`AssumeRole` without an `ExternalId` is `AssumeRole:no-external-id`. Unscripted actions answer
like a working AWS (an AssumeRole session of account 123456789012, empty cost results).
Signatures are not checked: moto does that part.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.support.background_http import BackgroundHttp

STS_NS = "https://sts.amazonaws.com/doc/2011-06-15/"


@dataclass(frozen=True)
class Answer:
    status: int = 200
    code: str | None = None  # an error code: the error body of the service's protocol
    account: str = "123456789012"  # whose session AssumeRole / GetCallerIdentity describe
    delay: float = 0.0


class AwsFaults:
    def __init__(self) -> None:
        self.script: dict[str, Answer] = {}
        self.calls: list[str] = []
        self._stopping = threading.Event()
        self._http: BackgroundHttp | None = None

    @property
    def url(self) -> str:
        assert self._http is not None
        return f"http://127.0.0.1:{self._http.port}"

    def reset(self) -> None:
        self.script.clear()
        self.calls.clear()

    def answer(self, action: str) -> tuple[int, str, bytes]:
        self.calls.append(action)
        found = self.script.get(action, Answer())
        if found.delay and self._stopping.wait(found.delay):
            return 503, "text/plain", b""
        service = "ce" if action == "GetCostAndUsage" else "s3" if action == "ListObjectsV2" else "sts"
        if found.code or found.status >= 400:
            return _error(service, found)
        return 200, *_success(action, found)

    def start(self) -> "AwsFaults":
        faults = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                return

            def _serve(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length).decode() if length else ""
                target = self.headers.get("x-amz-target") or ""
                if target:
                    action = target.rsplit(".", 1)[-1]
                elif "list-type=2" in urlsplit(self.path).query:
                    action = "ListObjectsV2"
                else:
                    form = {k: v[0] for k, v in parse_qs(body).items()}
                    action = form.get("Action", "")
                    if action == "AssumeRole" and "ExternalId" not in form:
                        action = "AssumeRole:no-external-id"
                status, content_type, payload = faults.answer(action)
                try:
                    self.send_response(status)
                    self.send_header("content-type", content_type)
                    self.send_header("content-length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except OSError:
                    pass  # the client gave up (the slow answers)

            do_GET = do_POST = _serve

        self._stopping.clear()
        self._http = BackgroundHttp(Handler, name="aws-faults")
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._http is not None:
            self._http.stop()
        self._http = None


def _error(service: str, found: Answer) -> tuple[int, str, bytes]:
    code = found.code or "InternalFailure"
    status = found.status if found.status >= 400 else 400
    if service == "ce":
        return status, "application/x-amz-json-1.1", json.dumps({"__type": code, "message": "stand-in"}).encode()
    if service == "s3":
        return status, "application/xml", f"<Error><Code>{code}</Code><Message>stand-in</Message></Error>".encode()
    body = (
        f'<ErrorResponse xmlns="{STS_NS}"><Error><Type>Sender</Type><Code>{code}</Code>'
        f"<Message>stand-in</Message></Error><RequestId>standin</RequestId></ErrorResponse>"
    )
    return status, "text/xml", body.encode()


def _success(action: str, found: Answer) -> tuple[str, bytes]:
    if action == "GetCostAndUsage":
        return "application/x-amz-json-1.1", json.dumps({"ResultsByTime": [], "DimensionValueAttributes": []}).encode()
    if action == "ListObjectsV2":
        return "application/xml", b"<ListBucketResult><Name>b</Name><KeyCount>0</KeyCount></ListBucketResult>"
    if action == "GetCallerIdentity":
        result = (
            f"<UserId>AROAEXAMPLE:s</UserId><Account>{found.account}</Account>"
            f"<Arn>arn:aws:sts::{found.account}:assumed-role/costs/s</Arn>"
        )
    else:  # AssumeRole, with or without an external ID
        expires = (datetime.now(timezone.utc) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        result = (
            "<Credentials><AccessKeyId>ASIASTANDIN0000000</AccessKeyId><SecretAccessKey>standin</SecretAccessKey>"
            f"<SessionToken>standin</SessionToken><Expiration>{expires}</Expiration></Credentials>"
            f"<AssumedRoleUser><AssumedRoleId>AROAEXAMPLE:s</AssumedRoleId>"
            f"<Arn>arn:aws:sts::{found.account}:assumed-role/costs/s</Arn></AssumedRoleUser>"
        )
    name = action.split(":")[0]
    body = (
        f'<{name}Response xmlns="{STS_NS}"><{name}Result>{result}</{name}Result>'
        f"<ResponseMetadata><RequestId>standin</RequestId></ResponseMetadata></{name}Response>"
    )
    return "text/xml", body.encode()
