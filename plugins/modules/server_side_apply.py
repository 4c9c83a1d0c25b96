#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Intelligent Agent platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: server_side_apply
short_description: Server-side apply a list of Kubernetes manifests in one call, reporting truthfully what changed
version_added: 0.3.0
author: Intelligent Agent platform team (@intelligent-agent)
description:
  - Applies every manifest of O(definitions) with Kubernetes server-side apply under one field manager, in the given
    order, in one module call.
  - Before the first write every definition is checked (C(apiVersion), C(kind), C(metadata.name)) and every kind is
    looked up on the cluster (one discovery request per API group version), so a kind the cluster does not serve stops
    the call with nothing applied.
  - An object is reported changed only when the API server stored something, a new object or a new resourceVersion.
    A server-side apply that changes nothing is not stored, so a redeploy of what serves reports C(changed=false).
  - In check mode every object is dry-run by the API server (C(dryRun=All)) and reported changed when the answer
    differs from the live object. Objects of a namespace that does not exist yet (a preview of a first deploy) cannot
    be dry-run; they are reported as created without server validation.
  - With C(--diff), each changed object's before and after (without server bookkeeping) is shown. The values of a
    Secret are never shown, only whether each key changed.
extends_documentation_fragment:
  - kubernetes.core.k8s_auth_options
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.flow
  - ansible.builtin.action_common_attributes.actiongroups
  - intelligent_agent.platform.k8s_module
attributes:
  check_mode:
    support: full
    details: The API server dry-runs every apply; nothing is stored.
  diff_mode:
    support: full
    details: The before and after of each changed object, Secret values hidden.
  action:
    support: none
options:
  definitions:
    description:
      - The manifests to apply, in order (a Namespace before the objects in it).
    type: list
    elements: dict
    required: true
  namespace:
    description:
      - The namespace of namespaced objects whose C(metadata.namespace) is not set.
    type: str
  field_manager:
    description: The field manager the objects are applied under.
    type: str
    required: true
  force_conflicts:
    description:
      - Take over fields another manager owns (C(force=true)), as C(kubectl apply --server-side --force-conflicts).
    type: bool
    default: true
  existing_immutable:
    description:
      - Names of objects known to exist (for example read under the deploy lock). A definition with C(immutable=true)
        and one of these names is left as it is, without a request, and reported C(unchanged) - the name of a
        content-hashed immutable ConfigMap or Secret is its content, and the API server refuses a change to its data.
    type: list
    elements: str
    default: []
"""

EXAMPLES = r"""
- name: Apply the app objects in one call
  intelligent_agent.platform.server_side_apply:
    namespace: intelligent-agent
    field_manager: intelligent-agent-platform
    definitions: "{{ app_manifests }}"
  register: applied

- name: Apply Secrets without logging their values
  intelligent_agent.platform.server_side_apply:
    namespace: intelligent-agent
    field_manager: intelligent-agent-secrets
    definitions: "{{ secrets_manifests }}"
    # Content-hashed immutable versions that exist already are not applied again.
    existing_immutable: "{{ secret_names_read_before }}"
  no_log: true
"""

RETURN = r"""
results:
  description:
    - One entry per applied object, in order. C(action) is C(created), C(configured) or C(unchanged) (in check mode,
      what a real run would do).
  returned: always
  type: list
  elements: dict
  sample:
    - {kind: Deployment, name: backend, namespace: intelligent-agent, changed: true, action: configured}
    - {kind: Service, name: backend, namespace: intelligent-agent, changed: false, action: unchanged}
"""


from ansible.module_utils.basic import AnsibleModule

from ansible_collections.intelligent_agent.platform.plugins.module_utils import k8s_module
from ansible_collections.intelligent_agent.platform.plugins.module_utils.server_side_apply import (
    ApplyError,
    ServerSideApply,
    apply_all,
    definition_problems,
)


def argument_spec():
    return k8s_module.argument_spec(
        definitions=dict(type="list", elements="dict", required=True),
        namespace=dict(type="str"),
        field_manager=dict(type="str", required=True),
        force_conflicts=dict(type="bool", default=True),
        existing_immutable=dict(type="list", elements="str", default=[]),
    )


def module_spec():
    return dict(argument_spec=argument_spec(), supports_check_mode=True)


def run(module):
    problems = definition_problems(module.params["definitions"])
    if problems:
        module.fail_json(msg="; ".join(problems))
    applier = ServerSideApply(
        k8s_module.raw_client_or_fail(module),
        module.params["field_manager"],
        force_conflicts=module.params["force_conflicts"],
        dry_run=module.check_mode,
    )
    try:
        results, diffs = apply_all(
            applier,
            module.params["definitions"],
            module.params["namespace"],
            module._diff,
            existing_immutable=set(module.params["existing_immutable"]),
        )
    except ApplyError as exc:
        module.fail_json(
            msg="server-side apply failed: %s" % exc,
            results=exc.results,
            changed=any(item["changed"] for item in exc.results),
        )
    outcome = dict(changed=any(item["changed"] for item in results), results=results)
    if module._diff:
        outcome["diff"] = diffs
    module.exit_json(**outcome)


def main():
    run(AnsibleModule(**module_spec()))


if __name__ == "__main__":
    main()
