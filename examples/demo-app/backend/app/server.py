"""Demo backend of the Intelligent Agent platform: a small threaded HTTP API on the standard library.

Endpoints
  GET /health        liveness: 200 while the process serves requests
  GET /ready         readiness: 200 when every configured dependency accepts TCP connections, else 503
  GET /metrics       Prometheus text format: http_requests_total{method,endpoint,status},
                     http_request_duration_seconds{method,endpoint,status} histogram, app_info
  GET /api/version   {"version": ..., "commit": ...} baked into the image at build time
  GET /api/info      version, commit, hostname, uptime

Configuration (environment)
  PORT (5000), BIND_ADDRESS (0.0.0.0), BUILD_INFO_FILE (build-info.json next to this file)
  READY_DEPENDENCIES  comma-separated host:port list checked by /ready
  DATABASE_HOST [DATABASE_PORT=5432], REDIS_HOST [REDIS_PORT=6379], DATABASE_URL, REDIS_URL
                      further dependencies (only host and port are used; credentials never are)
  READY_CHECK_DEPENDENCIES  "false" turns the dependency checks off (local demo without databases)
  READY_CHECK_TIMEOUT       seconds per TCP check (1.0)

A release can be deliberately broken at build time (build ARG BROKEN, recorded in build-info.json):
  crash    the process prints its whole environment (secrets included, as careless apps do) and exits with
           status 1 at start: what the deploy reports of the crash must not leak them
  unready  /ready always answers 503 (the pods never become ready)
  errors   every /api/ request answers 500 (drives the error-rate alert)
"""

import json
import os
import signal
import socket
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

BROKEN_MODES = ("", "crash", "unready", "errors")
DEFAULT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
ROUTES = ("/health", "/ready", "/metrics", "/api/version", "/api/info")
TRUE_WORDS = ("1", "true", "yes", "on")


def load_build_info(path=None, environ=None):
    """Return {"version", "commit", "broken"}: the file written at build time, else the environment."""
    environ = os.environ if environ is None else environ
    path = (
        path
        or environ.get("BUILD_INFO_FILE")
        or os.path.join(os.path.dirname(os.path.abspath(__file__)), "build-info.json")
    )
    info = {
        "version": environ.get("APP_VERSION", "0.0.0-dev"),
        "commit": environ.get("APP_COMMIT", "unknown"),
        "broken": "",
    }
    try:
        with open(path, encoding="utf-8") as handle:
            baked = json.load(handle)
    except FileNotFoundError:
        baked = {}
    for key in info:
        if baked.get(key) is not None:
            info[key] = str(baked[key])
    if info["broken"] not in BROKEN_MODES:
        raise ValueError(
            "unknown BROKEN mode %r (expected one of: %s)" % (info["broken"], ", ".join(m for m in BROKEN_MODES if m))
        )
    return info


def _split_host_port(value, default_port=None):
    value = value.strip()
    if not value:
        return None
    if "://" in value:
        parts = urlsplit(value)
        if not parts.hostname:
            raise ValueError("dependency URL without a host")
        port = parts.port or default_port
        if port is None:
            raise ValueError("dependency URL without a port")
        return parts.hostname, int(port)
    host, sep, port = value.rpartition(":")
    if not sep:
        host, port = value, default_port
    if not host or port in (None, ""):
        raise ValueError("dependency %r is not host:port" % value)
    return host.strip("[]"), int(port)


def parse_dependencies(environ=None):
    """Return the sorted, de-duplicated list of (host, port) the readiness check connects to."""
    environ = os.environ if environ is None else environ
    deps = []
    for item in environ.get("READY_DEPENDENCIES", "").split(","):
        dep = _split_host_port(item)
        if dep:
            deps.append(dep)
    for prefix, default_port in (("DATABASE", 5432), ("REDIS", 6379)):
        host = environ.get(prefix + "_HOST", "").strip()
        if host:
            deps.append((host, int(environ.get(prefix + "_PORT") or default_port)))
        url = environ.get(prefix + "_URL", "").strip()
        if url:
            try:
                dep = _split_host_port(url, default_port)
            except ValueError:
                # Never echo the URL: it may carry credentials.
                raise ValueError("%s_URL is not a URL with a host" % prefix) from None
            deps.append(dep)
    return sorted(set(deps))


def check_dependency(host, port, timeout):
    start = time.monotonic()
    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
        return {"target": "%s:%d" % (host, port), "ok": True, "seconds": round(time.monotonic() - start, 4)}
    except OSError as exc:
        return {"target": "%s:%d" % (host, port), "ok": False, "error": exc.__class__.__name__}


class Metrics:
    """Thread-safe counters and histograms rendered in the Prometheus text exposition format."""

    def __init__(self, buckets=DEFAULT_BUCKETS):
        self.buckets = tuple(sorted(buckets))
        self.lock = threading.Lock()
        self.requests = {}
        self.durations = {}

    def observe(self, method, endpoint, status, seconds):
        key = (method, endpoint, str(status))
        with self.lock:
            self.requests[key] = self.requests.get(key, 0) + 1
            hist = self.durations.get(key)
            if hist is None:
                hist = self.durations[key] = {"buckets": [0] * len(self.buckets), "sum": 0.0, "count": 0}
            for i, bound in enumerate(self.buckets):
                if seconds <= bound:
                    hist["buckets"][i] += 1
            hist["sum"] += seconds
            hist["count"] += 1

    @staticmethod
    def _labels(key, extra=""):
        method, endpoint, status = key
        text = 'method="%s",endpoint="%s",status="%s"' % (method, endpoint, status)
        return "{" + text + (("," + extra) if extra else "") + "}"

    def render(self, info, started):
        lines = [
            "# HELP app_info Build information of the running release.",
            "# TYPE app_info gauge",
            'app_info{version="%s",commit="%s"} 1' % (_escape(info["version"]), _escape(info["commit"])),
            "# HELP process_start_time_seconds Start time of the process since the Unix epoch in seconds.",
            "# TYPE process_start_time_seconds gauge",
            "process_start_time_seconds %.3f" % started,
            "# HELP http_requests_total Total HTTP requests by method, endpoint and status code.",
            "# TYPE http_requests_total counter",
        ]
        with self.lock:
            requests = sorted(self.requests.items())
            durations = sorted(
                (k, {"buckets": list(v["buckets"]), "sum": v["sum"], "count": v["count"]})
                for k, v in self.durations.items()
            )
        for key, value in requests:
            lines.append("http_requests_total%s %d" % (self._labels(key), value))
        lines += [
            "# HELP http_request_duration_seconds HTTP request latency in seconds by method, endpoint and status code.",
            "# TYPE http_request_duration_seconds histogram",
        ]
        for key, hist in durations:
            for bound, count in zip(self.buckets, hist["buckets"], strict=True):
                lines.append(
                    "http_request_duration_seconds_bucket%s %d" % (self._labels(key, 'le="%s"' % _fmt(bound)), count)
                )
            lines.append("http_request_duration_seconds_bucket%s %d" % (self._labels(key, 'le="+Inf"'), hist["count"]))
            lines.append("http_request_duration_seconds_sum%s %.6f" % (self._labels(key), hist["sum"]))
            lines.append("http_request_duration_seconds_count%s %d" % (self._labels(key), hist["count"]))
        return "\n".join(lines) + "\n"


def _fmt(bound):
    return repr(float(bound)) if bound != int(bound) else "%.1f" % bound


def _escape(value):
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def endpoint_label(path):
    """Bound the label's cardinality: known routes keep their path, everything else is 'other'."""
    path = path.split("?", 1)[0]
    if path in ROUTES:
        return path
    if path.startswith("/api/"):
        return "/api/other"
    return "other"


class App:
    def __init__(self, environ=None, build_info=None):
        environ = os.environ if environ is None else environ
        self.info = build_info or load_build_info(environ=environ)
        self.dependencies = parse_dependencies(environ)
        self.check_enabled = environ.get("READY_CHECK_DEPENDENCIES", "true").strip().lower() in TRUE_WORDS
        self.check_timeout = float(environ.get("READY_CHECK_TIMEOUT", "1.0"))
        self.metrics = Metrics()
        self.started = time.time()
        self.hostname = socket.gethostname()

    def readiness(self):
        if self.info["broken"] == "unready":
            return 503, {"status": "not ready", "reason": "this release is deliberately broken (BROKEN=unready)"}
        if not self.check_enabled or not self.dependencies:
            return 200, {"status": "ready", "dependencies": [], "checked": self.check_enabled}
        with ThreadPoolExecutor(max_workers=min(8, len(self.dependencies))) as pool:
            results = list(pool.map(lambda d: check_dependency(d[0], d[1], self.check_timeout), self.dependencies))
        ok = all(r["ok"] for r in results)
        return (200 if ok else 503), {
            "status": "ready" if ok else "not ready",
            "dependencies": results,
            "checked": True,
        }

    def handle(self, method, path):
        """Return (status, content_type, body bytes) for one request."""
        route = path.split("?", 1)[0]
        if method not in ("GET", "HEAD"):
            return 405, "application/json", _json({"error": "method not allowed"})
        if route == "/health":
            return 200, "application/json", _json({"status": "ok"})
        if route == "/ready":
            status, body = self.readiness()
            return status, "application/json", _json(body)
        if route == "/metrics":
            return (
                200,
                "text/plain; version=0.0.4; charset=utf-8",
                self.metrics.render(self.info, self.started).encode(),
            )
        if route.startswith("/api/") and self.info["broken"] == "errors":
            return 500, "application/json", _json({"error": "this release is deliberately broken (BROKEN=errors)"})
        if route == "/api/version":
            return 200, "application/json", _json({"version": self.info["version"], "commit": self.info["commit"]})
        if route == "/api/info":
            return (
                200,
                "application/json",
                _json(
                    {
                        "version": self.info["version"],
                        "commit": self.info["commit"],
                        "hostname": self.hostname,
                        "uptime_seconds": round(time.time() - self.started, 1),
                    }
                ),
            )
        return 404, "application/json", _json({"error": "not found", "path": route})


def _json(data):
    return (json.dumps(data, sort_keys=True) + "\n").encode()


def make_handler(app):
    class Handler(BaseHTTPRequestHandler):
        server_version = "intelligent-agent-backend"
        sys_version = ""
        protocol_version = "HTTP/1.1"

        def _serve(self):
            start = time.perf_counter()
            try:
                status, ctype, body = app.handle(self.command, self.path)
            except Exception as exc:  # pylint: disable=broad-except
                status, ctype, body = 500, "application/json", _json({"error": exc.__class__.__name__})
            # Counted before the answer leaves: a client that reads /metrics right after a request
            # always sees that request (the duration is the handling time).
            app.metrics.observe(self.command, endpoint_label(self.path), status, time.perf_counter() - start)
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.send_header("X-Content-Type-Options", "nosniff")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = _serve

        def log_message(self, format, *args):  # noqa: A002  (signature of the base class)
            if endpoint_label(self.path) in ("/health", "/ready", "/metrics"):
                return
            sys.stderr.write("%s %s\n" % (self.address_string(), format % args))

    return Handler


def main(environ=None):
    environ = os.environ if environ is None else environ
    try:
        app = App(environ)
    except ValueError as exc:
        sys.stderr.write("backend: configuration error: %s\n" % exc)
        return 2
    if app.info["broken"] == "crash":
        for key in sorted(environ):
            sys.stderr.write("backend: env %s=%s\n" % (key, environ[key]))
        sys.stderr.write("backend: this release is deliberately broken (BROKEN=crash); exiting\n")
        return 1
    port = int(environ.get("PORT", "5000"))
    server = ThreadingHTTPServer((environ.get("BIND_ADDRESS", "0.0.0.0"), port), make_handler(app))
    server.daemon_threads = True

    def stop(signum, _frame):
        sys.stderr.write("backend: signal %d, shutting down\n" % signum)
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    deps = ", ".join("%s:%d" % d for d in app.dependencies) or "none"
    sys.stderr.write(
        "backend %s (%s) listening on :%d; readiness dependencies: %s%s\n"
        % (app.info["version"], app.info["commit"], port, deps, "" if app.check_enabled else " (checks disabled)")
    )
    server.serve_forever()
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
