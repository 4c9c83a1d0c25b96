"""deploy.yml and rollback.yml run the way AWX runs them: ansible-runner, survey answers as string
extra vars, Kubernetes credentials as K8S_AUTH_* environment variables and no kubeconfig anywhere.

The private data directory is laid out as AWX lays it out for a job:
  project/          the project checkout (a symlink to this repository: playbooks/, ansible.cfg, roles)
  inventory/        the environment's inventory (hosts.yml + group_vars from inventories/local)
  env/extravars     survey answers (strings, as the survey sends them) + the job template's extra vars
  env/envvars       what the "OpenShift or Kubernetes API Bearer Token" credential injects
  env/<ca file>     the CA certificate AWX writes for K8S_AUTH_SSL_CA_CERT
HOME points at an empty folder and KUBECONFIG is unset, so only the K8S_AUTH_* variables can reach
the cluster, with the least-privilege deployer ServiceAccount token.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

ansible_runner = pytest.importorskip("ansible_runner")

pytestmark = pytest.mark.timeout(900)

# The local demo app deployed by these tests (images built from the same sources as `make demo`).
COMPONENTS = "frontend,backend"


def bearer_token_credential(kubeconfig: Path, env_dir: Path) -> dict[str, str]:
    """What AWX's bearer-token credential injects, built from the deployer kubeconfig."""
    config = yaml.safe_load(kubeconfig.read_text(encoding="utf-8"))
    current = config.get("current-context") or config["contexts"][0]["name"]
    context = next(c["context"] for c in config["contexts"] if c["name"] == current)
    cluster = next(c["cluster"] for c in config["clusters"] if c["name"] == context["cluster"])
    user = next(u["user"] for u in config["users"] if u["name"] == context["user"])
    token = user.get("token") or Path(user["tokenFile"]).read_text(encoding="utf-8").strip()
    if "certificate-authority-data" in cluster:
        ca_pem = base64.b64decode(cluster["certificate-authority-data"]).decode()
    else:
        ca_pem = Path(cluster["certificate-authority"]).read_text(encoding="utf-8")
    env_dir.mkdir(parents=True, exist_ok=True)
    ca_file = env_dir / "tmp_k8s_ca"  # AWX: tempfile.mkstemp(dir=<private_data_dir>/env), mode 0600
    ca_file.write_text(ca_pem, encoding="utf-8")
    ca_file.chmod(0o600)
    assert token and cluster["server"].startswith("https://"), "deployer kubeconfig without token or https server"
    return {
        "K8S_AUTH_HOST": cluster["server"],
        "K8S_AUTH_API_KEY": token,
        "K8S_AUTH_VERIFY_SSL": "True",
        "K8S_AUTH_SSL_CA_CERT": str(ca_file),
    }


REGISTRY = "127.0.0.1:5000"
BASE_IMAGES = f"{REGISTRY}/base"
# The image role's settings for the local registry and base images (when the inventory lacks them).
LOCAL_IMAGE_VARS = {
    "image_component_overrides": {
        "frontend": {
            "build_args": {
                "BUILD_IMAGE": f"{BASE_IMAGES}/debian-python:bookworm",
                "RUNTIME_IMAGE": f"{BASE_IMAGES}/debian-nginx:bookworm",
            }
        },
        "backend": {
            "build_args": {
                "BUILD_IMAGE": f"{BASE_IMAGES}/debian-python:bookworm",
                "RUNTIME_IMAGE": f"{BASE_IMAGES}/debian-python:bookworm",
            }
        },
    },
}


def awx_inventory(root: Path, dest: Path, namespace: str) -> None:
    """The environment's inventory as an AWX inventory sync would hold it for this test.

    hosts.yml and group_vars come from inventories/local, with job-specific changes: no
    platform_kubeconfig (the credential's K8S_AUTH_* variables reach the cluster instead), the test's
    namespace (made by the cluster admin, so namespace_create is false), its own image repositories
    (127.0.0.1:5000/<namespace>/<component>, so versions never collide with the demo's), and ClusterIP Services
    (the local NodePorts belong to the demo).
    """
    shutil.copytree(
        root / "inventories" / "local",
        dest,
        ignore=shutil.ignore_patterns("vault-password.txt"),
    )
    main = dest / "group_vars" / "all" / "main.yml"
    data = yaml.safe_load(main.read_text(encoding="utf-8"))
    data.pop("platform_kubeconfig", None)
    data.pop("platform_context", None)
    data["platform_namespace"] = namespace
    # The deployer token is namespaced: the namespace, its quota, limits and RBAC and the cluster-scoped
    # issuers are the cluster admin's part (docs/awx.md), as with any namespaced AWX credential.
    data.update(
        {
            "namespace_create": False,
            "namespace_resource_quota_enabled": False,
            "namespace_limit_range_enabled": False,
            "namespace_deployer_enabled": False,
            "app_cluster_issuers_enabled": False,
            "app_optional_apis": {
                "vpa": False,
                "cert_manager": False,
                "custom_metrics": "auto",
            },
        }
    )
    for key, value in LOCAL_IMAGE_VARS.items():
        data.setdefault(key, value)
    data["image_registry"] = REGISTRY
    data["image_namespace"] = namespace
    data["app_image_registry"] = f"{REGISTRY}/{namespace}"
    for override in (data.get("app_component_overrides") or {}).values():
        if isinstance(override, dict) and "service" in override:
            override["service"] = {key: value for key, value in override["service"].items() if key != "node_port"}
            override["service"]["type"] = "ClusterIP"
    main.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


class AwxJob:
    """A private_data_dir laid out like AWX's, and a way to run one playbook in it."""

    def __init__(
        self,
        root: Path,
        base: Path,
        credential_kubeconfig: Path,
        namespace: str,
        template_vars: dict,
    ):
        self.root = root
        self.base = base
        self.kubeconfig = credential_kubeconfig
        self.namespace = namespace
        self.template_vars = template_vars
        self.runs = 0

    def run(self, playbook: str, answers: dict[str, str], monkeypatch: pytest.MonkeyPatch):
        self.runs += 1
        pdd = self.base / f"job{self.runs}"
        (pdd / "env").mkdir(parents=True)
        (pdd / "project").symlink_to(self.root, target_is_directory=True)
        awx_inventory(self.root, pdd / "inventory", self.namespace)
        for value in answers.values():
            assert isinstance(value, (str, int)), "survey answers are strings (text, choices) or integers"
        (pdd / "env" / "extravars").write_text(json.dumps({**self.template_vars, **answers}), encoding="utf-8")
        envvars = bearer_token_credential(self.kubeconfig, pdd / "env")
        (pdd / "env" / "envvars").write_text(json.dumps(envvars), encoding="utf-8")
        home = self.base / "home"
        home.mkdir(exist_ok=True)
        # No kubeconfig can be found: no KUBECONFIG, an empty HOME (~/.kube/config does not exist).
        monkeypatch.delenv("KUBECONFIG", raising=False)
        monkeypatch.delenv("K8S_AUTH_KUBECONFIG", raising=False)
        monkeypatch.setenv("HOME", str(home))
        monkeypatch.setenv(
            "PATH",
            f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        )
        started = time.monotonic()
        runner = ansible_runner.run(private_data_dir=str(pdd), playbook=playbook, quiet=True, timeout=600)
        elapsed = time.monotonic() - started
        stdout = runner.stdout.read() if runner.stdout else ""
        print(f"\nansible-runner {playbook} {answers}: status={runner.status} rc={runner.rc} in {elapsed:.1f}s")
        assert not (home / ".kube").exists()
        return runner, stdout, envvars


@pytest.fixture
def awx_job(cluster, namespace, tmp_path):
    template_vars = {
        # Extra vars set on the job template (not asked in the survey).
        "platform_backup_dir": str(tmp_path / "backups"),
        # What AWX adds to every job's extra vars.
        "awx_job_id": 4242,
        "awx_job_template_name": "Intelligent Agent | local | Deploy",
        "awx_user_name": "awx-test-operator",
        "awx_inventory_name": "Intelligent Agent | local",
        "awx_project_scm_branch": "main",
    }
    return AwxJob(cluster.root, tmp_path, cluster.deployer_kubeconfig, namespace, template_vars)


MANIFEST_TYPES = ", ".join(
    (
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    )
)


def _registry_get(path: str, accept: str | None = None):
    request = urllib.request.Request(f"http://{REGISTRY}/v2/{path}", headers={"Accept": accept} if accept else {})
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - local registry
        return response.headers, json.loads(response.read())


def registry_image(repository: str, reference: str) -> tuple[str, str]:
    """(digest, baked version label) of repository:reference in the local registry."""
    headers, manifest = _registry_get(f"{repository}/manifests/{reference}", MANIFEST_TYPES)
    unused_headers, config = _registry_get(f"{repository}/blobs/{manifest['config']['digest']}")
    labels = (config.get("config") or {}).get("Labels") or {}
    return headers["Docker-Content-Digest"], labels.get("org.opencontainers.image.version", "")


def assert_serving(cluster, namespace: str, version: str) -> dict[str, str]:
    """Every component runs `version`, by the digest the registry holds for that tag; returns the digests."""
    digests = {}
    for component in COMPONENTS.split(","):
        deployment = cluster.kubectl_json("-n", namespace, "get", "deployment", component)
        label = deployment["metadata"]["labels"].get("app.kubernetes.io/version")
        image = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
        tag_digest, baked = registry_image(f"{namespace}/{component}", version)
        print(f"{component}: label={label} image={image} registry {version}={tag_digest} baked={baked}")
        assert label == version, f"{component} is labelled {label}, expected {version}"
        assert image.endswith(f"@{tag_digest}"), (
            f"{component} runs {image}, but the registry's {namespace}/{component}:{version} is {tag_digest}"
        )
        assert baked == version, f"{namespace}/{component}:{version} holds an image built for version {baked}"
        digests[component] = tag_digest
    return digests


def test_deploy_then_rollback_through_ansible_runner(awx_job, cluster, namespace, monkeypatch):
    started = time.monotonic()
    runner, stdout, envvars = awx_job.run(
        "playbooks/deploy.yml",
        {
            "platform_version": "1.0.0",
            "platform_components": COMPONENTS,
            "image_build": "true",
        },
        monkeypatch,
    )
    assert runner.status == "successful", stdout[-6000:]
    assert envvars["K8S_AUTH_API_KEY"] not in stdout, "the bearer token leaked into the job output"
    first = assert_serving(cluster, namespace, "1.0.0")

    # A second version from the same commit must be a new image, deployed by its own digest.
    runner, stdout, unused_envvars = awx_job.run(
        "playbooks/deploy.yml",
        {
            "platform_version": "1.0.1",
            "platform_components": COMPONENTS,
            "image_build": "true",
        },
        monkeypatch,
    )
    assert runner.status == "successful", stdout[-6000:]
    second = assert_serving(cluster, namespace, "1.0.1")
    assert all(first[name] != second[name] for name in first), f"1.0.1 reuses 1.0.0's images: {first} {second}"

    runner, stdout, unused_envvars = awx_job.run(
        "playbooks/rollback.yml",
        {"revision": "", "version": "1.0.0", "platform_components": COMPONENTS},
        monkeypatch,
    )
    assert runner.status == "successful", stdout[-6000:]
    assert assert_serving(cluster, namespace, "1.0.0") == first

    # The History template: an integer survey answer arrives as an integer.
    runner, stdout, unused_envvars = awx_job.run(
        "playbooks/history.yml", {"platform_components": COMPONENTS, "history_limit": 10}, monkeypatch
    )
    assert runner.status == "successful", stdout[-6000:]
    for expected in ("1.0.0", "1.0.1", "awx-test-operator"):
        assert expected in stdout, f"the history does not mention {expected}:\n{stdout[-4000:]}"
    print(f"AWX-style deploy 1.0.0, deploy 1.0.1, rollback to 1.0.0: {time.monotonic() - started:.1f}s")


def test_deploy_without_a_version_answer_fails_naming_it(awx_job, cluster, namespace, monkeypatch):
    runner, stdout, unused_envvars = awx_job.run(
        "playbooks/deploy.yml",
        {"platform_components": COMPONENTS, "image_build": "false"},
        monkeypatch,
    )
    assert runner.status == "failed"
    failures = [event["event_data"] for event in runner.events if event.get("event") == "runner_on_failed"]
    assert failures, stdout[-4000:]
    message = str(failures[0].get("res", {}).get("msg", ""))
    print(f"failed task: {failures[0].get('task')}: {message}")
    assert "platform_version" in message, stdout[-4000:]
    # It failed before touching the cluster: nothing was deployed in the namespace.
    deployments = cluster.kubectl_json("-n", namespace, "get", "deployments")
    assert deployments["items"] == []
