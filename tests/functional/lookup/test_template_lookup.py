"""intelligent_agent.platform.template renders as ansible.builtin.template's lookup does (variables, filters,
ansible_managed, template_vars, {% include %}, a template's {% set %} staying inside it), without copying the task's
variables. Run through ansible-playbook (tests/support/runner.py)."""

from __future__ import annotations

import json

from support import runner

TEMPLATE = """{{ ansible_managed | comment }}
name: {{ app.name }}
{% set local_only = 'set in the template' %}
replicas: {{ app.replicas * 2 }}
labels: {{ app.labels | to_json }}
extra: {{ extra | default('none') }}
{% include 'part.j2' %}
local: {{ local_only }}
"""

PLAY = """
- hosts: localhost
  connection: local
  gather_facts: false
  vars:
    app: {name: web, replicas: 3, labels: {tier: front}}
  tasks:
    - name: Render with both lookups, then with a variable for the template only
      ansible.builtin.set_fact:
        ours: "{{ lookup('intelligent_agent.platform.template', 'page.j2') }}"
        builtin: "{{ lookup('ansible.builtin.template', 'page.j2') }}"
        ours_extra: "{{ lookup('intelligent_agent.platform.template', 'page.j2', template_vars={'extra': 42}) }}"
        builtin_extra: "{{ lookup('ansible.builtin.template', 'page.j2', template_vars={'extra': 42}) }}"

    - name: Show them
      ansible.builtin.debug:
        msg: "{{ {'ours': ours, 'builtin': builtin, 'ours_extra': ours_extra, 'builtin_extra': builtin_extra,
                  'local_only_defined': local_only is defined} | to_json }}"

    - name: A missing template fails naming it
      ansible.builtin.set_fact:
        missing: "{{ lookup('intelligent_agent.platform.template', 'nowhere.j2') }}"
      ignore_errors: true
      register: missing_result

    - name: Show the failure
      ansible.builtin.debug:
        msg: "MISSING: {{ missing_result.msg }}"
"""


def test_renders_as_the_builtin_template_lookup(tmp_path):
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "page.j2").write_text(TEMPLATE)
    (tmp_path / "templates" / "part.j2").write_text("part: {{ app.name | upper }}\n")
    playbook = tmp_path / "play.yml"
    playbook.write_text(PLAY)
    proc = runner.run_playbook(playbook, inventory="localhost,", env={"ANSIBLE_CALLBACK_RESULT_FORMAT": "json"})
    assert proc.returncode == 0, proc.stdout[-4000:]
    shown = json.loads(next(line for line in proc.stdout.splitlines() if '\\"ours\\"' in line).split('"msg": ', 1)[1])
    shown = json.loads(shown)
    assert shown["ours"] == shown["builtin"]
    assert shown["ours_extra"] == shown["builtin_extra"]
    assert "name: web\n" in shown["ours"] and "replicas: 6\n" in shown["ours"] and "part: WEB" in shown["ours"]
    assert shown["ours"].startswith("#\n# Ansible managed\n#")
    assert "extra: none\n" in shown["ours"] and "extra: 42\n" in shown["ours_extra"]
    assert "local: set in the template\n" in shown["ours"]
    assert shown["local_only_defined"] is False
    assert "the template file nowhere.j2 could not be found" in proc.stdout
