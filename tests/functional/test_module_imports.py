"""The collection's cluster modules connect without importing the kubernetes package when the light client can
(a kubeconfig with a token or certificate): that import costs about 0.3 s in every module process. Each check runs in
a fresh interpreter, as a module does."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

# The module -> the least arguments it runs with (besides the kubeconfig).
MODULES = {
    "cluster_query_info": {"api_groups": True},
    "deploy_lock": {"namespace": "ns", "name": "lock", "holder": "me"},
    "release_history": {"namespace": "ns", "name": "history"},
    "release_prune": {"namespace": "ns"},
    "release_snapshot": {"namespace": "ns", "selector": "app=x"},
    "rollout_wait": {"namespace": "ns", "names": ["web"], "timeout": 2},
    "server_side_apply": {
        "namespace": "ns",
        "field_manager": "me",
        "definitions": [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}],
    },
}

# Runs the module's main() as a module run by hand (its arguments as the JSON argument), against a kubeconfig whose
# API server does not answer: the module fails to reach it (its JSON result on stdout), and the probe reports whether
# the kubernetes package was imported.
PROBE = """
import sys
from ansible_collections.intelligent_agent.platform.plugins.modules import {module}
try:
    {module}.main()
except SystemExit:
    pass
sys.stderr.write("kubernetes imported: %s\\n" % ("kubernetes" in sys.modules))
"""


@pytest.fixture(scope="module")
def token_kubeconfig(tmp_path_factory):
    path = tmp_path_factory.mktemp("kube") / "config"
    path.write_text(
        json.dumps(
            {
                "current-context": "c",
                "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u"}}],
                "clusters": [
                    {"name": "k", "cluster": {"server": "https://127.0.0.1:1", "insecure-skip-tls-verify": True}}
                ],
                "users": [{"name": "u", "user": {"token": "not-a-real-token"}}],
            }
        )
    )
    return path


@pytest.mark.parametrize("module", sorted(MODULES))
def test_a_module_runs_without_the_kubernetes_package(module, token_kubeconfig):
    args = dict(MODULES[module], kubeconfig=str(token_kubeconfig))
    probe = subprocess.run(
        [sys.executable, "-c", PROBE.format(module=module), json.dumps({"ANSIBLE_MODULE_ARGS": args})],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        env=dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p)),
    )
    result = json.loads(probe.stdout.strip().splitlines()[-1])
    # It ran: it reached the (unreachable) API server, so it failed naming the connection.
    assert result.get("failed") and "127.0.0.1" in result["msg"], probe.stdout + probe.stderr
    assert "kubernetes imported: False" in probe.stderr, probe.stdout + probe.stderr
