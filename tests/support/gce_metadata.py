"""A stand-in of the Google Cloud metadata server's identity endpoint, on 127.0.0.1.

`GET /computeMetadata/v1/instance/service-accounts/default/identity?audience=A&format=full`
with `Metadata-Flavor: Google` answers an ID token of the instance's service account, shaped
like Google's (a JWT: iss accounts.google.com, aud A, azp and sub the service account's unique
id, email, iat, exp). It is not signed: the AWS stand-in accepts exactly the tokens issued here
(`claims`), which stands for AWS checking Google's signature. Without the header: 403, as Google.
"""

from __future__ import annotations

import base64
import json
import time
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.support.background_http import BackgroundHttp

IDENTITY_PATH = "/computeMetadata/v1/instance/service-accounts/default/identity"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class MetadataServer:
    def __init__(self, unique_id: str = "108234567890123456789", email: str = "validator@proj.iam.gserviceaccount.com"):
        self.unique_id = unique_id
        self.email = email
        self.issued: dict[str, dict[str, Any]] = {}
        self.requests = 0
        self._http: BackgroundHttp | None = None

    @property
    def host(self) -> str:
        assert self._http is not None
        return f"127.0.0.1:{self._http.port}"

    def token(self, audience: str) -> str:
        now = int(time.time())
        claims = {"iss": "https://accounts.google.com", "aud": audience, "azp": self.unique_id, "sub": self.unique_id,
                  "email": self.email, "email_verified": True, "iat": now, "exp": now + 3600}  # fmt: skip
        header = {"alg": "RS256", "typ": "JWT", "kid": "standin"}
        token = ".".join(_b64(json.dumps(part).encode()) for part in (header, claims)) + "." + _b64(b"standin")
        self.issued[token] = claims
        return token

    def claims(self, token: str) -> dict[str, Any] | None:
        """The claims of a token issued here and not expired, else None."""
        claims = self.issued.get(token)
        return claims if claims is not None and claims["exp"] > time.time() else None

    def start(self) -> "MetadataServer":
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                return

            def do_GET(self) -> None:  # noqa: N802
                split = urlsplit(self.path)
                audience = parse_qs(split.query).get("audience", [""])[0]
                server.requests += 1
                if self.headers.get("Metadata-Flavor") != "Google":
                    status, body = 403, b"Missing Metadata-Flavor:Google header."
                elif split.path != IDENTITY_PATH or not audience:
                    status, body = 404, b"Not found"
                else:
                    status, body = 200, server.token(audience).encode()
                self.send_response(status)
                self.send_header("content-type", "text/html")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self._http = BackgroundHttp(Handler, name="gce-metadata")
        return self

    def stop(self) -> None:
        if self._http is not None:
            self._http.stop()
        self._http = None
