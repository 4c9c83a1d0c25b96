"""Renders the monitoring role (production and local) once per session for the unit tests.

hack/validate.d/monitoring.sh sets MONITORING_RENDER_DIR to the trees it has just rendered and
validated; otherwise the tests render their own with the same playbook and variables.
"""

import os
import pathlib
import shutil
import subprocess
import sys

import pytest

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parents[2]


def render(out, name):
    target = out / name
    sa = target / "serviceaccount"
    sa.mkdir(parents=True, exist_ok=True)
    (sa / "token").write_text("validation-token\n")
    (sa / "ca.crt").write_text("")
    env = dict(
        os.environ,
        ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
        PATH=f"{ROOT / '.venv' / 'bin'}:{os.environ.get('PATH', '')}",
    )
    cmd = [
        shutil.which("ansible-playbook", path=env["PATH"]) or "ansible-playbook",
        "-i",
        "localhost,",
        str(HERE / "render.yml"),
        "-e",
        f"monitoring_render_dir={target}",
        "-e",
        f"monitoring_prometheus_config_dir={target / 'prometheus'}",
        "-e",
        f"monitoring_serviceaccount_dir={sa}",
        "-e",
        f"@{HERE / 'vars' / (name + '.yml')}",
    ]
    proc = subprocess.run(
        cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    (target / "ansible.log").write_text(proc.stdout + proc.stderr)
    assert (
        proc.returncode == 0
    ), f"rendering {name} failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-2000:]}"
    return target


@pytest.fixture(scope="session")
def rendered(tmp_path_factory):
    """dict: 'production' / 'local' -> path of the rendered tree."""
    given = os.environ.get("MONITORING_RENDER_DIR")
    if given and (pathlib.Path(given) / "production" / "prometheus").is_dir():
        base = pathlib.Path(given)
        return {name: base / name for name in ("production", "local")}
    out = tmp_path_factory.mktemp("monitoring-render")
    return {name: render(out, name) for name in ("production", "local")}


@pytest.fixture(scope="session")
def python():
    return sys.executable
