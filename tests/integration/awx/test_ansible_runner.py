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
from pathlib import Path

import pytest
import yaml

ansible_runner = pytest.importorskip("ansible_runner")

pytestmark = pytest.mark.timeout(900)

# The local demo app deployed by these tests (images built from the same sources as `make demo`).
COMPONENTS = "backend"


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


def awx_inventory(root: Path, dest: Path, namespace: str) -> None:
    """The environment's inventory as an AWX inventory sync would hold it for this test.

    hosts.yml and group_vars come from inventories/local, with three job-specific changes: no
    platform_kubeconfig (the credential's K8S_AUTH_* variables reach the cluster instead), the test's
    namespace, and ClusterIP Services (the local NodePorts belong to the demo).
    """
    shutil.copytree(root / "inventories" / "local", dest, ignore=shutil.ignore_patterns("vault-password.txt"))
    main = dest / "group_vars" / "all" / "main.yml"
    data = yaml.safe_load(main.read_text(encoding="utf-8"))
    data.pop("platform_kubeconfig", None)
    data.pop("platform_context", None)
    data["platform_namespace"] = namespace
    for override in (data.get("app_component_overrides") or {}).values():
        if isinstance(override, dict) and "service" in override:
            override["service"] = {key: value for key, value in override["service"].items() if key != "node_port"}
            override["service"]["type"] = "ClusterIP"
    main.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


class AwxJob:
    """A private_data_dir laid out like AWX's, and a way to run one playbook in it."""

    def __init__(self, root: Path, base: Path, credential_kubeconfig: Path, namespace: str, template_vars: dict):
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
            assert isinstance(value, str), "survey answers of text questions are strings"
        (pdd / "env" / "extravars").write_text(json.dumps({**self.template_vars, **answers}), encoding="utf-8")
        envvars = bearer_token_credential(self.kubeconfig, pdd / "env")
        (pdd / "env" / "envvars").write_text(json.dumps(envvars), encoding="utf-8")
        home = self.base / "home"
        home.mkdir(exist_ok=True)
        # No kubeconfig can be found: no KUBECONFIG, an empty HOME (~/.kube/config does not exist).
        monkeypatch.delenv("KUBECONFIG", raising=False)
        monkeypatch.delenv("K8S_AUTH_KUBECONFIG", raising=False)
        monkeypatch.setenv("HOME", str(home))
        monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
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


def _deployment_version(cluster, namespace, name):
    deployment = cluster.kubectl_json("-n", namespace, "get", "deployment", name)
    return deployment["metadata"]["labels"].get("app.kubernetes.io/version"), deployment


def test_deploy_then_rollback_through_ansible_runner(awx_job, cluster, namespace, monkeypatch):
    runner, stdout, envvars = awx_job.run(
        "playbooks/deploy.yml", {"platform_version": "1.0.0", "platform_components": COMPONENTS, "image_build": "true"}, monkeypatch
    )
    assert runner.status == "successful", stdout[-6000:]
    assert envvars["K8S_AUTH_API_KEY"] not in stdout, "the bearer token leaked into the job output"
    assert _deployment_version(cluster, namespace, COMPONENTS)[0] == "1.0.0"

    runner, stdout, unused_envvars = awx_job.run(
        "playbooks/deploy.yml", {"platform_version": "1.0.1", "platform_components": COMPONENTS, "image_build": "true"}, monkeypatch
    )
    assert runner.status == "successful", stdout[-6000:]
    assert _deployment_version(cluster, namespace, COMPONENTS)[0] == "1.0.1"

    runner, stdout, unused_envvars = awx_job.run(
        "playbooks/rollback.yml", {"revision": "", "version": "1.0.0", "platform_components": COMPONENTS}, monkeypatch
    )
    assert runner.status == "successful", stdout[-6000:]
    assert _deployment_version(cluster, namespace, COMPONENTS)[0] == "1.0.0"


def test_deploy_without_a_version_answer_fails_naming_it(awx_job, monkeypatch):
    runner, stdout, unused_envvars = awx_job.run("playbooks/deploy.yml", {"platform_components": COMPONENTS, "image_build": "false"}, monkeypatch)
    assert runner.status == "failed"
    assert "platform_version" in stdout, stdout[-4000:]
