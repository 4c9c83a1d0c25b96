"""The four ways of deploying the same release that make bench compares, each in a namespace of its own:

deploy.yml        the collection's playbook (-e image_build=false: the images are in the local registry)
kubectl           kubectl set image + kubectl rollout status (undo on failure)
helm              helm upgrade --wait over a chart made from the rendered manifests (--rollback-on-failure)
kubernetes.core   one kubernetes.core.k8s task with wait: true over the same manifests (k8s_rollback on failure)

Every peer starts a command and returns a running Proc; the driver times it and watches the namespace.
"""

from __future__ import annotations

import json
from pathlib import Path

from bench.cluster import ROOT, VENV_BIN, Kube, Proc
from bench.timeline import ansible_failure_time, first_line_time

COMPONENTS = ("frontend", "backend")
RELEASE = "intelligent-agent"


def with_version(docs: list[dict], template_version: str, version: str) -> list[dict]:
    """The rendered manifests with every occurrence of the template's version (image tags and the
    app.kubernetes.io/version labels, which is all a version changes in them) replaced."""
    return json.loads(json.dumps(docs).replace(template_version, version))


# Objects a workload depends on come before it (as Helm installs them). kubernetes.core.k8s with wait: true
# applies and waits object by object, so in the collection's rendered order (frontend Deployment, then the
# backend's Service) the frontend's nginx would wait for ever for a backend name that does not resolve yet.
KIND_ORDER = (
    "Namespace",
    "ResourceQuota",
    "LimitRange",
    "NetworkPolicy",
    "ServiceAccount",
    "Role",
    "RoleBinding",
    "Secret",
    "ConfigMap",
    "Service",
    "PodDisruptionBudget",
    "Deployment",
    "HorizontalPodAutoscaler",
    "Ingress",
)


def by_kind(docs: list[dict]) -> list[dict]:
    """The objects in KIND_ORDER (unknown kinds last), keeping the order within a kind."""

    def rank(doc: dict) -> int:
        kind = doc.get("kind", "")
        return KIND_ORDER.index(kind) if kind in KIND_ORDER else len(KIND_ORDER)

    return sorted(docs, key=rank)


def write_chart(directory: Path, docs: list[dict], template_version: str) -> None:
    """A Helm chart whose one template is the rendered manifests, the version as a value (as a chart
    author would write it): `helm upgrade --set version=X` then changes exactly what a release changes."""
    text = "\n---\n".join(json.dumps(doc, indent=1) for doc in docs if doc["kind"] != "Namespace")
    if "{{" in text:
        raise ValueError("the rendered manifests contain '{{': they cannot be a Helm template as they are")
    (directory / "templates").mkdir(parents=True, exist_ok=True)
    (directory / "Chart.yaml").write_text(
        "apiVersion: v2\nname: intelligent-agent-bench\nversion: 0.1.0\n"
        "description: The platform's rendered manifests (make bench)\n"
    )
    (directory / "values.yaml").write_text(f"version: {json.dumps(template_version)}\n")
    template = directory / "templates" / "platform.yaml"
    template.write_text(text.replace(template_version, "{{ .Values.version }}"))
    template.chmod(0o600)  # the rendered Secret is in it


class Peer:
    key = ""

    def __init__(self, kube: Kube, namespace: str, logdir: Path):
        self.kube, self.namespace, self.logdir = kube, namespace, logdir
        self.count = 0

    def _start(self, what: str, cmd: list[str]) -> Proc:
        self.count += 1
        log = self.logdir / f"{self.namespace}-{self.count:02d}-{what}.log"
        return Proc(f"{self.key} {what}", cmd, self.kube.env, log)

    def failure_time(self, proc: Proc) -> float | None:
        """When the peer reported the failure (default: when its command ended)."""
        return proc.ended


class DeployPlaybook(Peer):
    """playbooks/deploy.yml -i inventories/local, in its own namespace and NodePorts."""

    key = "deploy.yml"

    def __init__(self, kube: Kube, namespace: str, logdir: Path, base_vars: dict):
        super().__init__(kube, namespace, logdir)
        self.base_vars = base_vars

    def deploy(self, version: str, what: str = "deploy") -> Proc:
        varsfile = self.logdir / f"{self.namespace}-vars-{self.count + 1:02d}.json"
        varsfile.write_text(json.dumps(dict(self.base_vars, platform_version=version)))
        varsfile.chmod(0o600)
        return self._start(
            what,
            [
                str(VENV_BIN / "ansible-playbook"),
                "playbooks/deploy.yml",
                "-i",
                "inventories/local",
                "-e",
                f"@{varsfile}",
            ],
        )

    setup = deploy

    def deploy_failing(self, version: str, timeout: int | None = None) -> Proc:  # noqa: ARG002 - its own wait
        return self.deploy(version, "failing")

    def failure_time(self, proc: Proc) -> float | None:
        return ansible_failure_time(proc.lines)


class Kubectl(Peer):
    """kubectl set image for each component, then kubectl rollout status for each; on failure rollout undo."""

    key = "kubectl"

    def __init__(self, kube: Kube, namespace: str, logdir: Path, images: dict[str, str]):
        super().__init__(kube, namespace, logdir)
        self.images = images  # component -> image reference with the placeholder VERSION

    def _script(self, version: str, timeout: str, undo: bool) -> list[str]:
        kubectl = f"{self.kube.kubectl_bin} -n {self.namespace}"
        lines = ["set -e"]
        for name in COMPONENTS:
            lines.append(
                f"{kubectl} set image deployment/{name} {name}={self.images[name].replace('VERSION', version)}"
            )
        status = " && ".join(f"{kubectl} rollout status deployment/{name} --timeout={timeout}" for name in COMPONENTS)
        if undo:
            names = " ".join(f"deployment/{name}" for name in COMPONENTS)
            lines.append(
                f"if ! {{ {status}; }}; then echo 'ROLLOUT FAILED'; {kubectl} rollout undo {names}; exit 1; fi"
            )
        else:
            lines.append(status)
        return ["bash", "-c", "\n".join(lines)]

    def setup(self, docs: list[dict]) -> Proc:
        manifests = self.logdir / f"{self.namespace}-setup.json"
        manifests.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": docs}))
        manifests.chmod(0o600)
        kubectl = f"{self.kube.kubectl_bin} -n {self.namespace}"
        status = " && ".join(f"{kubectl} rollout status deployment/{name} --timeout=300s" for name in COMPONENTS)
        script = f"set -e\n{kubectl} apply --server-side --field-manager bench-kubectl -f {manifests}\n{status}"
        return self._start("setup", ["bash", "-c", script])

    def deploy(self, version: str) -> Proc:
        return self._start("deploy", self._script(version, "300s", undo=False))

    def deploy_failing(self, version: str, timeout: int | None = 60) -> Proc:
        return self._start("failing", self._script(version, f"{timeout}s", undo=True))

    def failure_time(self, proc: Proc) -> float | None:
        return first_line_time(proc.lines, r"^ROLLOUT FAILED$")


class Helm(Peer):
    """helm upgrade --wait of a chart made from the rendered manifests; --rollback-on-failure when failing."""

    key = "helm"

    def __init__(self, kube: Kube, namespace: str, logdir: Path, helm_bin: str, chart: Path):
        super().__init__(kube, namespace, logdir)
        self.helm_bin, self.chart = helm_bin, chart

    def _cmd(self, verb: str, version: str, extra: list[str]) -> list[str]:
        return [
            self.helm_bin,
            verb,
            RELEASE,
            str(self.chart),
            "-n",
            self.namespace,
            "--set",
            f"version={version}",
            *extra,
        ]

    def setup(self, version: str) -> Proc:
        return self._start("setup", self._cmd("install", version, ["--wait", "--timeout", "5m"]))

    def deploy(self, version: str) -> Proc:
        return self._start("deploy", self._cmd("upgrade", version, ["--wait"]))

    def deploy_failing(self, version: str, timeout: int | None = 60) -> Proc:
        extra = ["--rollback-on-failure"] + (["--timeout", f"{timeout}s"] if timeout else [])
        return self._start("failing", self._cmd("upgrade", version, extra))

    def failure_time(self, proc: Proc) -> float | None:
        # Helm logs the failed upgrade (level WARN) before it rolls back.
        return first_line_time(proc.lines, r"upgrade failed") or proc.ended


class KubernetesCore(Peer):
    """bench/playbooks/k8s_deploy.yml: one kubernetes.core.k8s task, wait: true; k8s_rollback on failure."""

    key = "kubernetes.core"

    def __init__(self, kube: Kube, namespace: str, logdir: Path, manifests: dict[str, Path]):
        super().__init__(kube, namespace, logdir)
        self.manifests = manifests  # version -> JSON file of the rendered manifests

    def _play(self, what: str, version: str, extra: dict) -> Proc:
        variables = {"bench_manifest_file": str(self.manifests[version]), "bench_namespace": self.namespace, **extra}
        return self._start(
            what,
            [
                str(VENV_BIN / "ansible-playbook"),
                str(ROOT / "bench" / "playbooks" / "k8s_deploy.yml"),
                "-e",
                json.dumps(variables),
            ],
        )

    def setup(self, version: str) -> Proc:
        return self._play("setup", version, {})

    def deploy(self, version: str) -> Proc:
        return self._play("deploy", version, {})

    def deploy_failing(self, version: str, timeout: int | None = 60) -> Proc:
        extra = {"bench_rollback": True}
        if timeout:
            extra["bench_wait_timeout"] = timeout
        return self._play("failing", version, extra)

    def failure_time(self, proc: Proc) -> float | None:
        return ansible_failure_time(proc.lines)
