"""A sample app that keeps notes in the bucket of the object storage service bound to it.

``PUT /notes/<name>`` stores the request body as an object, ``GET /notes/<name>`` reads it
back, ``GET /`` says which services the app is bound to (never their secrets). The bucket,
its endpoint and the key pair come from ``VCAP_SERVICES``, as Cloud Foundry gives them; the
S3 requests are signed here with AWS Signature Version 4 from the standard library alone.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import json
import os
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def bucket_credentials() -> dict[str, str] | None:
    """The first object storage service in ``VCAP_SERVICES``, or ``None``."""
    services = json.loads(os.environ.get("VCAP_SERVICES") or "{}")
    for entry in services.get("object-storage", []):
        return dict(entry["credentials"])
    return None


def _sign(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def s3_request(creds: dict[str, str], method: str, name: str, body: bytes = b"") -> bytes:
    """One signed S3 request on an object of the bucket (path-style); its response body."""
    endpoint = urllib.parse.urlsplit(creds["endpoint"])
    path = "/" + creds["bucket"] + "/" + urllib.parse.quote(name, safe="")
    now = datetime.datetime.now(datetime.UTC)
    stamp, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
    region = creds.get("region") or "us-east-1"
    payload = hashlib.sha256(body).hexdigest()
    headers = {"host": endpoint.netloc, "x-amz-content-sha256": payload, "x-amz-date": stamp}
    signed = ";".join(sorted(headers))
    canonical = "\n".join(
        [method, path, "", *(f"{k}:{headers[k]}" for k in sorted(headers)), "", signed, payload]
    )
    scope = f"{day}/{region}/s3/aws4_request"
    digest = hashlib.sha256(canonical.encode()).hexdigest()
    to_sign = "\n".join(["AWS4-HMAC-SHA256", stamp, scope, digest])
    key = _sign(("AWS4" + creds["secret_access_key"]).encode(), day)
    for part in (region, "s3", "aws4_request"):
        key = _sign(key, part)
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    headers["authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={creds['access_key_id']}/{scope}, "
        f"SignedHeaders={signed}, Signature={signature}"
    )
    url = f"{endpoint.scheme}://{endpoint.netloc}{path}"
    request = urllib.request.Request(url, data=body or None, method=method, headers=headers)
    with urllib.request.urlopen(request, timeout=10) as response:
        return bytes(response.read())


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _answer(self, status: int, text: str) -> None:
        data = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802 (the name http.server calls)
        if self.path == "/health":
            self._answer(200, "ok\n")
        elif self.path == "/":
            services = json.loads(os.environ.get("VCAP_SERVICES") or "{}")
            names = sorted(e["name"] for entries in services.values() for e in entries)
            self._answer(200, f"bound to: {', '.join(names) or 'nothing'}\n")
        elif self.path.startswith("/notes/"):
            self._object("GET")
        else:
            self._answer(404, "no such page\n")

    def do_PUT(self) -> None:  # noqa: N802
        if self.path.startswith("/notes/"):
            self._object("PUT")
        else:
            self._answer(404, "no such page\n")

    def _object(self, method: str) -> None:
        """Store the body as the note, or read the note back, in the bound bucket."""
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        creds = bucket_credentials()
        if creds is None:
            self._answer(503, "no object storage service is bound to this app\n")
            return
        name = self.path.removeprefix("/notes/")
        try:
            data = s3_request(creds, method, name, body)
        except urllib.error.HTTPError as exc:
            self._answer(exc.code, f"the object store said {exc.code}\n")
            return
        self._answer(201, f"stored {name}\n") if method == "PUT" else self._answer(
            200, data.decode()
        )

    def log_message(self, format: str, *args: object) -> None:
        print(self.address_string(), format % args, flush=True)


if __name__ == "__main__":
    port = int(os.environ.get("PORT", "8080"))
    ThreadingHTTPServer(("0.0.0.0", port), Handler).serve_forever()
