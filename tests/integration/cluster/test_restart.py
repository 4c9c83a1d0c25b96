"""Issue 3/4: cluster-down stops everything it started; cluster-up warm-starts.

It takes the whole cluster down, which would pull the rug from under other
tests' session fixtures (port-forwards, runners), so it runs only when asked,
in a pytest session of its own (CI does this after `make test`):

    CLUSTER_RESTART_TEST=1 .venv/bin/pytest -q tests/integration/cluster/test_restart.py

Marked ``cluster_restart``: tests/integration/conftest.py also orders it last.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.cluster_restart,
    pytest.mark.skipif(
        os.environ.get("CLUSTER_RESTART_TEST") != "1",
        reason="takes the cluster down; run alone with CLUSTER_RESTART_TEST=1",
    ),
]

# Clients in the cache (make bench's helm among them), not daemons `down` must stop.
CLIENT_TOOLS = {"kubectl", "crictl", "helm"}
CLUSTER_SH = Path(__file__).resolve().parents[3] / "hack" / "local-cluster" / "cluster.sh"


def _recorded(state_dir: Path) -> dict[str, int]:
    pids = {}
    for pidfile in (state_dir / "pids").glob("*.pid"):
        text = pidfile.read_text().strip()
        if text.isdigit():
            pids[pidfile.stem] = int(text)
    return pids


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _processes_using(exes: list[str], fragments: list[str]) -> list[str]:
    """Processes running one of EXES, or whose command line contains a FRAGMENT."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            exe = os.readlink(proc / "exe")
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        exe = exe.removesuffix(" (deleted)")
        if exe in exes or any(f in cmdline for f in fragments):
            found.append(f"{proc.name}: {cmdline[:200]}")
    return found


def _run(*args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CLUSTER_SH), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture
def restores_cluster():
    """Whatever the test asserts, leave the cluster up for whoever comes next."""
    yield
    _run("up", timeout=900)


def test_cluster_down_stops_everything_and_warm_up_is_under_60s(cluster, restores_cluster):
    before = _recorded(cluster.state_dir)
    expected = {
        "etcd",
        "kube-apiserver",
        "kube-controller-manager",
        "kube-scheduler",
        "kwok",
    }
    expected |= {"dockerd", "registry"}
    if cluster.real_node:
        expected |= {"containerd", "kubelet", "kube-proxy", "coredns"}
        # NetworkPolicy enforcer, metrics API and exporters (hack/local-cluster/lib/).
        expected |= {
            "kube-router",
            "metrics-server",
            "kube-state-metrics",
            "node-exporter",
        }
    assert expected <= set(before), sorted(before)

    down = _run("down", timeout=600)
    assert down.returncode == 0, down.stderr[-4000:]

    still = {name: pid for name, pid in before.items() if _alive(pid)}
    assert still == {}, f"still running after cluster-down: {still}"
    # Daemons built into the cache (clients excluded) and
    # containerd shims of the real node.
    cache = Path(cluster.kubectl).parents[2]  # ~/.cache/intelligent-agent-platform
    daemons = [str(p) for p in cache.glob("*/bin/*") if p.name not in CLIENT_TOOLS and not p.name.startswith(".")]
    leftovers = _processes_using(daemons, [cluster.containerd_sock])
    assert leftovers == [], leftovers
    assert not Path("/sys/class/net/cni0").exists(), "cni0 bridge left behind"
    rules = subprocess.run(["iptables-save"], capture_output=True, text=True, check=True, timeout=60).stdout
    assert [line for line in rules.splitlines() if "KUBE-" in line] == []
    ipsets = subprocess.run(["ipset", "list", "-n"], capture_output=True, text=True, check=True, timeout=60).stdout
    assert [name for name in ipsets.split() if name.startswith("KUBE-")] == []
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True, timeout=60).stdout
    assert [line for line in netns.splitlines() if line.startswith("cni-")] == []
    status = _run("status", timeout=120)
    assert status.returncode != 0

    start = time.monotonic()
    up = _run("up", timeout=600)
    elapsed = time.monotonic() - start
    assert up.returncode == 0, up.stderr[-4000:]
    assert f"export KUBECONFIG={cluster.kubeconfig}" in up.stdout
    assert elapsed < 60, f"warm start took {elapsed:.1f} s"
    assert cluster.kubectl_run("get", "--raw", "/readyz").stdout.strip() == "ok"
    assert _run("status", timeout=120).returncode == 0
