#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Intelligent Agent platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: release_history
short_description: Read the release history of an environment, or append a record to it safely
version_added: 0.2.0
author: Intelligent Agent platform team (@intelligent-agent)
description:
  - The release history is a ConfigMap in the environment's namespace whose key C(releases.json) holds the
    release records (deploys and rollbacks), newest last, each with an integer C(id).
  - O(state=appended) appends O(record) with a compare-and-swap on the ConfigMap's resourceVersion, so that two
    runs recording at the same time never lose a record, and keeps the newest O(keep) records.
  - O(state=read) returns the records. Reading is tolerant. A C(releases.json) that is not JSON, or a record that
    is not an object, is reported in RV(problems) and left out instead of failing, so that a damaged history never
    blocks a deploy or a rollback. When a record is appended to a history that is unreadable as a whole, the old
    text is kept under the key C(releases.corrupt.json).
  - With O(objects), the Services, HPAs, PDBs and Ingress of the release are kept in an immutable ConfigMap named
    by their content (C(<name>-objects-<hash>)) and the record names it (C(objects)); O(find_versions) finds the
    newest succeeded release that ran given versions and returns its objects, which a rollback puts back.
extends_documentation_fragment:
  - kubernetes.core.k8s_auth_options
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.flow
  - ansible.builtin.action_common_attributes.actiongroups
  - intelligent_agent.platform.k8s_module
attributes:
  check_mode:
    support: full
    details: In check mode nothing is written; O(state=appended) reports the record it would append.
  action:
    support: none
options:
  namespace:
    description: Namespace of the history ConfigMap (the environment's namespace).
    type: str
    required: true
  name:
    description: Name of the history ConfigMap.
    type: str
    required: true
  state:
    description: C(read) returns the records; C(appended) appends O(record).
    type: str
    choices: [read, appended]
    default: read
  record:
    description:
      - The record to append (required with O(state=appended)). Its C(id) is chosen by the module (one more than
        the highest recorded); any C(id) given is replaced.
    type: dict
  keep:
    description:
      - How many records the history keeps (the oldest beyond it are dropped when appending).
      - The release-objects ConfigMaps no kept record names any more are deleted after the append (a failure to
        delete them is reported in RV(problems), never fatal).
    type: int
    default: 30
  objects:
    description:
      - With O(state=appended), the release's objects to keep with the record (manifests without status), for a later
        rollback to this release.
    type: list
    elements: dict
  find_versions:
    description:
      - With O(state=read), component name -> version. RV(found) is then the newest succeeded deploy record with
        recorded objects that ran these versions, and RV(objects) its objects.
    type: dict
  labels:
    description: Labels added to the ConfigMap's own (C(app.kubernetes.io/managed-by), C(app.kubernetes.io/component)).
    type: dict
    default: {}
"""

EXAMPLES = r"""
- name: Append the record of this deploy
  intelligent_agent.platform.release_history:
    namespace: intelligent-agent
    name: intelligent-agent-release-history
    state: appended
    record:
      kind: deploy
      version: 1.4.0
      result: succeeded
      revisions: {backend: 7, frontend: 5}
    labels:
      app.kubernetes.io/part-of: intelligent-agent

- name: Read the history (a damaged record is reported, not fatal)
  intelligent_agent.platform.release_history:
    namespace: intelligent-agent
    name: intelligent-agent-release-history
  register: history
"""

RETURN = r"""
records:
  description: The valid records, newest last (after the append with O(state=appended)).
  returned: always
  type: list
  elements: dict
  sample: [{id: 12, kind: deploy, version: 1.4.0, result: succeeded}]
record:
  description: The record as appended, with its C(id).
  returned: when O(state=appended)
  type: dict
  sample: {id: 13, kind: deploy, version: 1.4.1, result: rolled-back}
pruned_objects:
  description: The release-objects ConfigMaps deleted after the append because no kept record names them.
  returned: when O(state=appended)
  type: list
  elements: str
  sample: [intelligent-agent-release-history-objects-0a1b2c3d4e]
problems:
  description:
    - What was left out of the history because it could not be read, one sentence each; with O(state=appended),
      also a failure to prune the orphaned release-objects ConfigMaps.
  returned: always
  type: list
  elements: str
  sample: ["record 3 of releases.json is a str, not an object: left out"]
found:
  description: The record O(find_versions) found (empty when none matches).
  returned: when O(find_versions) is given
  type: dict
  sample:
    id: 12
    kind: deploy
    version: 1.4.0
    result: succeeded
    objects: intelligent-agent-release-history-objects-0a1b2c3d4e
objects:
  description: The objects recorded with RV(found) (empty when none).
  returned: when O(find_versions) is given
  type: list
  elements: dict
resource_version:
  description: The ConfigMap's resourceVersion as read (empty when there is no history yet).
  returned: always
  type: str
  sample: "48213"
"""


from ansible.module_utils.basic import AnsibleModule

from ansible_collections.intelligent_agent.platform.plugins.module_utils import k8s_module
from ansible_collections.intelligent_agent.platform.plugins.module_utils.release_history import (
    HistoryApi,
    HistoryError,
    append,
    appended_data,
    find_release,
    history_of,
    objects_body,
    objects_name,
    objects_of,
    prune_orphaned_objects,
)


def argument_spec():
    return k8s_module.argument_spec(
        namespace=dict(type="str", required=True),
        name=dict(type="str", required=True),
        state=dict(type="str", choices=["read", "appended"], default="read"),
        record=dict(type="dict"),
        keep=dict(type="int", default=30),
        objects=dict(type="list", elements="dict"),
        find_versions=dict(type="dict"),
        labels=dict(type="dict", default={}),
    )


def answer(module, api):
    params = module.params
    configmap = api.read()
    records, problems, resource_version, _raw = history_of(configmap)
    for problem in problems:
        module.warn("release history %s/%s: %s" % (params["namespace"], params["name"], problem))
    if params["state"] == "read":
        found = {}
        if params["find_versions"] is not None:
            match = find_release(records, params["find_versions"])
            found = {"found": match or {}, "objects": objects_of(api.read(match["objects"])) if match else []}
        module.exit_json(changed=False, records=records, problems=problems, resource_version=resource_version, **found)
    record = dict(params["record"])
    if params["objects"]:
        record["objects"] = objects_name(params["name"], params["objects"])
    if module.check_mode:
        _data, stored, _problems = appended_data(configmap, record, params["keep"])
        module.exit_json(
            changed=True,
            record=stored,
            records=(records + [stored])[-params["keep"] :],
            problems=problems,
            resource_version=resource_version,
        )
    if params["objects"]:
        api.store_objects(objects_body(record["objects"], params["namespace"], params["objects"], params["labels"]))
    stored, problems, records = append(api, record, params["keep"], params["labels"])
    pruned, prune_problem = prune_orphaned_objects(api, records)
    module.exit_json(
        changed=True,
        record=stored,
        records=records,
        pruned_objects=pruned,
        problems=problems + ([prune_problem] if prune_problem else []),
        resource_version=resource_version,
    )


def module_spec():
    return dict(
        argument_spec=argument_spec(),
        required_if=[("state", "appended", ["record"])],
        supports_check_mode=True,
    )


def run(module):
    if module.params["keep"] < 1:
        module.fail_json(msg="keep must be at least 1, got %s" % module.params["keep"])
    api_client = k8s_module.raw_client_or_fail(module)
    try:
        answer(module, HistoryApi(api_client, module.params["namespace"], module.params["name"]))
    except HistoryError as exc:
        module.fail_json(msg=str(exc))


def main():
    run(AnsibleModule(**module_spec()))


if __name__ == "__main__":
    main()
