"""Renders the monitoring role (production and local) once per session for the functional tests.

hack/validate.d/monitoring.sh sets MONITORING_RENDER_DIR to the trees it has just rendered and
validated; otherwise the tests render their own with the same playbook and variables.
"""

import os
import pathlib
import sys

import pytest

from support.runner import run_playbook

HERE = pathlib.Path(__file__).resolve().parent


def render(out, name):
    target = out / name
    sa = target / "serviceaccount"
    sa.mkdir(parents=True, exist_ok=True)
    (sa / "token").write_text("validation-token\n")
    (sa / "ca.crt").write_text("")
    proc = run_playbook(
        HERE / "render.yml",
        inventory="localhost,",
        extra_vars={
            "monitoring_render_dir": str(target),
            "monitoring_prometheus_config_dir": str(target / "prometheus"),
            "monitoring_serviceaccount_dir": str(sa),
        },
        extra_files=[HERE / "vars" / (name + ".yml")],
        timeout=300,
    )
    (target / "ansible.log").write_text(proc.stdout + proc.stderr)
    assert proc.returncode == 0, f"rendering {name} failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-2000:]}"
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
