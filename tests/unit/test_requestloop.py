"""The request loop counts answers by status, connection errors, and versions in order,
against a small server on loopback."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from paas.requestloop import RequestLoop


def test_it_counts_statuses_errors_and_versions_in_order() -> None:
    answers = {"body": "Hello v1", "status": 200}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            assert self.headers["Host"] == "web.apps.localhost"
            data = answers["body"].encode()
            self.send_response(int(answers["status"]))
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    with RequestLoop(("127.0.0.1", port), "web.apps.localhost", interval=0.01) as loop:
        time.sleep(0.2)
        answers["body"] = "Howdy v2"
        time.sleep(0.2)
        answers["status"] = 503
        time.sleep(0.1)
    server.shutdown()
    server.server_close()
    closed = RequestLoop(("127.0.0.1", port), "web.apps.localhost", limit=1)
    with closed:
        time.sleep(0.2)
    result = loop.result
    assert result.versions == ["Hello", "Howdy"]
    assert result.statuses[200] >= 2 and result.statuses[503] >= 1
    assert result.failures == result.statuses[503] and not result.errors
    assert result.requests == sum(result.statuses.values())
    assert closed.result.requests == 1 and len(closed.result.errors) == 1
    assert closed.result.failures == 1
