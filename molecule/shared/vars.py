"""Write .local/molecule/<scenario>.yml: the local inventory's app overrides with the scenario's NodePorts.

Extra vars replace a dict wholesale, so the scenario's file repeats the inventory's
app_component_overrides (read here, not copied by hand) with its own NodePorts and namespace.
Usage: vars.py <repo root> <scenario> <frontend node port> <backend node port>
"""

import copy
import sys
from pathlib import Path

import yaml

root, scenario, frontend_port, backend_port = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
inventory = yaml.safe_load((root / "inventories/local/group_vars/all/main.yml").read_text())
overrides = copy.deepcopy(inventory.get("app_component_overrides") or {})
for name, port in (("frontend", frontend_port), ("backend", backend_port)):
    overrides.setdefault(name, {}).setdefault("service", {}).update({"type": "NodePort", "node_port": port})
url = f"http://127.0.0.1:{frontend_port}"
data = {
    "platform_namespace": f"ia-molecule-{scenario}",
    # Molecule adds its own inventory, so the local inventory's inventory_dir-based path does not hold.
    "platform_kubeconfig": str(root / ".local/cluster/kubeconfig"),
    "app_component_overrides": overrides,
    "platform_health_checks": [
        {"name": "frontend", "url": f"{url}/health"},
        {"name": "backend-through-frontend", "url": f"{url}/api/version", "json_path": "version"},
    ],
    "platform_backup_dir": str(root / ".local/molecule/backups"),
    "release_lock_duration": 600,
    "molecule_frontend_url": url,
}
out = root / ".local/molecule" / f"{scenario}.yml"
out.parent.mkdir(parents=True, exist_ok=True)
out.write_text(yaml.safe_dump(data, sort_keys=False))
print(out)
