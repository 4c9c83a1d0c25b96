"""deploy_lock against the real local cluster: a killed run's lock expires by itself, a live run keeps its lock
for as long as it lives, a run that lost its lock stops before its next write, unlock.yml breaks a lock.

The runs are real ansible-playbook processes holding the lock through the action plugin's renewer; the lease
is short (10 s) so that "two lease durations" and "three lease durations" take seconds.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from ansible_collections.intelligent_agent.platform.plugins.module_utils import deploy_lock as dl

from support.runner import playbook_command, playbook_env, run_playbook

ROOT = Path(__file__).resolve().parents[3]
VENV_BIN = ROOT / ".venv" / "bin"
LEASE = "platform-deploy-lock"
DURATION = 10

HOLDING_PLAY = """\
- name: Hold the deploy lock like a deploy does
  hosts: localhost
  connection: local
  gather_facts: false
  module_defaults:
    group/intelligent_agent.platform.k8s:
      kubeconfig: "{{ kubeconfig }}"
  tasks:
    - name: Take the deploy lock
      intelligent_agent.platform.deploy_lock:
        namespace: "{{ namespace }}"
        name: "%(lease)s"
        holder: "{{ holder }}"
        duration: %(duration)d
        annotations: {version: "{{ holder }}"}
    - name: Work for a while (the rollout wait)
      ansible.builtin.pause:
        seconds: "{{ work_seconds }}"
    - name: Check that this run still holds the deploy lock
      intelligent_agent.platform.deploy_lock:
        namespace: "{{ namespace }}"
        name: "%(lease)s"
        holder: "{{ holder }}"
        duration: %(duration)d
        state: check
    - name: Free the deploy lock
      intelligent_agent.platform.deploy_lock:
        namespace: "{{ namespace }}"
        name: "%(lease)s"
        holder: "{{ holder }}"
        state: released
        result: succeeded
      register: freed
    - name: Say who freed the lock
      ansible.builtin.debug:
        msg: "lock freed by {{ freed.freed_by }}: {{ freed.released }}"
""" % {"lease": LEASE, "duration": DURATION}


# On top of the environment tests/support/runner.py gives every ansible-playbook run.
INTERPRETER = {"ANSIBLE_PYTHON_INTERPRETER": str(VENV_BIN / "python")}


def start_run(tmp_path: Path, cluster, namespace: str, holder: str, work_seconds: int) -> tuple:
    play = tmp_path / "hold.yml"
    play.write_text(HOLDING_PLAY)
    log = tmp_path / f"{holder}.log"
    extra = {
        "kubeconfig": str(cluster.kubeconfig),
        "namespace": namespace,
        "holder": holder,
        "work_seconds": work_seconds,
    }
    handle = log.open("w")
    # Started, not run: the tests kill it or race it (tests/support/runner.py's command line and environment).
    proc = subprocess.Popen(
        playbook_command(play, inventory="localhost,", extra_vars=extra),
        cwd=ROOT,
        env=playbook_env(INTERPRETER),
        stdout=handle,
        stderr=subprocess.STDOUT,
        text=True,
    )
    return proc, log, handle


@pytest.fixture
def lease_api(cluster, namespace):
    from ansible_collections.kubernetes.core.plugins.module_utils.k8s.client import get_api_client

    client = get_api_client(kubeconfig=str(cluster.kubeconfig)).client.client
    return dl.LeaseApi(client, namespace, LEASE)


def wait_until_held_by(api, holder: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        view = dl.lease_view(api.read(), time.time())
        if view["holder"] == holder and not view["expired"]:
            return
        time.sleep(0.5)
    raise AssertionError(f"{holder} never held the lock: {dl.lease_view(api.read(), time.time())}")


def test_a_killed_run_blocks_the_next_one_for_at_most_one_lease(tmp_path, cluster, namespace, lease_api):
    proc, log, handle = start_run(tmp_path, cluster, namespace, "killed-run", 300)
    try:
        wait_until_held_by(lease_api, "killed-run")
        time.sleep(DURATION)  # it has been renewed at least once
        os.kill(proc.pid, signal.SIGKILL)  # no cleanup of any kind, like `kill -9` or an OOM kill
        proc.wait(timeout=10)
        killed = time.monotonic()
        # A second run is refused while the lease is still fresh...
        with pytest.raises(dl.LockHeld, match="killed-run"):
            dl.acquire(lease_api, "next-run", DURATION)
        # ...and takes it over without any manual step once the lease expired.
        while True:
            try:
                _lease, before, action = dl.acquire(lease_api, "next-run", DURATION)
                break
            except dl.LockHeld:
                assert time.monotonic() - killed < 2 * DURATION, "the killed run's lock outlived 2 lease durations"
                time.sleep(0.5)
        waited = time.monotonic() - killed
        assert action == "take" and before["holder"] == "killed-run"
        print(f"\nkilled run's lock taken over {waited:.1f} s after SIGKILL (lease {DURATION} s)")
    finally:
        handle.close()
        if proc.poll() is None:
            proc.kill()


def test_a_live_run_keeps_its_lock_for_three_leases_and_frees_it(tmp_path, cluster, namespace, lease_api):
    proc, log, handle = start_run(tmp_path, cluster, namespace, "long-run", 3 * DURATION + 5)
    try:
        wait_until_held_by(lease_api, "long-run")
        refusals = 0
        while proc.poll() is None:
            try:
                _lease, before, _action = dl.acquire(lease_api, "intruder", DURATION)
            except dl.LockHeld:
                refusals += 1
            else:
                # Only once the run freed it (its last task): never taken from it while it lived.
                assert before["holder"] == "", f"a concurrent run took a live run's lock after {refusals} refusals"
                break
            time.sleep(2)
        proc.wait(timeout=60)
    finally:
        handle.close()
    assert proc.returncode == 0, log.read_text()[-3000:]
    # Refused every 2 s for the whole 3 lease durations the run lived.
    assert refusals >= (3 * DURATION) // 2 - 2, refusals
    # The live renewer freed it (one request, no module process).
    assert "lock freed by renewer: True" in log.read_text(), log.read_text()[-3000:]


def test_a_run_that_lost_its_lock_stops_before_its_next_write(tmp_path, cluster, namespace, lease_api):
    proc, log, handle = start_run(tmp_path, cluster, namespace, "slow-run", 3 * DURATION)
    try:
        wait_until_held_by(lease_api, "slow-run")
        # An operator breaks the lock (playbooks/unlock.yml) and another run takes it.
        unlock = run_playbook(
            "playbooks/unlock.yml",
            inventory="localhost,",
            env=INTERPRETER,
            timeout=120,
            extra_vars={
                "platform_namespace": namespace,
                "release_lock_name": LEASE,
                "platform_kubeconfig": str(cluster.kubeconfig),
                "unlock_confirm": True,
            },
        )
        assert unlock.returncode == 0, unlock.stdout[-3000:]
        assert "held by slow-run" in " ".join(unlock.stdout.split())
        dl.acquire(lease_api, "other-run", DURATION)
        proc.wait(timeout=120)
    finally:
        handle.close()
    output = log.read_text()
    assert proc.returncode != 0, output[-3000:]
    # The renewer saw the lock broken (no holder) or already taken by other-run, depending on timing.
    assert "this run lost the deploy lock" in " ".join(output.split()), output[-3000:]
    assert dl.lease_view(lease_api.read(), time.time())["holder"] == "other-run"


def test_unlock_without_confirmation_changes_nothing(tmp_path, cluster, namespace, lease_api):
    dl.acquire(lease_api, "someone", 600)
    unlock = run_playbook(
        "playbooks/unlock.yml",
        inventory="localhost,",
        env=INTERPRETER,
        timeout=120,
        extra_vars={
            "platform_namespace": namespace,
            "release_lock_name": LEASE,
            "platform_kubeconfig": str(cluster.kubeconfig),
        },
    )
    assert unlock.returncode != 0
    assert "Not confirmed" in unlock.stdout + unlock.stderr
    assert dl.lease_view(lease_api.read(), time.time())["holder"] == "someone"
