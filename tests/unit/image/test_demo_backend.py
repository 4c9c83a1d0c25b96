"""Unit tests of the demo backend (examples/demo-app/backend/app/server.py): configuration parsing,
build info, metrics exposition and request handling, without Docker."""

from __future__ import annotations

import json
import socket
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path

import pytest

APP_DIR = Path(__file__).resolve().parents[3] / "examples" / "demo-app" / "backend" / "app"
sys.path.insert(0, str(APP_DIR))
import server  # noqa: E402  pylint: disable=wrong-import-position,import-error

NO_FILE = {"BUILD_INFO_FILE": "/nonexistent/build-info.json"}


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, []),
        ({"READY_DEPENDENCIES": "db:5432, cache:6379,,"}, [("cache", 6379), ("db", 5432)]),
        ({"DATABASE_HOST": "postgres"}, [("postgres", 5432)]),
        (
            {"DATABASE_HOST": "postgres", "DATABASE_PORT": "6432", "REDIS_HOST": "redis"},
            [("postgres", 6432), ("redis", 6379)],
        ),
        ({"DATABASE_URL": "postgresql://user:secret@pg.example:5433/app"}, [("pg.example", 5433)]),
        ({"REDIS_URL": "redis://:pw@redis"}, [("redis", 6379)]),
        ({"READY_DEPENDENCIES": "db:5432", "DATABASE_HOST": "db"}, [("db", 5432)]),
        ({"READY_DEPENDENCIES": "[::1]:5432"}, [("::1", 5432)]),
    ],
)
def test_parse_dependencies(environ, expected):
    assert server.parse_dependencies(environ) == expected


@pytest.mark.parametrize("value", ["db", "db:", ":5432"])
def test_parse_dependencies_rejects_entries_without_host_or_port(value):
    with pytest.raises(ValueError, match="host:port"):
        server.parse_dependencies({"READY_DEPENDENCIES": value})


def test_bad_dependency_url_error_does_not_echo_credentials():
    with pytest.raises(ValueError) as err:
        server.parse_dependencies({"DATABASE_URL": "postgresql://user:s3cret@/app"})
    assert "s3cret" not in str(err.value)
    assert "DATABASE_URL" in str(err.value)


def test_build_info_file_wins_over_environment(tmp_path):
    path = tmp_path / "build-info.json"
    path.write_text(json.dumps({"version": "2.0.0", "commit": "abc", "broken": "unready"}))
    info = server.load_build_info(str(path), {"APP_VERSION": "1.0.0"})
    assert info == {"version": "2.0.0", "commit": "abc", "broken": "unready"}
    assert server.load_build_info(None, {**NO_FILE, "APP_VERSION": "1.2.3"})["version"] == "1.2.3"


def test_unknown_broken_mode_is_refused(tmp_path):
    path = tmp_path / "build-info.json"
    path.write_text(json.dumps({"broken": "sideways"}))
    with pytest.raises(ValueError, match="sideways"):
        server.load_build_info(str(path), {})


@pytest.mark.parametrize(
    ("path", "label"),
    [
        ("/health", "/health"),
        ("/metrics?x=1", "/metrics"),
        ("/api/version", "/api/version"),
        ("/api/users/42", "/api/other"),
        ("/x/y", "other"),
    ],
)
def test_endpoint_label_bounds_cardinality(path, label):
    assert server.endpoint_label(path) == label


def test_metrics_exposition():
    metrics = server.Metrics(buckets=(0.1, 1.0))
    metrics.observe("GET", "/api/version", 200, 0.05)
    metrics.observe("GET", "/api/version", 200, 0.5)
    metrics.observe("GET", "/api/version", 500, 3.0)
    text = metrics.render({"version": '1"x', "commit": "abc"}, 1000.0)
    lines = text.splitlines()
    assert 'http_requests_total{method="GET",endpoint="/api/version",status="200"} 2' in lines
    assert 'http_requests_total{method="GET",endpoint="/api/version",status="500"} 1' in lines
    assert 'http_request_duration_seconds_bucket{method="GET",endpoint="/api/version",status="200",le="0.1"} 1' in lines
    assert 'http_request_duration_seconds_bucket{method="GET",endpoint="/api/version",status="200",le="1.0"} 2' in lines
    assert (
        'http_request_duration_seconds_bucket{method="GET",endpoint="/api/version",status="200",le="+Inf"} 2' in lines
    )
    assert 'http_request_duration_seconds_bucket{method="GET",endpoint="/api/version",status="500",le="1.0"} 0' in lines
    assert 'http_request_duration_seconds_count{method="GET",endpoint="/api/version",status="500"} 1' in lines
    assert 'app_info{version="1\\"x",commit="abc"} 1' in lines
    assert "# TYPE http_requests_total counter" in lines
    assert "# TYPE http_request_duration_seconds histogram" in lines
    assert text.endswith("\n")


def _app(environ=None, broken=""):
    return server.App(
        {**NO_FILE, **(environ or {})}, build_info={"version": "1.0.0", "commit": "abc", "broken": broken}
    )


def test_routes():
    app = _app()
    assert app.handle("GET", "/health")[0] == 200
    status, dummy, body = app.handle("GET", "/api/version")
    assert status == 200 and json.loads(body) == {"version": "1.0.0", "commit": "abc"}
    assert app.handle("GET", "/nope")[0] == 404
    assert app.handle("POST", "/api/version")[0] == 405


@pytest.mark.parametrize(
    ("broken", "ready", "api"),
    [("", 200, 200), ("unready", 503, 200), ("errors", 200, 500)],
)
def test_broken_modes(broken, ready, api):
    app = _app(broken=broken)
    assert app.handle("GET", "/health")[0] == 200
    assert app.handle("GET", "/ready")[0] == ready
    assert app.handle("GET", "/api/version")[0] == api


def test_crash_mode_prints_its_environment_and_exits_at_start(tmp_path, capsys):
    path = tmp_path / "build-info.json"
    path.write_text(json.dumps({"broken": "crash"}))
    environ = {"BUILD_INFO_FILE": str(path), "PORT": "0", "JWT_SECRET": "s3cr3t-value"}
    assert server.main(environ) == 1
    # The careless app the deploy must protect against: its crash log holds the secret.
    assert "JWT_SECRET=s3cr3t-value" in capsys.readouterr().err


def test_readiness_follows_a_real_tcp_dependency():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    port = listener.getsockname()[1]
    try:
        app = _app({"READY_DEPENDENCIES": f"127.0.0.1:{port}"})
        status, dummy, body = app.handle("GET", "/ready")
        assert status == 200, body
    finally:
        listener.close()
    # The port is closed now: not ready, and the response names the target, not a secret.
    status, dummy, body = app.handle("GET", "/ready")
    assert status == 503
    assert json.loads(body)["dependencies"][0]["target"] == f"127.0.0.1:{port}"
    # Checks switched off for the local demo.
    off = _app({"READY_DEPENDENCIES": f"127.0.0.1:{port}", "READY_CHECK_DEPENDENCIES": "false"})
    assert off.handle("GET", "/ready")[0] == 200


def test_http_server_counts_requests():
    app = _app()
    httpd = server.ThreadingHTTPServer(("127.0.0.1", 0), server.make_handler(app))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    base = "http://127.0.0.1:%d" % httpd.server_address[1]
    try:
        with urllib.request.urlopen(base + "/api/version", timeout=10) as resp:
            assert json.load(resp)["version"] == "1.0.0"
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(base + "/missing", timeout=10)
        assert err.value.code == 404
        with urllib.request.urlopen(base + "/metrics", timeout=10) as resp:
            text = resp.read().decode()
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert 'http_requests_total{method="GET",endpoint="/api/version",status="200"} 1' in text
    assert 'http_requests_total{method="GET",endpoint="other",status="404"} 1' in text
