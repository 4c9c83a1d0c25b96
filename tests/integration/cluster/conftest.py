"""Fixtures for the local-cluster tests: images built here, pushed to the local registry."""

from __future__ import annotations

import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from cluster_helpers import build_and_push

BUSYBOX = "/bin/busybox"

# A static HTTP server image: Debian's busybox-static in a FROM scratch image.
# It serves /www; /www/healthz answers the readiness probe. On SIGTERM it exits.
HTTPD_DOCKERFILE = """\
FROM scratch
COPY busybox /bin/busybox
COPY www /www
ENTRYPOINT ["/bin/busybox", "sh", "-c", \
"trap 'exit 0' TERM INT; /bin/busybox httpd -f -p 8080 -h /www & wait $!"]
"""


@dataclass(frozen=True)
class HttpImages:
    """Two versions of the test HTTP server, pushed to the local registry."""

    v1: str
    v2: str
    repo: str


def _httpd_context(tmp: Path, version: str) -> Path:
    ctx = tmp / version
    (ctx / "www").mkdir(parents=True)
    shutil.copy(BUSYBOX, ctx / "busybox")
    (ctx / "www" / "index.html").write_text(f"hello from {version}\n")
    (ctx / "www" / "healthz").write_text("ok\n")
    (ctx / "Dockerfile").write_text(HTTPD_DOCKERFILE)
    return ctx


@pytest.fixture
def real_node(cluster):
    """The real node's name; tests that need real containers use it (directly or by usefixtures)."""
    if not cluster.real_node:
        pytest.fail("the local cluster runs without its real node (REAL_NODE=0)")
    return cluster.real_node


@pytest.fixture(scope="session")
def http_images(cluster, tmp_path_factory) -> HttpImages:
    """Build v1 and v2 of the busybox HTTP server and push both to the registry."""
    tmp = tmp_path_factory.mktemp("httpd-images")
    repo = f"{cluster.registry}/it/httpd"
    tag = uuid.uuid4().hex[:8]
    v1 = build_and_push(_httpd_context(tmp, "v1"), f"{repo}:v1-{tag}")
    v2 = build_and_push(_httpd_context(tmp, "v2"), f"{repo}:v2-{tag}")
    return HttpImages(v1=v1, v2=v2, repo=repo)
