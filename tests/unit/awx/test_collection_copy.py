"""Which copy of intelligent_agent.platform an AWX job runs: the project checkout, not the EE's.

AWX (RunJob.build_env) sets ANSIBLE_COLLECTIONS_PATH for every job to
  /runner/requirements_collections   collections the project sync installed from collections/requirements.yml
                                     or requirements.yml at the project root
  <collections_path of the project's ansible.cfg>
  ~/.ansible/collections:/usr/share/ansible/collections      where the execution environment installs them
and ansible-runner starts ansible-playbook in /runner/project. Ansible takes the first path that holds the
collection. This test builds that variable from the repository's ansible.cfg with the same algorithm, lets
Ansible's own config manager resolve it from the project directory, and checks that the project checkout
(.collections/ansible_collections/intelligent_agent/platform -> the repository root) comes before the
EE's copy, and that the project sync installs no other copy in front of it (docs/awx.md).
"""

import configparser
import os
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
COLLECTION = Path("ansible_collections", "intelligent_agent", "platform")
AWX_DEFAULT_COLLECTIONS_PATH = "~/.ansible/collections:/usr/share/ansible/collections"
JOB_PLAYBOOKS = ("playbooks/deploy.yml", "playbooks/rollback.yml", "playbooks/history.yml")


def awx_collections_path(
    project_dir: Path, requirements_collections: str, default: str = AWX_DEFAULT_COLLECTIONS_PATH
) -> str:
    """ANSIBLE_COLLECTIONS_PATH as AWX's RunJob.build_env computes it (awx/main/tasks/jobs.py)."""
    parser = configparser.ConfigParser()
    parser.read(project_dir / "ansible.cfg")
    paths = default.split(":")
    configured = parser["defaults"].get("collections_path") if parser.has_section("defaults") else None
    if configured:
        for path in configured.split(":"):
            if path not in paths:
                paths = [configured] + paths
    return os.pathsep.join([requirements_collections] + paths)


def resolved_collections_paths(monkeypatch, project_dir: Path, value: str) -> list:
    """The search path ansible-playbook uses, resolved by Ansible from the job's working directory."""
    from ansible.config.manager import ConfigManager

    monkeypatch.setenv("ANSIBLE_COLLECTIONS_PATH", value)
    monkeypatch.chdir(project_dir)
    paths, origin = ConfigManager(conf_file=str(project_dir / "ansible.cfg")).get_config_value_and_origin(
        "COLLECTIONS_PATHS"
    )
    assert origin == "env: ANSIBLE_COLLECTIONS_PATH"
    return [Path(path) for path in paths]


def first_copy(paths):
    return next((path / COLLECTION for path in paths if (path / COLLECTION / "galaxy.yml").is_file()), None)


@pytest.fixture
def awx_job_dirs(tmp_path, monkeypatch):
    """requirements_collections (empty: nothing in the project's requirements names this collection) and
    an EE collections directory holding an installed copy of the collection, HOME without collections."""
    requirements = tmp_path / "requirements_collections"
    requirements.mkdir()
    ee = tmp_path / "ee-collections"
    (ee / COLLECTION).mkdir(parents=True)
    (ee / COLLECTION / "galaxy.yml").write_text((ROOT / "galaxy.yml").read_text(encoding="utf-8"), encoding="utf-8")
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    return requirements, ee


def test_job_runs_the_project_checkout_before_the_ee_copy(monkeypatch, awx_job_dirs):
    requirements, ee = awx_job_dirs
    value = awx_collections_path(ROOT, str(requirements), default=f"~/.ansible/collections:{ee}")
    paths = resolved_collections_paths(monkeypatch, ROOT, value)
    copy = first_copy(paths)
    assert copy is not None
    assert copy.resolve() == ROOT.resolve(), f"the job would run {copy}, not the project checkout"
    # The EE's copy is on the path, but after the checkout.
    assert ee in paths and paths.index(ee) > paths.index(ROOT / ".collections")


def test_without_the_checkout_link_the_ee_copy_would_run(monkeypatch, awx_job_dirs, tmp_path):
    """The check above can fail: a project without the .collections link falls through to the EE."""
    requirements, ee = awx_job_dirs
    project = tmp_path / "project"
    project.mkdir()
    (project / "ansible.cfg").write_text((ROOT / "ansible.cfg").read_text(encoding="utf-8"), encoding="utf-8")
    value = awx_collections_path(project, str(requirements), default=f"~/.ansible/collections:{ee}")
    assert first_copy(resolved_collections_paths(monkeypatch, project, value)) == ee / COLLECTION


def test_awx_path_keeps_the_project_setting_after_requirements_collections():
    value = awx_collections_path(ROOT, "/runner/requirements_collections")
    entries = value.split(":")
    assert entries[0] == "/runner/requirements_collections"
    assert entries[1] == "./.collections", "ansible.cfg must list ./.collections first"
    assert entries.index("/usr/share/ansible/collections") > 1


def test_the_checkout_link_is_committed_and_points_at_the_root():
    link = ROOT / ".collections" / COLLECTION
    assert link.is_symlink(), ".collections/ansible_collections/intelligent_agent/platform must be a symlink in git"
    assert os.readlink(link) == os.path.join("..", "..", ".."), "relative, so it works in any checkout"


def test_project_sync_installs_no_other_copy_in_front():
    """AWX installs collections/requirements.yml and the root requirements.yml into requirements_collections."""
    for name in (
        "requirements.yml",
        "requirements.yaml",
        "collections/requirements.yml",
        "collections/requirements.yaml",
    ):
        path = ROOT / name
        if not path.is_file():
            continue
        requirements = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        names = [entry["name"] if isinstance(entry, dict) else entry for entry in requirements.get("collections") or []]
        assert not any("intelligent_agent" in str(entry) for entry in names), f"{name} would shadow the checkout"


@pytest.mark.parametrize("playbook", JOB_PLAYBOOKS)
def test_job_playbooks_have_no_adjacent_collections(playbook):
    """Ansible searches <playbook dir>/collections before every configured path."""
    assert not (ROOT / playbook).parent.joinpath("collections").exists()


def test_project_sync_and_ee_agree_on_the_dependency_ranges():
    """The project sync installs requirements.yml in front of the EE's collections: same ranges, same code."""
    project = {
        entry["name"]: entry.get("version")
        for entry in yaml.safe_load((ROOT / "requirements.yml").read_text(encoding="utf-8"))["collections"]
    }
    ee = yaml.safe_load((ROOT / "execution-environment.yml").read_text(encoding="utf-8"))
    for entry in ee["dependencies"]["galaxy"]["collections"]:
        if entry["name"] in project:
            assert entry.get("version") == project[entry["name"]], (
                f"{entry['name']}: requirements.yml and the EE differ"
            )
