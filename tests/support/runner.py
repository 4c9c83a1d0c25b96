"""The one way the tests run ansible-playbook: tests/functional, and the integration tests' playbook helpers.

``run_playbook()`` runs the venv's ansible-playbook from the repository root the way ``make`` runs it:

- ``ANSIBLE_CONFIG`` is the repository's ansible.cfg (the .collections link makes the checkout the collection);
- ``ANSIBLE_VAULT_IDENTITY_LIST`` gives the local inventory's demo vault password, as the Makefile and
  tests/conftest.py do (ansible.cfg names none), unless the environment already names an identity;
- the bin directory of the Python running the tests (``make`` runs .venv/bin/pytest) comes first on ``PATH``,
  so ansible-playbook, its modules and the tools the roles call are the venv's;
- colour is off, so the output can be matched as plain text.

It captures stdout and stderr as text and never raises on a failed play: callers assert on ``returncode`` and
on the output. Standard input is /dev/null, so a play that would prompt (``pause``, ``vars_prompt``) gets no answer
instead of waiting for the terminal of whoever runs the tests. ``playbook_command()`` and ``playbook_env()`` give
the command line and the environment on their own, for callers that start the process themselves
(``subprocess.Popen`` to run plays side by side).

    from support.runner import run_playbook

    proc = run_playbook(PLAYBOOK, inventory="localhost,", extra_vars={"render_dir": str(tmp_path)})
    assert proc.returncode == 0, proc.stdout + proc.stderr

tests/conftest.py puts tests/ on ``sys.path``, so ``support`` imports from any test directory.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ANSIBLE_CONFIG = ROOT / "ansible.cfg"
VENV_BIN = Path(sys.executable).parent
VAULT_IDENTITY_LIST = f"local@{ROOT / 'inventories' / 'local' / 'vault-password.txt'}"
DEFAULT_TIMEOUT = 300


def playbook_env(
    env: Mapping[str, str | None] | None = None, *, base: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The environment ansible-playbook runs with.

    ``base`` (default: ``os.environ``) with the venv's bin first on PATH, the repository's ansible.cfg, the
    demo vault identity (only when ``base`` names none) and colour off; then ``env``'s entries, which win
    (an entry whose value is None removes the variable).
    """
    result = dict(os.environ if base is None else base)
    result["PATH"] = os.pathsep.join([str(VENV_BIN), result.get("PATH") or os.defpath])
    result["ANSIBLE_CONFIG"] = str(ANSIBLE_CONFIG)
    result.setdefault("ANSIBLE_VAULT_IDENTITY_LIST", VAULT_IDENTITY_LIST)
    result["ANSIBLE_NOCOLOR"] = "1"
    result["ANSIBLE_FORCE_COLOR"] = "0"
    for name, value in (env or {}).items():
        if value is None:
            result.pop(name, None)
        else:
            result[name] = value
    return result


def playbook_command(
    playbook: str | os.PathLike,
    *,
    inventory: str | os.PathLike | None = None,
    extra_vars: Mapping | None = None,
    extra_files: Iterable[str | os.PathLike] = (),
    args: Iterable[str] = (),
    check: bool = False,
    path: str | None = None,
) -> list[str]:
    """``ansible-playbook [-i inventory] playbook [-e @file]... [-e json] [--check] args...``.

    The executable is the first ansible-playbook on ``path`` (default: the PATH ``playbook_env()`` builds).
    ``extra_files`` come before ``extra_vars``, so ``extra_vars`` wins where both set a variable.
    """
    search = path if path is not None else playbook_env()["PATH"]
    cmd = [shutil.which("ansible-playbook", path=search) or "ansible-playbook"]
    if inventory is not None:
        cmd += ["-i", str(inventory)]
    cmd.append(str(playbook))
    for file in extra_files:
        cmd += ["-e", f"@{file}"]
    if extra_vars:
        cmd += ["-e", json.dumps(extra_vars)]
    if check:
        cmd.append("--check")
    cmd += [str(arg) for arg in args]
    return cmd


def run_playbook(
    playbook: str | os.PathLike,
    *,
    inventory: str | os.PathLike | None = None,
    extra_vars: Mapping | None = None,
    extra_files: Iterable[str | os.PathLike] = (),
    args: Iterable[str] = (),
    check: bool = False,
    env: Mapping[str, str | None] | None = None,
    base_env: Mapping[str, str] | None = None,
    cwd: str | os.PathLike = ROOT,
    timeout: float = DEFAULT_TIMEOUT,
) -> subprocess.CompletedProcess[str]:
    """Run ``playbook`` with ansible-playbook and return the finished process (text ``stdout`` and ``stderr``).

    playbook     path of the playbook, or a collection playbook's FQCN
    inventory    what ``-i`` gets: an inventory path (``ROOT / "inventories" / "local"``) or a host list
                 (``"localhost,"``); None passes no ``-i``
    extra_vars   a mapping passed as one JSON ``-e``
    extra_files  variable files, each passed as ``-e @file`` (before ``extra_vars``)
    args         further arguments, after everything else (``("-c", "local")``, ``("--syntax-check",)``, ``-v``)
    check        run in check mode (``--check``); this is Ansible's check mode, not ``subprocess.run(check=)``:
                 a failed play never raises, the caller asserts on ``returncode``
    env          variables set on top of the environment ``playbook_env()`` builds (they win; None unsets one)
    base_env     the environment to start from instead of ``os.environ``
    cwd          working directory (default: the repository root)
    timeout      seconds before ``subprocess.TimeoutExpired``
    """
    run_env = playbook_env(env, base=base_env)
    cmd = playbook_command(
        playbook,
        inventory=inventory,
        extra_vars=extra_vars,
        extra_files=extra_files,
        args=args,
        check=check,
        path=run_env["PATH"],
    )
    return subprocess.run(
        cmd,
        cwd=cwd,
        env=run_env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
