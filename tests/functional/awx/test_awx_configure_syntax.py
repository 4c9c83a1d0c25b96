"""awx/configure.yml, the playbook that creates the AWX objects, passes ansible-playbook --syntax-check.
tests/unit/awx/test_job_templates.py checks the job templates it creates and the awx.awx options it passes."""

from support.runner import ROOT, run_playbook

CONFIGURE = ROOT / "awx" / "configure.yml"


def test_configure_playbook_passes_syntax_check():
    result = run_playbook(CONFIGURE, args=["--syntax-check"], timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
