"""health_check against a local HTTP server started by the test (no cluster needed)."""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

MODULE = "intelligent_agent.platform.health_check"
SECRET = "s3cr3t-token-value-for-the-test"


class Handler(BaseHTTPRequestHandler):
    seen_tokens: list = []

    def log_message(self, *args):  # keep pytest output quiet
        pass

    def _send(self, status, body, content_type="application/json"):
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):  # noqa: N802 - http.server API
        path = self.path.split("?")[0]
        if path == "/health":
            self._send(200, json.dumps({"status": "ok", "checks": {"db": {"ok": True}}}))
        elif path == "/degraded":
            self._send(200, json.dumps({"status": "degraded"}))
        elif path == "/broken":
            self._send(503, "unavailable", "text/plain")
        elif path == "/slow":
            time.sleep(float(self.path.split("=")[-1]))
            self._send(200, json.dumps({"status": "ok"}))
        elif path == "/secure":
            token = self.headers.get("X-Api-Token")
            Handler.seen_tokens.append(token)
            self._send(
                200 if token == SECRET else 401,
                "welcome" if token == SECRET else "denied",
                "text/plain",
            )
        else:
            self._send(404, "no such page", "text/plain")


@pytest.fixture(scope="module")
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield "http://127.0.0.1:%d" % httpd.server_address[1]
    httpd.shutdown()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_passing_checks_report_latency_and_hide_secret_headers(module_runner, server):
    run = module_runner(
        MODULE,
        {
            "checks": [
                {
                    "name": "health",
                    "url": server + "/health",
                    "json_path": "checks.db.ok",
                    "json_equals": True,
                    "max_latency_ms": 5000,
                },
                {
                    "name": "secure",
                    "url": server + "/secure",
                    "body_contains": "welcome",
                    "headers": {"X-Api-Token": SECRET, "Accept": "text/plain"},
                    "secret_headers": ["x-api-token"],
                },
            ],
            "consecutive_successes": 2,
            "interval": 0.2,
        },
    )
    print(
        "health_check latency:",
        [(c["name"], c["latency_ms"]) for c in run.result.get("checks", [])],
    )
    assert not run.failed, run.result.get("msg")
    assert [c["ok"] for c in run.result["checks"]] == [True, True]
    assert all(c["attempts"] == 2 and c["last_status"] == 200 for c in run.result["checks"])
    assert run.result["checks"][0]["latency_ms"]["max"] >= run.result["checks"][0]["latency_ms"]["min"] > 0
    assert SECRET in Handler.seen_tokens, "the server must have received the secret header"
    assert SECRET not in json.dumps(run.result) and SECRET not in run.output


@pytest.mark.parametrize(
    "check, reason",
    [
        ({"url": "/broken"}, "status 503, expected 200"),
        (
            {"url": "/degraded", "json_path": "status", "json_equals": "ok"},
            "JSON status is degraded, expected ok",
        ),
        (
            {"url": "/health", "body_contains": "definitely-not-there"},
            "body does not contain 'definitely-not-there'",
        ),
        ({"url": "/slow?s=1.0", "max_latency_ms": 300}, "too slow: "),
    ],
    ids=["wrong-status", "wrong-json-value", "missing-body-text", "slow-response"],
)
def test_failing_checks_say_why(module_runner, server, check, reason):
    check = dict(check, name="probe", url=server + check["url"])
    run = module_runner(MODULE, {"checks": [check], "retries": 1, "backoff": 0.1})
    assert run.failed
    assert run.result["failed_checks"] == ["probe"]
    assert run.result["msg"].startswith("health check probe failed: " + reason), run.result["msg"]
    assert run.result["checks"][0]["attempts"] == 2


def test_refused_connection(module_runner):
    url = "http://127.0.0.1:%d/health" % free_port()
    run = module_runner(
        MODULE,
        {
            "checks": [{"name": "nothing-listens", "url": url}],
            "retries": 2,
            "backoff": 0.1,
        },
    )
    assert run.failed and run.result["checks"][0]["reason"] == "connection refused"
    assert "health check nothing-listens failed: connection refused" in run.result["msg"]
    assert run.result["checks"][0]["last_status"] is None and run.result["checks"][0]["attempts"] == 3


def test_deadline_is_respected(module_runner, server):
    deadline = 3
    run = module_runner(
        MODULE,
        {
            "checks": [{"name": "hangs", "url": server + "/slow?s=30", "timeout": 20}],
            "retries": 10,
            "deadline": deadline,
        },
    )
    print("deadline %ss: module elapsed %ss, whole play %.1fs" % (deadline, run.result.get("elapsed_s"), run.seconds))
    assert run.failed
    assert run.result["checks"][0]["reason"].startswith("deadline of 3.0s reached")
    assert run.result["elapsed_s"] < deadline + 1.5
    assert run.seconds < 30, "the play must not wait for the 30 s response"


def test_check_mode_runs_read_only_checks(module_runner, server):
    run = module_runner(
        MODULE,
        {
            "checks": [
                {"name": "health", "url": server + "/health"},
                {"name": "write", "url": server + "/health", "method": "POST"},
            ]
        },
        check_mode=True,
    )
    assert not run.failed, run.result.get("msg")
    assert [(c["attempts"], c["skipped"]) for c in run.result["checks"]] == [
        (1, False),
        (0, True),
    ]
