"""A sample app that keeps notes in the services bound to it: as objects in the bucket of
an object storage service, and as rows in the database of a PostgreSQL service.

``PUT /notes/<name>`` stores the request body in every bound service, ``GET
/notes/<name>`` reads the object back, ``GET /rows/<name>`` the row, and ``GET /`` says
which services the app is bound to (never their secrets). Where they are and the secrets
come from ``VCAP_SERVICES``, as Cloud Foundry gives them. The S3 requests are signed here
with AWS Signature Version 4 from the standard library alone; the database is reached with
pg8000 (pure Python, from ``requirements.txt``).
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
from typing import Any


def bucket_credentials() -> dict[str, str] | None:
    """The first object storage service in ``VCAP_SERVICES``, or ``None``."""
    services = json.loads(os.environ.get("VCAP_SERVICES") or "{}")
    for entry in services.get("object-storage", []):
        return dict(entry["credentials"])
    return None


def database_credentials() -> dict[str, object] | None:
    """The first PostgreSQL service in ``VCAP_SERVICES``, or ``None``."""
    services = json.loads(os.environ.get("VCAP_SERVICES") or "{}")
    for entry in services.get("postgresql", []):
        return dict(entry["credentials"])
    return None


def database(creds: dict[str, object]) -> Any:
    """A connection to the bound database, its ``notes`` table made if missing."""
    import pg8000.native  # only apps bound to a database need it

    conn = pg8000.native.Connection(
        str(creds["username"]),
        host=str(creds["hostname"]),
        port=int(str(creds["port"])),
        database=str(creds["name"]),
        password=str(creds["password"]),
        timeout=10,
    )
    conn.run(
        "CREATE TABLE IF NOT EXISTS notes (name text PRIMARY KEY, body text NOT NULL,"
        " stored_at timestamptz NOT NULL DEFAULT now())"
    )
    return conn


def store_row(creds: dict[str, object], name: str, body: str) -> None:
    conn = database(creds)
    try:
        conn.run(
            "INSERT INTO notes (name, body) VALUES (:name, :body) ON CONFLICT (name)"
            " DO UPDATE SET body = EXCLUDED.body, stored_at = now()",
            name=name,
            body=body,
        )
    finally:
        conn.close()


def read_row(creds: dict[str, object], name: str) -> str | None:
    conn = database(creds)
    try:
        rows = conn.run("SELECT body FROM notes WHERE name = :name", name=name)
    finally:
        conn.close()
    return str(rows[0][0]) if rows else None


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
            self._read_object(self._name("/notes/"))
        elif self.path.startswith("/rows/"):
            self._read_row(self._name("/rows/"))
        else:
            self._answer(404, "no such page\n")

    def do_PUT(self) -> None:  # noqa: N802
        if not self.path.startswith("/notes/"):
            self._answer(404, "no such page\n")
            return
        name = self._name("/notes/")
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        bucket, db = bucket_credentials(), database_credentials()
        if bucket is None and db is None:
            self._answer(503, "no service is bound to this app\n")
            return
        stored = []
        try:
            if bucket is not None:
                s3_request(bucket, "PUT", name, body)
                stored.append("the bucket")
            if db is not None:
                store_row(db, name, body.decode())
                stored.append("the database")
        except urllib.error.HTTPError as exc:
            self._answer(exc.code, f"the object store said {exc.code}\n")
            return
        except Exception as exc:  # noqa: BLE001 - the database driver's errors, said
            self._answer(502, f"the database said: {type(exc).__name__}\n")
            return
        self._answer(201, f"stored {name} in {' and '.join(stored)}\n")

    def _name(self, prefix: str) -> str:
        return urllib.parse.unquote(self.path.removeprefix(prefix))

    def _read_object(self, name: str) -> None:
        creds = bucket_credentials()
        if creds is None:
            self._answer(503, "no object storage service is bound to this app\n")
            return
        try:
            self._answer(200, s3_request(creds, "GET", name).decode())
        except urllib.error.HTTPError as exc:
            self._answer(exc.code, f"the object store said {exc.code}\n")

    def _read_row(self, name: str) -> None:
        creds = database_credentials()
        if creds is None:
            self._answer(503, "no PostgreSQL service is bound to this app\n")
            return
        try:
            body = read_row(creds, name)
        except Exception as exc:  # noqa: BLE001 - the database driver's errors, said
            self._answer(502, f"the database said: {type(exc).__name__}\n")
            return
        self._answer(404, "no such row\n") if body is None else self._answer(200, body)

    def log_message(self, format: str, *args: object) -> None:
        print(self.address_string(), format % args, flush=True)


if __name__ == "__main__":
    port = int(os.environ.get("PORT", "8080"))
    ThreadingHTTPServer(("0.0.0.0", port), Handler).serve_forever()
