"""ResourceWatcher against a small HTTP server speaking the list/watch protocol of the apiserver:
events streamed as JSON lines, watches that end early, 410 Gone, 403 Forbidden."""

import json
import queue
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

kubernetes = pytest.importorskip("kubernetes")

from ansible_collections.intelligent_agent.platform.plugins.module_utils import k8s_watch, kube_client  # noqa: E402


def pod(name, rv):
    return {"metadata": {"name": name, "uid": name, "resourceVersion": str(rv)}}


class FakeApiserver:
    """Scripted answers: ``lists`` (list responses), ``watches`` (each a list of events or an int status)."""

    def __init__(self):
        self.lists = []
        self.watches = []
        self.requests = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):  # noqa: N802
                query = parse_qs(urlsplit(self.path).query)
                fake.requests.append((urlsplit(self.path).path, query))
                if is_watch(query):
                    answer = fake.watches.pop(0) if fake.watches else []
                    if isinstance(answer, int):
                        return self._json(
                            answer,
                            {
                                "kind": "Status",
                                "code": answer,
                                "reason": "Forbidden",
                                "message": "pods is forbidden: no",
                            },
                        )
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    for event in answer:
                        line = (json.dumps(event) + "\n").encode()
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))
                        self.wfile.flush()
                    self.wfile.write(b"0\r\n\r\n")
                    return None
                answer = fake.lists.pop(0) if fake.lists else {"items": [], "metadata": {"resourceVersion": "1"}}
                if isinstance(answer, int):
                    return self._json(
                        answer,
                        {
                            "kind": "Status",
                            "code": answer,
                            "reason": "Forbidden",
                            "message": 'pods is forbidden: User "deployer" cannot list',
                        },
                    )
                return self._json(200, answer)

            def _json(self, status, body):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def client(self):
        url = "http://127.0.0.1:%d" % self.httpd.server_address[1]
        if self.client_kind == "light":
            return kube_client.LightClient({"server": url, "insecure": True})
        config = kubernetes.client.Configuration()
        config.host = url
        return kubernetes.client.ApiClient(config)


# Each test runs with the collection's light client and with the kubernetes ApiClient (the fallback).
@pytest.fixture(params=["light", "kubernetes"])
def apiserver(request):
    server = FakeApiserver()
    server.client_kind = request.param
    yield server
    server.httpd.shutdown()


def is_watch(query):
    return query.get("watch", [""])[0].lower() == "true"


def watch_versions(apiserver):
    return [query.get("resourceVersion") for dummy, query in list(apiserver.requests) if is_watch(query)]


def collect(out, count, timeout=10):
    return [out.get(timeout=timeout) for dummy in range(count)]


def test_list_watch_early_end_and_410_relist(apiserver):
    apiserver.lists = [
        {"items": [pod("a", 5)], "metadata": {"resourceVersion": "10"}},
        {"items": [pod("b", 30)], "metadata": {"resourceVersion": "31"}},
    ]
    apiserver.watches = [
        [{"type": "ADDED", "object": pod("c", 11)}, {"type": "BOOKMARK", "object": pod("", 12)}],  # ends early
        [
            {"type": "MODIFIED", "object": pod("c", 13)},
            {"type": "ERROR", "object": {"kind": "Status", "code": 410, "reason": "Expired", "message": "too old"}},
        ],
    ]
    out = queue.Queue()
    watcher = k8s_watch.ResourceWatcher(apiserver.client(), "pods", "ns", out, watch_seconds=30)
    watcher.start()
    try:
        messages = collect(out, 4)
    finally:
        watcher.stop()
    assert messages[0] == ("sync", "pods", [pod("a", 5)])
    assert messages[1] == ("event", "pods", "ADDED", pod("c", 11))
    assert messages[2] == ("event", "pods", "MODIFIED", pod("c", 13))
    assert messages[3] == ("sync", "pods", [pod("b", 30)])
    deadline = time.monotonic() + 10
    while len(watch_versions(apiserver)) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    # first watch from the list's version, the second from the bookmark's, after the relist from the new list's
    assert watch_versions(apiserver)[:3] == [["10"], ["12"], ["31"]]
    assert watcher.stats["gone"] == 1 and watcher.stats["disconnects"] >= 1 and watcher.stats["lists"] == 2


def test_forbidden_first_list_is_fatal_and_named(apiserver):
    apiserver.lists = [403]
    out = queue.Queue()
    watcher = k8s_watch.ResourceWatcher(apiserver.client(), "pods", "team-a", out)
    watcher.start()
    kind, resource, error = out.get(timeout=10)
    assert (kind, resource) == ("fatal", "pods")
    assert str(error).startswith("cannot list/watch pods in namespace team-a: Forbidden (403): pods is forbidden")


def test_connection_refused_is_retried_not_fatal():
    out = queue.Queue()
    config = kubernetes.client.Configuration()
    config.host = "http://127.0.0.1:9"  # discard port: nothing listens
    watcher = k8s_watch.ResourceWatcher(
        kubernetes.client.ApiClient(config), "deployments", "ns", out, request_timeout=2
    )
    watcher.start()
    try:
        with pytest.raises(queue.Empty):
            out.get(timeout=1.5)
        assert watcher.stats["errors"] >= 1 and watcher.is_alive()
    finally:
        watcher.stop()


def test_optional_resource_denied_is_not_fatal(apiserver):
    apiserver.lists = [403]
    out = queue.Queue()
    watcher = k8s_watch.ResourceWatcher(apiserver.client(), "events", "team-a", out, optional=True)
    watcher.start()
    kind, resource, error = out.get(timeout=10)
    assert (kind, resource) == ("optional-failed", "events") and "Forbidden (403)" in str(error)
