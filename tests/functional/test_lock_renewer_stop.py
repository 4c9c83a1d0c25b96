"""stop_renewer (the deploy lock's action plugin) against a real orphaned process, as the renewer is one: it returns
as soon as the process ended, without waiting for the init process to reap the zombie (which took ~1.1 s here)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from ansible_collections.intelligent_agent.platform.plugins.action.deploy_lock import stop_renewer
from ansible_collections.intelligent_agent.platform.plugins.module_utils.lease_renewer import pid_alive


def orphan_sleeper() -> int:
    """A process whose parent exited (reparented to init), like the detached renewer."""
    read_end, write_end = os.pipe()
    if os.fork() == 0:  # the short-lived parent
        child = subprocess.Popen([sys.executable, "-c", "import time\nwhile True: time.sleep(1)"])
        os.write(write_end, str(child.pid).encode())
        os._exit(0)
    os.wait()
    return int(os.read(read_end, 32))


def test_stop_renewer_returns_once_the_renewer_ended_not_once_it_was_reaped(tmp_path):
    pid = orphan_sleeper()
    pid_file = tmp_path / "renewer.pid"
    pid_file.write_text(str(pid))
    started = time.monotonic()
    stop_renewer(str(pid_file))
    seconds = time.monotonic() - started
    print(f"\nstop_renewer returned after {seconds:.2f} s")
    assert not pid_alive(pid) and not pid_file.exists()
    assert seconds < 0.5, f"stop_renewer waited {seconds:.2f} s"
