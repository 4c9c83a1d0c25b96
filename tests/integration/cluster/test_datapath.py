"""`cluster.sh up` proves the real node's data path and names the hop that is broken.

A fresh machine once failed `make demo` late, with a health-check timeout, because
pod -> Service traffic was dropped in FORWARD (dockerd's policy DROP, the pod bridge's accept
rules missing). This test recreates exactly that host state and expects `up` itself to stop
with the hop's name, the cause and the fix; then a normal `up` repairs it.

The NetworkPolicy enforcer accepts pod traffic that complies with policies on its own, so the
broken state is made with the enforcer stopped (NETWORK_POLICY=0), as on a cluster whose CNI
ignores policies, and CLUSTER_REPAIR=0 keeps `up` from re-adding the rules.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

CLUSTER_SH = Path(__file__).resolve().parents[3] / "hack" / "local-cluster" / "cluster.sh"
POD_BRIDGE_RULES = (["-i", "cni0", "-j", "ACCEPT"], ["-o", "cni0", "-j", "ACCEPT"])


def _up(**env: str) -> tuple[subprocess.CompletedProcess[str], float]:
    start = time.monotonic()
    done = subprocess.run(
        [str(CLUSTER_SH), "up"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    return done, time.monotonic() - start


def _has_rule(rule: list[str]) -> bool:
    check = ["iptables", "-w", "5", "-C", "FORWARD", *rule]
    return subprocess.run(check, capture_output=True, check=False).returncode == 0


def _delete_rule(rule: list[str]) -> None:
    while _has_rule(rule):
        subprocess.run(["iptables", "-w", "5", "-D", "FORWARD", *rule], check=True)


@pytest.fixture
def repaired_afterwards(cluster):
    """Whatever happens, a normal `up` runs last and must leave a proven data path."""
    yield
    up = _up()[0]
    assert up.returncode == 0, up.stderr[-4000:]


def test_up_names_the_broken_hop_then_repairs_it(cluster, repaired_afterwards):
    if not cluster.real_node:
        pytest.skip("the data path is proven on the real node only")
    policy = subprocess.run(
        ["iptables", "-w", "5", "-S", "FORWARD"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "-P FORWARD DROP" in policy, "dockerd's FORWARD policy DROP is the premise"
    assert all(_has_rule(rule) for rule in POD_BRIDGE_RULES)

    for rule in POD_BRIDGE_RULES:
        _delete_rule(rule)
    broken, broken_seconds = _up(NETWORK_POLICY="0", CLUSTER_REPAIR="0")
    print(f"\nbroken data path reported by `up` after {broken_seconds:.1f} s")

    assert broken.returncode != 0, broken.stderr[-3000:]
    assert "data path broken at hop 'pod -> pod" in broken.stderr, broken.stderr[-3000:]
    assert "no ACCEPT rule for the pod bridge cni0" in broken.stderr
    assert "iptables -A FORWARD -i cni0 -j ACCEPT" in broken.stderr  # the fix is named
    assert not any(_has_rule(rule) for rule in POD_BRIDGE_RULES)

    repaired, repaired_seconds = _up()
    print(f"`up` repaired it and proved the data path in {repaired_seconds:.1f} s")
    assert repaired.returncode == 0, repaired.stderr[-4000:]
    assert all(_has_rule(rule) for rule in POD_BRIDGE_RULES)
    for hop in (
        "pod -> pod",
        "pod -> ClusterIP Service",
        "pod -> CoreDNS",
        "host -> NodePort",
    ):
        assert f"data path: {hop}" in repaired.stderr, repaired.stderr[-3000:]
    status = subprocess.run([str(CLUSTER_SH), "status"], capture_output=True, text=True, check=False)
    assert status.returncode == 0, status.stdout
