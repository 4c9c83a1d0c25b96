"""Make `ansible_collections.intelligent_agent.platform` importable from the repository checkout.

The repository root is the collection root; .collections/ansible_collections/intelligent_agent/platform
links back to it (see ansible.cfg). Dependency collections (kubernetes.core) come from the venv.
"""

import os
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
COLLECTIONS = os.path.join(ROOT, ".collections")
LINK = os.path.join(COLLECTIONS, "ansible_collections", "intelligent_agent", "platform")

if not os.path.exists(LINK):
    os.makedirs(os.path.dirname(LINK), exist_ok=True)
    os.symlink(os.path.join("..", "..", ".."), LINK)
if COLLECTIONS not in sys.path:
    sys.path.insert(0, COLLECTIONS)
