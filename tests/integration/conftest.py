"""Shared fixtures for integration tests against the real local cluster.

The ``cluster`` fixture (session scope) runs ``hack/local-cluster/cluster.sh up``
once (idempotent: a running cluster is reused, a missing build waits for or
runs the build) and returns a :class:`Cluster` describing it.  The
``namespace`` fixture gives each test a fresh namespace, created with the admin
kubeconfig, in which the least-privilege ``deployer`` ServiceAccount is bound,
and deletes it afterwards.

Stable interface (other tests rely on it):

``cluster.root``                 repository root (Path)
``cluster.state_dir``            .local/cluster (Path)
``cluster.kubeconfig``           admin kubeconfig (Path)
``cluster.deployer_kubeconfig``  least-privilege kubeconfig (Path)
``cluster.registry``             "127.0.0.1:5000"
``cluster.real_node``            name of the real node ("local-node-0")
``cluster.kwok_nodes``           names of the simulated nodes
``cluster.kubectl``              path of the kubectl binary matching the cluster
``cluster.env``                  os.environ plus KUBECONFIG=<admin kubeconfig>
``cluster.real_node_selector``   nodeSelector for the real node
``cluster.kwok_node_selector``, ``cluster.kwok_toleration``  to land on kwok nodes
``cluster.kwok_fail_annotation`` pod annotation making kwok pods wait with a reason
``cluster.kubectl_run(*args, deployer=False, input=None, check=True, timeout=120)``
``cluster.kubectl_json(*args, deployer=False)`` -> parsed ``-o json`` output
``cluster.apply(manifest, namespace=None, deployer=False)``  server-side apply
``service_account_kubeconfig(cluster, namespace, sa, path)``  kubeconfig with a short-lived SA token
``sa_kubeconfig`` fixture: ``sa_kubeconfig(namespace, sa)`` -> Path of such a kubeconfig
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CLUSTER_SH = ROOT / "hack" / "local-cluster" / "cluster.sh"


@dataclass(frozen=True)
class Cluster:
    """The running local cluster. See hack/local-cluster/README.md."""

    # Label/taint scheme and kwok failure marker of the local cluster.
    real_node_selector: ClassVar[dict[str, str]] = {"node-role/real": "true"}
    kwok_node_selector: ClassVar[dict[str, str]] = {"type": "kwok"}
    kwok_toleration: ClassVar[dict[str, str]] = {
        "key": "kwok.x-k8s.io/node",
        "operator": "Exists",
        "effect": "NoSchedule",
    }
    kwok_fail_annotation: ClassVar[str] = "local-cluster/fail"

    root: Path
    state_dir: Path
    kubeconfig: Path
    deployer_kubeconfig: Path
    registry: str
    real_node: str
    kwok_nodes: tuple[str, ...]
    kubectl: str
    crictl: str
    containerd_sock: str
    k8s_version: str
    env: dict[str, str] = field(repr=False)

    def kubectl_run(
        self,
        *args: str,
        deployer: bool = False,
        input: str | None = None,  # noqa: A002 - mirrors subprocess.run
        check: bool = True,
        timeout: float = 120,
    ) -> subprocess.CompletedProcess[str]:
        """Run kubectl with the admin (default) or the deployer kubeconfig."""
        config = self.deployer_kubeconfig if deployer else self.kubeconfig
        cmd = [self.kubectl, "--kubeconfig", str(config), *args]
        proc = subprocess.run(
            cmd,
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=self.env,
            check=False,
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"kubectl {' '.join(args)} failed ({proc.returncode}):\nstdout: {proc.stdout}\nstderr: {proc.stderr}"
            )
        return proc

    def kubectl_json(self, *args: str, deployer: bool = False, timeout: float = 120) -> Any:
        return json.loads(self.kubectl_run(*args, "-o", "json", deployer=deployer, timeout=timeout).stdout)

    def service_account_kubeconfig(
        self, namespace: str, service_account: str, path: Path, duration: str = "1h"
    ) -> Path:
        """See the module function of the same name (reachable from any test through ``cluster``)."""
        return service_account_kubeconfig(self, namespace, service_account, path, duration)

    def apply(
        self,
        manifest: str | dict | list,
        namespace: str | None = None,
        deployer: bool = False,
        timeout: float = 120,
    ) -> subprocess.CompletedProcess[str]:
        """Server-side apply a YAML/JSON string, a dict or a list of dicts."""
        if isinstance(manifest, (dict, list)):
            items = manifest if isinstance(manifest, list) else [manifest]
            manifest = json.dumps({"apiVersion": "v1", "kind": "List", "items": items})
        args = [
            "apply",
            "--server-side",
            "--field-manager",
            "integration-tests",
            "-f",
            "-",
        ]
        if namespace:
            args[0:0] = ["-n", namespace]
        return self.kubectl_run(*args, deployer=deployer, input=manifest, timeout=timeout)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "cluster_restart: takes the local cluster down and up again; runs after all other tests",
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the tests that restart the cluster last, so they disturb no other test."""
    items.sort(key=lambda item: item.get_closest_marker("cluster_restart") is not None)


def _read_env(output: str) -> dict[str, str]:
    values = {}
    for line in output.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            values[key.strip()] = value.strip()
    return values


@pytest.fixture(scope="session")
def cluster() -> Cluster:
    """Bring the local cluster up once per session (idempotent) and describe it."""
    env = dict(os.environ)
    # CI starts `cluster.sh build` in the background; wait for it (a cold build
    # takes 15-25 minutes) rather than failing on the lock.
    env.setdefault("CLUSTER_LOCK_WAIT", "3600")
    up = subprocess.run(
        [str(CLUSTER_SH), "up"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=int(env["CLUSTER_LOCK_WAIT"]) + 1800,
        check=False,
    )
    if up.returncode != 0:
        pytest.fail(
            f"hack/local-cluster/cluster.sh up failed ({up.returncode}):\n{up.stdout[-4000:]}\n{up.stderr[-8000:]}",
            pytrace=False,
        )
    info = _read_env(
        subprocess.run(
            [str(CLUSTER_SH), "env"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    kube_env = dict(env)
    kube_env["KUBECONFIG"] = info["KUBECONFIG"]
    kwok = int(info.get("KWOK_NODES") or 0)
    return Cluster(
        root=ROOT,
        state_dir=Path(info["STATE_DIR"]),
        kubeconfig=Path(info["KUBECONFIG"]),
        deployer_kubeconfig=Path(info["DEPLOYER_KUBECONFIG"]),
        registry=info["REGISTRY"],
        real_node=info["REAL_NODE"],
        kwok_nodes=tuple(f"kwok-node-{i}" for i in range(kwok)),
        kubectl=info["KUBECTL"],
        crictl=info["CRICTL"],
        containerd_sock=info["CONTAINERD_SOCK"],
        k8s_version=info["K8S_VERSION"],
        env=kube_env,
    )


def deployer_rolebinding(namespace: str) -> dict:
    """The RoleBinding cluster.sh creates in app namespaces for the deployer."""
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": "platform-deployer", "namespace": namespace},
        "subjects": [
            {
                "kind": "ServiceAccount",
                "name": "deployer",
                "namespace": "platform-system",
            }
        ],
        "roleRef": {
            "kind": "ClusterRole",
            "name": "platform-deployer",
            "apiGroup": "rbac.authorization.k8s.io",
        },
    }


def service_account_kubeconfig(
    cluster: Cluster,
    namespace: str,
    service_account: str,
    path: Path,
    duration: str = "1h",
) -> Path:
    """A kubeconfig at ``path`` (mode 0600) that authenticates as ServiceAccount
    ``namespace/service_account`` with a short-lived token the admin requests
    (``kubectl create token``); server and CA come from the admin kubeconfig."""
    admin = yaml.safe_load(cluster.kubeconfig.read_text())
    server = admin["clusters"][0]["cluster"]
    token = cluster.kubectl_run(
        "-n", namespace, "create", "token", service_account, f"--duration={duration}"
    ).stdout.strip()
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "local", "cluster": server}],
        "users": [{"name": service_account, "user": {"token": token}}],
        "contexts": [
            {
                "name": service_account,
                "context": {
                    "cluster": "local",
                    "user": service_account,
                    "namespace": namespace,
                },
            }
        ],
        "current-context": service_account,
    }
    path.touch(mode=0o600)
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture(scope="session")
def sa_kubeconfig(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory):
    """``sa_kubeconfig(namespace, service_account, duration="1h") -> Path``: see service_account_kubeconfig."""
    folder = tmp_path_factory.mktemp("sa-kubeconfigs")

    def make(namespace: str, service_account: str, duration: str = "1h") -> Path:
        path = folder / f"{namespace}-{service_account}.kubeconfig"
        return service_account_kubeconfig(cluster, namespace, service_account, path, duration)

    return make


def _namespace_name(nodeid: str) -> str:
    base = re.sub(r"[^a-z0-9]+", "-", nodeid.split("::")[-1].lower()).strip("-")
    return f"it-{base[:40].strip('-')}-{uuid.uuid4().hex[:6]}"


@pytest.fixture
def namespace(cluster: Cluster, request: pytest.FixtureRequest):
    """A fresh namespace (admin-created) where the deployer ServiceAccount is bound."""
    name = _namespace_name(request.node.nodeid)
    cluster.apply(
        [
            {
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {"name": name, "labels": {"local-cluster/test": "true"}},
            },
            deployer_rolebinding(name),
        ]
    )
    # Pods can only be created once the namespace's default ServiceAccount
    # exists, and the deployer only once the RoleBinding reached the authorizer.
    ready_checks = {
        f"ServiceAccount {name}/default": lambda: cluster.kubectl_run(
            "-n", name, "get", "serviceaccount", "default", check=False
        ),
        f"the deployer's RoleBinding in {name}": lambda: cluster.kubectl_run(
            "auth",
            "can-i",
            "create",
            "deployments.apps",
            "-n",
            name,
            deployer=True,
            check=False,
        ),
    }
    for what, check in ready_checks.items():
        deadline = time.monotonic() + 60
        while check().returncode:
            if time.monotonic() > deadline:
                raise AssertionError(f"{what} not effective within 60 s")
            time.sleep(0.5)
    yield name
    # Do not wait: the namespace controller finishes in the background.
    cluster.kubectl_run("delete", "namespace", name, "--wait=false", "--ignore-not-found", check=False)


def _run_checked(cmd: list[str], timeout: float) -> None:
    done = subprocess.run(
        cmd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "DOCKER_BUILDKIT": "0"},
        check=False,
    )
    if done.returncode:
        raise AssertionError(
            f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        )


@pytest.fixture(scope="session")
def backend_image(cluster: Cluster) -> str:
    """The demo backend (examples/demo-app/backend) built on the local Debian Python base image
    and pushed to the local registry, once per session."""
    started = time.monotonic()
    # A no-op when the registry already has the current base image.
    _run_checked([str(ROOT / "hack" / "base-images" / "build.sh"), "python"], 1800)
    base = f"{cluster.registry}/base/debian-python:bookworm"
    tag = f"{cluster.registry}/it-demo/backend:{uuid.uuid4().hex[:8]}"
    _run_checked(
        [
            "docker",
            "build",
            "-q",
            "--build-arg",
            f"BUILD_IMAGE={base}",
            "--build-arg",
            f"RUNTIME_IMAGE={base}",
            "-t",
            tag,
            str(ROOT / "examples" / "demo-app" / "backend"),
        ],
        900,
    )
    for attempt in range(3):  # the shared local registry hiccups under parallel pushes
        try:
            _run_checked(["docker", "push", "-q", tag], 300)
            break
        except AssertionError:
            if attempt == 2:
                raise
            time.sleep(3)
    print(f"\nbackend image {tag} built and pushed in {time.monotonic() - started:.0f} s")
    return tag


def registry_has(registry: str, repository: str, tag: str) -> bool:
    """True when the local registry serves ``repository:tag``."""
    import urllib.error
    import urllib.request

    request = urllib.request.Request(
        f"http://{registry}/v2/{repository}/manifests/{tag}",
        method="HEAD",
        headers={
            "Accept": "application/vnd.docker.distribution.manifest.v2+json, "
            "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json"
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=10):  # noqa: S310 - the local registry
            return True
    except urllib.error.HTTPError:
        return False


def build_demo_image(registry: str, repository: str, component: str, version: str) -> str:
    """What CI does: build the demo component at ``version`` on the local base images and push the tag."""
    base = f"{registry}/base"
    runtime = "debian-nginx" if component == "frontend" else "debian-python"
    tag = f"{registry}/{repository}/{component}:{version}"
    _run_checked(
        [
            "docker",
            "build",
            "-q",
            "--build-arg",
            f"BUILD_IMAGE={base}/debian-python:bookworm",
            "--build-arg",
            f"RUNTIME_IMAGE={base}/{runtime}:bookworm",
            "--build-arg",
            f"APP_VERSION={version}",
            "--build-arg",
            "APP_COMMIT=tests",
            "-t",
            tag,
            str(ROOT / "examples" / "demo-app" / component),
        ],
        900,
    )
    _run_checked(["docker", "push", "-q", tag], 300)
    return tag


@pytest.fixture(scope="session")
def demo_images(cluster: Cluster) -> dict[tuple[str, str], str]:
    """The demo's images 1.0.0 and 2.0.0 in the local registry (intelligent-agent/<component>:<version>), as
    `make demo` leaves them; what is missing (a fresh machine) is built and pushed once per session.
    Returns (component, version) -> tag."""
    started, built = time.monotonic(), []
    tags = {}
    for version in ("1.0.0", "2.0.0"):
        for component in ("frontend", "backend"):
            tag = f"{cluster.registry}/intelligent-agent/{component}:{version}"
            if not registry_has(cluster.registry, f"intelligent-agent/{component}", version):
                if not built:
                    _run_checked([str(ROOT / "hack" / "base-images" / "build.sh")], 1800)
                build_demo_image(cluster.registry, "intelligent-agent", component, version)
                built.append(f"{component}:{version}")
            tags[(component, version)] = tag
    if built:
        print(f"\ndemo images built and pushed ({', '.join(built)}) in {time.monotonic() - started:.0f} s")
    return tags


@pytest.fixture(scope="session")
def demo_image_builder():
    """build(registry, repository, component, version) -> tag: the demo component built and pushed as CI would."""
    return build_demo_image
