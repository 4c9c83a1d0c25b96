"""tests/unit stays pure Python: no test there starts a process.

Tests that run ansible-playbook, ansible-galaxy, ansible-test, a shell script or any other command-line tool belong
in tests/functional (`make functional`; playbooks through tests/support/runner.py), or in tests/integration when
they need the cluster. This test reads every Python file under tests/unit (its syntax tree, nothing is imported)
and names each file and line that breaks the rule:

- an import of a module that starts processes (subprocess, pty, the playbook runner support.runner), or a call
  of a function that does (os.system, os.popen, os.exec*, os.spawn*, os.posix_spawn*, os.fork*,
  asyncio.create_subprocess_*);
- a string, outside docstrings, that names one of Ansible's command-line tools as a command: the bare name, a path
  ending in it, or a command line starting with it ("ansible-playbook", f"{BIN}/ansible-galaxy",
  "ansible-test sanity"). Prose that mentions a tool in a sentence is not a command.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

UNIT = Path(__file__).resolve().parent
ROOT = UNIT.parents[1]

PROCESS_MODULES = {"subprocess", "pty"}
# The tests' playbook runner (tests/support/runner.py) starts ansible-playbook.
RUNNER_MODULES = {"support.runner"}
PROCESS_CALLS = re.compile(
    r"^(os\.(system|popen|exec\w*|spawn\w*|posix_spawn\w*|fork\w*)|asyncio\.create_subprocess_\w+)$"
)
# Spelled in parts, so that this file names no tool itself.
TOOLS = tuple(f"ansible-{tool}" for tool in ("playbook", "galaxy", "test", "doc", "builder"))
COMMAND = re.compile(r"^(?:\S*/)?(?:%s)(?:\s.*)?$" % "|".join(map(re.escape, TOOLS)), re.S)


def unit_files() -> list[Path]:
    return sorted(path for path in UNIT.rglob("*.py") if "__pycache__" not in path.parts)


def docstrings(tree: ast.AST) -> set[int]:
    """ids of the string nodes that are docstrings (module, class, function)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
    return found


def dotted(node: ast.AST) -> str:
    """ "os.system" for the expression os.system; "" for anything but a dotted name."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = dotted(node.value)
        return f"{base}.{node.attr}" if base else ""
    return ""


def violations(source: str, filename: str = "<test>") -> list[tuple[int, str]]:
    """(line, reason) for each process start or command-line tool named in the Python source."""
    tree = ast.parse(source, filename)
    skip = docstrings(tree)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [
                (node.lineno, f"imports {alias.name}")
                for alias in node.names
                if alias.name.split(".")[0] in PROCESS_MODULES or alias.name in RUNNER_MODULES
            ]
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            imported = {module} | {f"{module}.{alias.name}" for alias in node.names}
            if module.split(".")[0] in PROCESS_MODULES or imported & RUNNER_MODULES:
                found.append((node.lineno, f"imports from {module}"))
            elif module in ("os", "asyncio"):
                found += [
                    (node.lineno, f"imports {module}.{alias.name}")
                    for alias in node.names
                    if PROCESS_CALLS.match(f"{module}.{alias.name}")
                ]
        elif isinstance(node, ast.Call) and PROCESS_CALLS.match(dotted(node.func)):
            found.append((node.lineno, f"calls {dotted(node.func)}"))
        elif (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and id(node) not in skip
            and COMMAND.match(node.value.strip())
        ):
            found.append((node.lineno, f"names the command {node.value.strip()!r}"))
    return sorted(found)


@pytest.mark.parametrize(
    "source",
    [
        "import subprocess\n",
        "import subprocess as sp\n",
        "from subprocess import run\n",
        "import pty\n",
        "import os\nos.system('make')\n",
        "import os\nos.execvp('sh', ['sh'])\n",
        "from os import popen\n",
        "import asyncio\nasyncio.create_subprocess_exec('ls')\n",
        "BIN = 'x'\nCMD = [f'{BIN}/ansible-playbook', '-i', 'localhost,']\n",
        "TOOL = 'ansible-galaxy'\n",
        "COMMAND = 'ansible-test sanity --python 3.11'\n",
        "from pathlib import Path\nPath('/venv/bin') / 'ansible-doc'\n",
        "from support.runner import run_playbook\n",
        "from support import runner\n",
        "import support.runner\n",
    ],
)
def test_the_scan_finds_a_process_start_or_a_command(source):
    assert violations(source)


@pytest.mark.parametrize(
    "source",
    [
        '"""Runs like ansible-playbook would, but in-process."""\n',
        "def f():\n    '''ansible-galaxy installs it.'''\n",
        "MESSAGE = 'AWX starts ansible-playbook in /runner/project'\n",
        "PACKAGES = {'ansible-lint', 'ansible-runner', 'ansible-core'}\n",
        "import os\nos.environ.get('HOME')\n",
    ],
)
def test_the_scan_leaves_prose_and_package_names_alone(source):
    assert not violations(source)


def test_the_scan_reads_every_unit_test():
    files = unit_files()
    assert Path(__file__) in files
    assert len(files) > 20


def test_no_unit_test_starts_a_process():
    problems = [
        f"{path.relative_to(ROOT)}:{line}: {reason}"
        for path in unit_files()
        for line, reason in violations(path.read_text(encoding="utf-8"), str(path))
    ]
    assert not problems, (
        "tests/unit is pure Python; move these to tests/functional (playbooks through tests/support/runner.py):\n"
        + "\n".join(problems)
    )
