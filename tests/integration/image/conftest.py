"""Fixtures of the image integration tests: the local Docker engine and registry, the base images,
and runs of the image role (ansible-playbook) into a repository namespace unique to the session.
"""

from __future__ import annotations

import os
import subprocess
import time
import uuid

import pytest

from image_helpers import (
    REGISTRY,
    ROOT,
    Containers,
    Role,
    http,
    manifest_digest,
    registry_tags,
    run,
)


@pytest.fixture(scope="session")
def registry():
    """The local Docker engine, the registry on 127.0.0.1:5000 and the base images (all idempotent)."""
    engine = run(["docker", "info"], check=False, timeout=60).returncode == 0
    try:
        answering = engine and http(f"http://{REGISTRY}/v2/", timeout=5)[0] == 200
    except OSError:
        answering = False
    if not answering:
        # docker.sh waits for its lock while cluster.sh holds it: only call it when something is down.
        run([str(ROOT / "hack" / "local-cluster" / "docker.sh"), "up"], timeout=3600)
    start = time.monotonic()
    proc = run([str(ROOT / "hack" / "base-images" / "build.sh")], timeout=1800)
    print(f"\nbase images ready in {time.monotonic() - start:.1f}s:\n{proc.stderr[-1500:]}")
    return REGISTRY


@pytest.fixture(scope="session")
def run_id():
    return uuid.uuid4().hex[:8]


@pytest.fixture(scope="session")
def role(registry, run_id, tmp_path_factory):
    namespace = f"it-image-{run_id}"
    runner = Role(tmp_path_factory.mktemp("image-role"), namespace)
    yield runner
    # Clean up (best effort, never an error): the session's images in the local engine and its
    # manifests in the registry.
    try:
        _cleanup(namespace)
    except Exception as exc:  # pylint: disable=broad-except
        print(f"\nimage tests: cleanup of {namespace} incomplete: {exc!r}")


def _cleanup(namespace):
    prefix = f"{REGISTRY}/{namespace}/"
    listed = run(
        ["docker", "images", "--format", "{{.Repository}}:{{.Tag}}"],
        check=False,
        timeout=120,
    ).stdout.split()
    images = [ref for ref in listed if ref.startswith(prefix)]
    if images:
        run(["docker", "rmi", "-f", *images], check=False, timeout=300)
    for name in (
        "frontend",
        "backend",
        "backend-crash",
        "backend-unready",
        "frontend-crash",
    ):
        path = f"{namespace}/{name}"
        for tag in registry_tags(path):
            digest = manifest_digest(path, tag)
            if digest:
                http(f"http://{REGISTRY}/v2/{path}/manifests/{digest}", "DELETE")


@pytest.fixture(scope="session")
def release(role, run_id):
    """Version 1.0.0 of frontend and backend, built once for the session."""
    commit = f"c0ffee{run_id}"
    first = role({"image_version": "1.0.0", "image_commit": commit})
    print(f"\nfirst build of both images: {first.seconds:.1f}s")
    return {
        "version": "1.0.0",
        "commit": commit,
        "run": first,
        "namespace": role.namespace,
    }


@pytest.fixture
def containers(run_id):
    helper = Containers(f"{run_id}-{uuid.uuid4().hex[:4]}")
    yield helper
    helper.cleanup()


@pytest.fixture(scope="session")
def installed_collection(tmp_path_factory):
    """The collection as install.sh installs it: from the tarball, into a folder of its own."""
    work = tmp_path_factory.mktemp("collection")
    # Not the repository's configuration (`make` exports ANSIBLE_CONFIG): its collections_path holds the checkout,
    # and ansible-galaxy would find the collection "already installed" there and install nothing.
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    subprocess.run(
        [
            str(ROOT / ".venv" / "bin" / "ansible-galaxy"),
            "collection",
            "build",
            "--force",
            "--output-path",
            str(work),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    collections = work / "collections"
    # The dependency collections come from the venv's ansible package (Galaxy is not reachable here).
    subprocess.run(
        [
            str(ROOT / ".venv" / "bin" / "ansible-galaxy"),
            "collection",
            "install",
            "--no-deps",
            "-p",
            str(collections),
            str(next(work.glob("intelligent_agent-platform-*.tar.gz"))),
        ],
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=work,
        env=env,
    )
    assert (collections / "ansible_collections" / "intelligent_agent" / "platform" / "MANIFEST.json").exists()
    config = work / "ansible.cfg"
    config.write_text(f"[defaults]\ncollections_path = {collections}\nstdout_callback = ansible.builtin.default\n")
    return config
