# -*- coding: utf-8 -*-
# Copyright: Intelligent Agent platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: template
author: Intelligent Agent platform team (@intelligent-agent)
version_added: "1.0.0"
short_description: Render a role's template with the task's variables, without copying them
description:
  - Renders each template file found in the role's C(templates) folder (searched as M(ansible.builtin.template)
    searches) with every variable of the task, and returns the text.
  - Unlike the C(ansible.builtin.template) lookup, it does not make a deep copy of every variable of the task for
    each call; it puts a layer with C(ansible_managed) and O(template_vars) over them. A deploy renders about
    fifteen templates, and that copy cost 0.05-0.1 s each (measured with py-spy on a deploy).
  - A template that sets a variable (C({% set %})) sets it in its own render only, as with the builtin lookup.
options:
  _terms:
    description: Template file names, relative to the role's C(templates) folder or the search path.
    required: true
    type: list
    elements: str
  template_vars:
    description: Variables for the template only; they win over the task's variables of the same name.
    type: dict
    default: {}
"""

EXAMPLES = r"""
- name: Render the app manifests
  ansible.builtin.set_fact:
    app_manifests: >-
      {{ lookup('intelligent_agent.platform.template', 'manifests.yml.j2') | ansible.builtin.from_yaml_all | list }}

- name: Render with one variable for this template only
  ansible.builtin.set_fact:
    summary_text: "{{ lookup('intelligent_agent.platform.template', 'summary.txt.j2', template_vars={'width': 80}) }}"
"""

RETURN = r"""
_raw:
  description: The rendered text of each template.
  type: list
  elements: str
"""

import os
from collections import ChainMap

from ansible import constants as C
from ansible.errors import AnsibleError
from ansible.plugins.lookup import LookupBase
from ansible.template import trust_as_template


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        variables = variables if variables is not None else {}
        self.set_options(var_options=variables, direct=kwargs)
        template_vars = self.get_option("template_vars") or {}
        return [self._render(term, variables, template_vars) for term in terms]

    def _render(self, term, variables, template_vars):
        path = self.find_file_in_search_path(variables, "templates", term)
        if not path:
            raise AnsibleError("the template file %s could not be found for the lookup" % term)
        layer = {} if "ansible_managed" in variables else {"ansible_managed": C.DEFAULT_MANAGED_STR}
        layer.update(template_vars)
        templar = self._templar.copy_with_new_env(
            available_variables=ChainMap(layer, variables), searchpath=self._search_path(variables, path)
        )
        text = trust_as_template(self._loader.get_text_file_contents(path))
        return templar.template(text, escape_backslashes=False)

    @staticmethod
    def _search_path(variables, path):
        """Where {% include %} looks: the template's folder, then each role/play path and its templates folder."""
        folders = [os.path.dirname(path)]
        for folder in variables.get("ansible_search_path", []):
            folders.extend([os.path.join(folder, "templates"), folder])
        return folders
