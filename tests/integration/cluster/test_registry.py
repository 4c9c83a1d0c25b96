"""Issue 3: the local Docker engine pushes to the registry on 127.0.0.1:5000."""

from __future__ import annotations

import json
import shutil
import urllib.request
import uuid

from cluster_helpers import build_and_push


def _get_json(url):
    with urllib.request.urlopen(url, timeout=10) as resp:  # noqa: S310 - loopback only
        return json.load(resp)


def _catalog(registry):
    """All repositories, following the registry's pagination (at most 1000 a page)."""
    repos, last = [], ""
    while True:
        page = _get_json(f"http://{registry}/v2/_catalog?n=1000&last={last}")["repositories"]
        repos += page
        if len(page) < 1000:
            return repos
        last = page[-1]


def test_docker_push_to_local_registry_is_listed_in_catalog(cluster, tmp_path):
    shutil.copy("/bin/busybox", tmp_path / "busybox")
    (tmp_path / "Dockerfile").write_text('FROM scratch\nCOPY busybox /bin/busybox\nCMD ["/bin/busybox", "true"]\n')
    repo = f"it/push-{uuid.uuid4().hex[:8]}"
    build_and_push(tmp_path, f"{cluster.registry}/{repo}:1.0")

    assert repo in _catalog(cluster.registry)
    tags = _get_json(f"http://{cluster.registry}/v2/{repo}/tags/list")
    assert tags == {"name": repo, "tags": ["1.0"]}
