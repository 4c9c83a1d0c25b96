"""The bearer-token flow of registries like GHCR: /v2/ answers 401 with a Bearer challenge, the role
fetches a pull token from the token service (with the credentials, scoped to the planned
repositories) and sends it on the manifest lookups. No open-source registry we can run here issues
tokens without a separate token server, so this test serves the protocol from a small HTTP server and
runs the role in check mode against it (lookups, login and logout are real; nothing is pushed).
"""

from __future__ import annotations

import base64
import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest


@pytest.fixture
def token_registry():
    token = f"tok-{uuid.uuid4().hex}"
    user, password = "deployer", f"pw-{uuid.uuid4().hex}"
    seen = {"token_queries": [], "manifest_auth": []}

    class Handler(BaseHTTPRequestHandler):
        def _send(self, status, body=b"{}", headers=None):
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Docker-Distribution-API-Version", "registry/2.0")
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _challenge(self):
            realm = f"http://127.0.0.1:{self.server.server_address[1]}/token"
            self._send(
                401,
                b'{"errors":[{"code":"UNAUTHORIZED"}]}',
                {"WWW-Authenticate": f'Bearer realm="{realm}",service="fake-registry"'},
            )

        def do_GET(self):  # noqa: N802 - http.server API
            url = urlsplit(self.path)
            auth = self.headers.get("Authorization", "")
            if url.path == "/token":
                expected = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
                if auth != expected:
                    self._send(401)
                    return
                seen["token_queries"].append(parse_qs(url.query))
                self._send(200, json.dumps({"token": token, "access_token": token}).encode())
                return
            if auth != f"Bearer {token}":
                self._challenge()
                return
            if url.path == "/v2/":
                self._send(200)
                return
            seen["manifest_auth"].append(url.path)
            self._send(404, b'{"errors":[{"code":"MANIFEST_UNKNOWN"}]}')

        do_HEAD = do_GET

        def log_message(self, format, *args):  # noqa: A002 - base class signature
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield {
            "address": f"127.0.0.1:{server.server_address[1]}",
            "user": user,
            "password": password,
            "token": token,
            "seen": seen,
        }
    finally:
        server.shutdown()
        server.server_close()


def test_bearer_token_flow_in_check_mode(role, token_registry, run_id):
    reg = token_registry
    namespace = f"token-{run_id}"
    checked = role(
        {
            "image_registry": reg["address"],
            "image_namespace": namespace,
            "image_version": "1.0.0",
            "image_commit": f"70cen{run_id}",
            "image_registry_username": reg["user"],
            "image_registry_password": reg["password"],
        },
        check_mode=True,
        verbosity=2,
    )
    for secret in (reg["password"], reg["token"]):
        assert secret not in checked.output
    queries = reg["seen"]["token_queries"]
    assert queries, "the role never asked the token service"
    scopes = {scope for query in queries for scope in query.get("scope", [])}
    assert {
        f"repository:{namespace}/frontend:pull",
        f"repository:{namespace}/backend:pull",
    } <= scopes
    assert any(query.get("service") == ["fake-registry"] for query in queries)
    # Every tag lookup reached the registry with the token (else it would have been challenged).
    assert f"/v2/{namespace}/backend/manifests/1.0.0" in reg["seen"]["manifest_auth"]
    assert f"/v2/{namespace}/frontend/manifests/70cen{run_id}" in reg["seen"]["manifest_auth"]
    for name in ("frontend", "backend"):
        assert checked.results[name]["built"] is True
        assert checked.results[name]["reference"] == ""
