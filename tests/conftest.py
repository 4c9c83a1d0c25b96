"""Settings every test session shares, whether pytest runs from `make` or by hand."""

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# ansible.cfg names no vault password (it would also encrypt staging/production secrets with the demo one):
# playbook runs against inventories/local get the demo password the way the Makefile gives it.
os.environ.setdefault(
    "ANSIBLE_VAULT_IDENTITY_LIST",
    f"local@{ROOT / 'inventories' / 'local' / 'vault-password.txt'}",
)
