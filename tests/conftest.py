"""Settings every test session shares, whether pytest runs from `make` or by hand."""

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# The tests' shared helpers (tests/support: `from support.runner import run_playbook`) importable from every
# test directory.
TESTS = ROOT / "tests"
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))

from support.runner import VAULT_IDENTITY_LIST  # noqa: E402

# ansible.cfg names no vault password (it would also encrypt staging/production secrets with the demo one):
# playbook runs against inventories/local get the demo password the way the Makefile gives it.
os.environ.setdefault("ANSIBLE_VAULT_IDENTITY_LIST", VAULT_IDENTITY_LIST)

# `ansible_collections.intelligent_agent.platform` importable from the checkout: the repository root is the
# collection root and .collections/ansible_collections/intelligent_agent/platform links back to it (ansible.cfg).
# Dependency collections (kubernetes.core) come from the venv.
COLLECTIONS = ROOT / ".collections"
LINK = COLLECTIONS / "ansible_collections" / "intelligent_agent" / "platform"
if not LINK.exists():
    LINK.parent.mkdir(parents=True, exist_ok=True)
    LINK.symlink_to(Path("..") / ".." / "..")
if str(COLLECTIONS) not in sys.path:
    sys.path.insert(0, str(COLLECTIONS))
