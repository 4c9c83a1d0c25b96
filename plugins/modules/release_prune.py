#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Intelligent Agent platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: release_prune
short_description: After a verified release, delete the config versions and app objects nothing uses any more
version_added: 0.2.0
author: Intelligent Agent platform team (@intelligent-agent)
description:
  - Run after the release was verified, never before (until then the previous release may still be needed).
  - Content-versioned ConfigMaps and Secrets are found by their labels (O(versioned)) and ordered by age. A
    version is deleted only when it is not the current one, not among the newest O(keep_versions), and not
    referenced by any ReplicaSet left in the namespace (envFrom, env, volumes, projected volumes, image pull
    secrets). Deployments keep C(revisionHistoryLimit) old ReplicaSets, each a rollback target whose pods read their
    own config; the config they name therefore always stays, however many releases failed in between.
  - With O(rendered) given, live objects of the app kinds (O(kinds)) that carry O(selector) and are not in
    O(rendered) are deleted too, for example
    the objects of a component removed from the inventory or an Ingress that was disabled. Leave O(rendered)
    unset when the run rendered only some components.
extends_documentation_fragment:
  - kubernetes.core.k8s_auth_options
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.flow
  - ansible.builtin.action_common_attributes.actiongroups
  - intelligent_agent.platform.k8s_module
attributes:
  check_mode:
    support: full
    details: In check mode nothing is deleted; RV(deleted) lists what would be.
  action:
    support: none
options:
  namespace:
    description: The environment's namespace.
    type: str
    required: true
  versioned:
    description: The content-versioned objects, one entry per kind of version.
    type: list
    elements: dict
    default: []
    suboptions:
      kind:
        description: Kind of the versioned objects.
        type: str
        choices: [ConfigMap, Secret]
        required: true
      selector:
        description:
          - Label selector that finds every version, for example
            C(app.kubernetes.io/name=config,app.kubernetes.io/part-of=intelligent-agent).
        type: str
        required: true
      current:
        description: Name of the version the release uses (kept).
        type: str
        required: true
      keep:
        description: How many older versions of this entry stay regardless of references (default O(keep_versions)).
        type: int
  keep_versions:
    description: How many versions older than the current one are kept even when no ReplicaSet references them.
    type: int
    default: 3
  rendered:
    description:
      - The objects the release renders, each as C(kind) and C(name) or as its manifest (C(kind),
        C(metadata.name)). Given, the live objects of the app kinds that carry O(selector) and are not listed are
        deleted.
    type: list
    elements: dict
  kinds:
    description:
      - The kinds whose objects O(rendered) prunes. VerticalPodAutoscaler is left out by default - add it where the
        cluster serves it and these credentials may list and delete it (a kind the cluster does not serve is skipped).
    type: list
    elements: str
    choices: [Deployment, Service, HorizontalPodAutoscaler, PodDisruptionBudget, Ingress, VerticalPodAutoscaler]
    default: [Deployment, Service, HorizontalPodAutoscaler, PodDisruptionBudget, Ingress]
  selector:
    description: Label selector of the app objects this collection manages in the namespace (with O(rendered)).
    type: str
    default: app.kubernetes.io/managed-by=intelligent_agent.platform
"""

EXAMPLES = r"""
- name: Prune what the verified release no longer uses
  intelligent_agent.platform.release_prune:
    namespace: intelligent-agent
    versioned:
      - kind: ConfigMap
        selector: app.kubernetes.io/name=config,app.kubernetes.io/part-of=intelligent-agent
        current: intelligent-agent-config-5d41402a
      - kind: Secret
        selector: app.kubernetes.io/name=secrets,app.kubernetes.io/part-of=intelligent-agent
        current: intelligent-agent-secrets-7c211433
    keep_versions: 3
    rendered:
      - {kind: Deployment, name: frontend}
      - {kind: Service, name: frontend}
      - {kind: Deployment, name: backend}
      - {kind: Service, name: backend}
      - {kind: HorizontalPodAutoscaler, name: backend}
    selector: app.kubernetes.io/managed-by=intelligent_agent.platform,app.kubernetes.io/part-of=intelligent-agent
"""

RETURN = r"""
deleted:
  description: The objects deleted (in check mode, those that would be), as C(Kind/name).
  returned: always
  type: list
  elements: str
  sample: [ConfigMap/intelligent-agent-config-0cc175b9, Deployment/worker]
kept:
  description: Per kind of O(versioned), the versions that stay (oldest first, the current last).
  returned: always
  type: dict
  sample: {ConfigMap: [intelligent-agent-config-0cc175b9, intelligent-agent-config-5d41402a]}
referenced:
  description: The ConfigMaps and Secrets that ReplicaSets in the namespace reference (kept whatever their age).
  returned: always
  type: dict
  sample: {ConfigMap: [intelligent-agent-config-5d41402a], Secret: [intelligent-agent-secrets-7c211433]}
"""


from ansible.module_utils.basic import AnsibleModule

from ansible_collections.intelligent_agent.platform.plugins.module_utils import k8s_module
from ansible_collections.intelligent_agent.platform.plugins.module_utils.prune import (
    APP_KINDS,
    OPTIONAL_APP_KINDS,
    PruneApi,
    PruneError,
    referenced_by,
    removed_objects,
    version_plan,
    versions_oldest_first,
)


def argument_spec():
    return k8s_module.argument_spec(
        namespace=dict(type="str", required=True),
        versioned=dict(
            type="list",
            elements="dict",
            default=[],
            options=dict(
                kind=dict(type="str", choices=["ConfigMap", "Secret"], required=True),
                selector=dict(type="str", required=True),
                current=dict(type="str", required=True),
                keep=dict(type="int"),
            ),
        ),
        keep_versions=dict(type="int", default=3),
        rendered=dict(type="list", elements="dict"),
        kinds=dict(type="list", elements="str", choices=list(APP_KINDS + OPTIONAL_APP_KINDS), default=list(APP_KINDS)),
        selector=dict(type="str", default="app.kubernetes.io/managed-by=intelligent_agent.platform"),
    )


def prune_versions(module, api, referenced):
    """Delete the unused versions of every entry; returns (deleted, kept per kind)."""
    deleted, kept = [], {}
    for entry in module.params["versioned"]:
        known = versions_oldest_first(api.versions(entry["kind"], entry["selector"]))
        older_kept = module.params["keep_versions"] if entry["keep"] is None else entry["keep"]
        keep, prune = version_plan(known, entry["current"], referenced[entry["kind"]], older_kept)
        kept[entry["kind"]] = keep
        if prune and not module.check_mode:
            prune = [name for name in prune if api.delete_versioned(entry["kind"], name)]
        deleted.extend("%s/%s" % (entry["kind"], name) for name in prune)
    return deleted, kept


def prune_removed(module, api):
    rendered = [
        (item.get("kind"), item.get("name") or (item.get("metadata") or {}).get("name"))
        for item in module.params["rendered"]
    ]
    if not rendered:
        module.fail_json(msg="rendered: the release rendered no object; refusing to prune every app object")
    gone = removed_objects(api.list_app_objects(module.params["selector"], module.params["kinds"]), rendered)
    if not module.check_mode:
        gone = [(kind, name) for kind, name in gone if api.delete_app_object(kind, name)]
    return ["%s/%s" % item for item in gone]


def module_spec():
    return dict(argument_spec=argument_spec(), supports_check_mode=True)


def run(module):
    for position, entry in enumerate(module.params["versioned"]):
        if entry["keep"] is not None and entry["keep"] < 0:
            module.fail_json(msg="versioned[%d].keep must be 0 or more, got %s" % (position, entry["keep"]))
    if module.params["keep_versions"] < 0:
        module.fail_json(msg="keep_versions must be 0 or more, got %s" % module.params["keep_versions"])
    api_client = k8s_module.raw_client_or_fail(module)
    api = PruneApi(api_client, module.params["namespace"])
    try:
        referenced = referenced_by(api.replicasets())
        deleted, kept = prune_versions(module, api, referenced)
        if module.params["rendered"] is not None:
            deleted.extend(prune_removed(module, api))
    except PruneError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(
        changed=bool(deleted),
        deleted=deleted,
        kept=kept,
        referenced=dict((kind, sorted(names)) for kind, names in referenced.items()),
    )


def main():
    run(AnsibleModule(**module_spec()))


if __name__ == "__main__":
    main()
