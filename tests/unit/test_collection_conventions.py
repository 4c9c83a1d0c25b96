"""Conventions every role and plugin keeps (DESIGN.md): checked here so a new role cannot skip them."""

import ast
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
ROLES = sorted(path for path in (ROOT / "roles").iterdir() if path.is_dir())
MODULES = sorted((ROOT / "plugins" / "modules").glob("*.py"))


def load_yaml(path):
    return yaml.safe_load(path.read_text()) or {}


def role_ids(roles):
    return [role.name for role in roles]


def test_the_collection_has_the_roles_and_modules_the_design_names():
    assert {"namespace", "secrets", "config", "image", "app", "monitoring", "rollback"} <= {r.name for r in ROLES}
    assert {"rollout_wait.py", "health_check.py"} <= {m.name for m in MODULES}


@pytest.mark.parametrize("role", ROLES, ids=role_ids(ROLES))
def test_role_has_its_standard_files(role):
    for relative in ("defaults/main.yml", "meta/argument_specs.yml", "meta/main.yml", "tasks/main.yml", "README.md"):
        assert (role / relative).is_file(), f"{role.name} lacks {relative}"


@pytest.mark.parametrize("role", ROLES, ids=role_ids(ROLES))
def test_every_default_is_documented_in_argument_specs_and_readme(role):
    defaults = load_yaml(role / "defaults" / "main.yml")
    specs = load_yaml(role / "meta" / "argument_specs.yml")["argument_specs"]
    documented = set()
    for entry in specs.values():
        documented |= set((entry.get("options") or {}).keys())
    readme = (role / "README.md").read_text()
    for name in defaults:
        assert name in documented, f"{role.name}: default {name} missing from meta/argument_specs.yml"
        assert name in readme, f"{role.name}: default {name} missing from README.md"


@pytest.mark.parametrize("role", ROLES, ids=role_ids(ROLES))
def test_role_variables_carry_the_role_prefix(role):
    defaults = load_yaml(role / "defaults" / "main.yml")
    prefix = role.name + "_"
    strays = [name for name in defaults if not (name.startswith(prefix) or name.startswith("platform_"))]
    assert not strays, f"{role.name}: defaults without the role prefix: {strays}"


def _task_files(role):
    return sorted((role / "tasks").glob("*.yml")) + sorted((role / "handlers").glob("*.yml"))


def _walk_tasks(tasks):
    for task in tasks or []:
        yield task
        for key in ("block", "rescue", "always"):
            yield from _walk_tasks(task.get(key))


@pytest.mark.parametrize("role", ROLES, ids=role_ids(ROLES))
def test_every_task_has_a_name(role):
    for path in _task_files(role):
        for task in _walk_tasks(load_yaml(path) if path.read_text().strip() else []):
            assert task.get("name"), f"{path.relative_to(ROOT)}: unnamed task {sorted(task)}"


@pytest.mark.parametrize("module", MODULES, ids=[m.stem for m in MODULES])
def test_module_documents_itself(module):
    tree = ast.parse(module.read_text())
    assigned = {
        target.id: node.value
        for node in tree.body
        if isinstance(node, ast.Assign)
        for target in node.targets
        if isinstance(target, ast.Name)
    }
    for block in ("DOCUMENTATION", "EXAMPLES", "RETURN"):
        assert block in assigned, f"{module.name} lacks {block}"
    documentation = yaml.safe_load(assigned["DOCUMENTATION"].value)
    assert documentation["module"] == module.stem
    assert documentation.get("short_description") and documentation.get("options")
    assert "check_mode" in documentation.get("attributes", {}), f"{module.name}: attributes.check_mode missing"
    assert yaml.safe_load(assigned["RETURN"].value), f"{module.name}: RETURN is empty"
