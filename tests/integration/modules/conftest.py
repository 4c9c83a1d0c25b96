"""Fixtures of the module integration tests: run a collection module the way a play does (ansible-playbook,
connection local, so rollout_wait goes through its action plugin) and read back its registered result.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from support.runner import run_playbook

ROOT = Path(__file__).resolve().parents[3]
VENV_BIN = ROOT / ".venv" / "bin"

PLAYBOOK = """\
- name: Run one module of the collection
  hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: Run the module under test
      {module}: "{{{{ module_args }}}}"
      register: outcome
      ignore_errors: true
      check_mode: "{{{{ run_check_mode | bool }}}}"

    - name: Save the registered result for the test
      ansible.builtin.copy:
        content: "{{{{ outcome | to_json }}}}"
        dest: "{{{{ result_file }}}}"
        mode: "0600"
      check_mode: false
"""


@dataclass
class ModuleRun:
    result: dict
    output: str
    seconds: float
    returncode: int

    @property
    def failed(self) -> bool:
        return bool(self.result.get("failed"))


def run_module(
    tmp_path: Path,
    module: str,
    args: dict,
    env: dict | None = None,
    check_mode: bool = False,
    timeout: float = 600,
) -> ModuleRun:
    """ansible-playbook a one-task play running ``module`` with ``args``; return its registered result."""
    playbook = tmp_path / "play.yml"
    playbook.write_text(PLAYBOOK.format(module=module))
    result_file = tmp_path / "result.json"
    if result_file.exists():
        result_file.unlink()
    extra = {
        "module_args": args,
        "result_file": str(result_file),
        "run_check_mode": check_mode,
    }
    extra_file = tmp_path / "extra.json"
    extra_file.write_text(json.dumps(extra))
    started = time.monotonic()
    # tests/support/runner.py: the repository's ansible.cfg, the venv first on PATH, no colour.
    proc = run_playbook(
        playbook,
        inventory="localhost,",
        extra_files=[extra_file],
        base_env=env,
        env={"ANSIBLE_PYTHON_INTERPRETER": str(VENV_BIN / "python")},
        timeout=timeout,
    )
    seconds = time.monotonic() - started
    output = proc.stdout + proc.stderr
    if not result_file.exists():
        raise AssertionError("the play did not save a result (rc %s):\n%s" % (proc.returncode, output[-6000:]))
    return ModuleRun(json.loads(result_file.read_text()), output, seconds, proc.returncode)


@pytest.fixture
def module_runner(tmp_path):
    """run(module, args, env=None, check_mode=False) -> ModuleRun"""
    counter = {"n": 0}

    def run(module: str, args: dict, **kwargs) -> ModuleRun:
        counter["n"] += 1
        workdir = tmp_path / ("run%d" % counter["n"])
        workdir.mkdir()
        return run_module(workdir, module, args, **kwargs)

    return run
