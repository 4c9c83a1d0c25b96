#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Intelligent Agent platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: release_snapshot
short_description: Read what a release serves now, and the live manifests to back up, in one call
version_added: 0.2.0
author: Intelligent Agent platform team (@intelligent-agent)
description:
  - Reads the platform's Deployments (revision, version, images, replicas, ready pods, change cause) and, for a
    backup, the live objects of O(backup_kinds) and the Secrets, all in one module call with the typed Kubernetes
    clients (no API discovery). It replaces one task per kind; the deploy's snapshot and backup take about a
    second each.
  - Backup manifests come without status and server bookkeeping (managedFields, resourceVersion, uid,
    creationTimestamp, generation), ready for C(kubectl apply --server-side).
  - Secret values are returned only with O(include_secret_data) (for a vault-encrypted backup); register the
    result with C(no_log) then. Otherwise only the Secret names are returned.
  - A kind whose API the cluster does not serve is skipped and named in RV(missing_kinds).
extends_documentation_fragment:
  - kubernetes.core.k8s_auth_options
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.flow
  - ansible.builtin.action_common_attributes.actiongroups
  - intelligent_agent.platform.k8s_module
attributes:
  check_mode:
    support: full
    details: The module only reads; check mode changes nothing.
  action:
    support: none
options:
  namespace:
    description: The environment's namespace.
    type: str
    required: true
  selector:
    description: Label selector of the platform's objects (for example C(app.kubernetes.io/part-of=intelligent-agent)).
    type: str
    required: true
  components:
    description: Report only these Deployments (empty reports every Deployment that carries O(selector)).
    type: list
    elements: str
    default: []
  backup_kinds:
    description:
      - Kinds whose live objects are returned in RV(objects) for a backup. Known kinds are Deployment,
        ReplicaSet, Service, ConfigMap, ServiceAccount, HorizontalPodAutoscaler, PodDisruptionBudget, Ingress and
        NetworkPolicy.
    type: list
    elements: str
    default: []
  secret_names:
    description: Also return the names of the Secrets that carry O(selector) in RV(secret_names).
    type: bool
    default: false
  configmap_names:
    description: Also return the names of the ConfigMaps that carry O(selector) in RV(configmap_names).
    type: bool
    default: false
  include_secret_data:
    description: Also return those Secrets whole in RV(secrets) (use C(no_log)).
    type: bool
    default: false
  backup_path:
    description:
      - Also write the backup into this folder (created with mode 0700 on the host the module runs on, the
        controller for deploy.yml). C(manifests.yml) holds the objects of O(backup_kinds) as YAML documents,
        mode 0600, ready for C(kubectl apply --server-side -f). C(secrets-omitted.txt) lists the Secret names
        unless O(include_secret_data) is set (the caller then writes the Secrets vault-encrypted).
      - Writing here instead of in separate file tasks saves about a second per deploy.
    type: path
  return_manifests:
    description:
      - Return the objects of O(backup_kinds) whole in RV(objects). When false, each is returned as its
        C(apiVersion), C(kind), name and labels only (what a prune plan needs); the manifests are in the backup
        file. Every variable a task keeps is copied into each template a later task renders, so a deploy that
        keeps the whole namespace in a variable pays for it in every render.
    type: bool
    default: true
  backup_header:
    description: Comment lines written at the top of C(manifests.yml) (without the leading C(#)).
    type: list
    elements: str
    default: []
"""

EXAMPLES = r"""
- name: Read what serves now
  intelligent_agent.platform.release_snapshot:
    namespace: intelligent-agent
    selector: app.kubernetes.io/part-of=intelligent-agent
  register: snapshot

- name: Read the live manifests to back up
  intelligent_agent.platform.release_snapshot:
    namespace: intelligent-agent
    selector: app.kubernetes.io/part-of=intelligent-agent
    backup_kinds: [Deployment, Service, ConfigMap, HorizontalPodAutoscaler, PodDisruptionBudget, Ingress]
    secret_names: true
  register: backup

- name: Write the backup into a folder, keeping only a reference to each object in the result
  intelligent_agent.platform.release_snapshot:
    namespace: intelligent-agent
    selector: app.kubernetes.io/part-of=intelligent-agent
    backup_kinds: [Deployment, Service, ConfigMap]
    backup_path: /var/backups/intelligent-agent/before-1.3.0
    return_manifests: false
  register: backup
"""

RETURN = r"""
workloads:
  description:
    - Deployment name -> revision, version (label C(app.kubernetes.io/version)), images, replicas, ready,
      change_cause.
  returned: always
  type: dict
  sample:
    backend: {revision: 4, version: 1.2.0, images: ["reg/backend@sha256:ab12"], replicas: 3, ready: 3, change_cause: ""}
objects:
  description:
    - The live objects of O(backup_kinds), without status and server bookkeeping; with O(return_manifests=false)
      only their C(apiVersion), C(kind), C(metadata.name) and C(metadata.labels).
  returned: always
  type: list
  elements: dict
secret_names:
  description: Names of the platform's Secrets (with O(secret_names) or O(include_secret_data)).
  returned: always
  type: list
  elements: str
replica_owners:
  description:
    - Every Deployment that carries O(selector) -> its C(replicas) and the field managers that applied
      C(spec.replicas) (C(appliers)). The app role needs them to leave the count of an autoscaled Deployment to
      its HPA.
  returned: always
  type: dict
  sample:
    backend: {replicas: 5, appliers: [intelligent-agent-platform-hpa-handover]}
configmap_names:
  description: Names of the platform's ConfigMaps (with O(configmap_names)).
  returned: always
  type: list
  elements: str
secrets:
  description: The platform's Secrets without server bookkeeping (only with O(include_secret_data)).
  returned: when O(include_secret_data) is true
  type: list
  elements: dict
backup_files:
  description: The files written into O(backup_path).
  returned: always
  type: list
  elements: str
missing_kinds:
  description: Kinds of O(backup_kinds) whose API the cluster does not serve (skipped).
  returned: always
  type: list
  elements: str
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.intelligent_agent.platform.plugins.module_utils import k8s_module
from ansible_collections.intelligent_agent.platform.plugins.module_utils.live_objects import (
    KINDS,
    LiveObjects,
    LiveObjectsError,
    backup_text,
    secret_names_text,
    without_server_fields,
    workloads_of,
)
from ansible_collections.intelligent_agent.platform.plugins.module_utils.replicas import replica_owners


def argument_spec():
    return k8s_module.argument_spec(
        namespace=dict(type="str", required=True),
        selector=dict(type="str", required=True),
        components=dict(type="list", elements="str", default=[]),
        backup_kinds=dict(type="list", elements="str", default=[]),
        secret_names=dict(type="bool", default=False),
        include_secret_data=dict(type="bool", default=False),
        configmap_names=dict(type="bool", default=False),
        backup_path=dict(type="path"),
        backup_header=dict(type="list", elements="str", default=[]),
        return_manifests=dict(type="bool", default=True),
    )


def read(live, params):
    selector = params["selector"]
    deployments = live.list("Deployment", selector) or []
    result = {
        "workloads": workloads_of(deployments, params["components"]),
        # Every Deployment, not only O(components): the app role plans the replica counts of all it renders.
        "replica_owners": replica_owners(deployments),
        "objects": [],
        "secret_names": [],
        "configmap_names": [],
        "missing_kinds": [],
    }
    for kind in params["backup_kinds"]:
        items = live.list(kind, selector)
        if items is None:
            result["missing_kinds"].append(kind)
        else:
            result["objects"].extend(without_server_fields(item) for item in items)
    if params["secret_names"] or params["include_secret_data"]:
        secrets = live.list("Secret", selector) or []
        result["secret_names"] = sorted(item["metadata"]["name"] for item in secrets)
        if params["include_secret_data"]:
            result["secrets"] = [without_server_fields(item) for item in secrets]
    if params["configmap_names"]:
        backed_up = [obj for obj in result["objects"] if obj.get("kind") == "ConfigMap"]
        configmaps = backed_up if "ConfigMap" in params["backup_kinds"] else live.list("ConfigMap", selector) or []
        result["configmap_names"] = sorted(item["metadata"]["name"] for item in configmaps)
    return result


def object_reference(obj):
    """apiVersion, kind, name and labels of a live object."""
    metadata = obj.get("metadata") or {}
    return {
        "apiVersion": obj.get("apiVersion"),
        "kind": obj.get("kind"),
        "metadata": {"name": metadata.get("name"), "labels": metadata.get("labels") or {}},
    }


def write_private(path, text):
    """Write ``text`` to ``path`` readable by its owner only (created so, never world-readable for a moment)."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(text)
    os.chmod(path, 0o600)


def write_backup(path, header, result, with_secret_data):
    """manifests.yml (and secrets-omitted.txt) in ``path``; the paths written."""
    if not os.path.isdir(path):
        os.makedirs(path, 0o700)
    manifests = os.path.join(path, "manifests.yml")
    write_private(manifests, backup_text(header, result["objects"]))
    written = [manifests]
    if not with_secret_data:
        omitted = os.path.join(path, "secrets-omitted.txt")
        write_private(omitted, secret_names_text(result["secret_names"]))
        written.append(omitted)
    return written


def module_spec():
    return dict(argument_spec=argument_spec(), supports_check_mode=True)


def run(module):
    unknown = [kind for kind in module.params["backup_kinds"] if kind not in KINDS or kind == "Secret"]
    if unknown:
        module.fail_json(
            msg="backup_kinds: %s not supported (known: %s; Secrets go through secret_names or "
            "include_secret_data)" % (", ".join(unknown), ", ".join(sorted(set(KINDS) - {"Secret"})))
        )
    api_client = k8s_module.raw_client_or_fail(module)
    try:
        result = read(LiveObjects(api_client, module.params["namespace"]), module.params)
    except LiveObjectsError as exc:
        module.fail_json(msg=str(exc))
    result["backup_files"] = []
    if module.params["backup_path"] and not module.check_mode:
        try:
            result["backup_files"] = write_backup(
                module.params["backup_path"],
                module.params["backup_header"],
                result,
                module.params["include_secret_data"],
            )
        except (IOError, OSError) as exc:
            where = module.params["backup_path"]
            module.fail_json(msg="backup_path: cannot write the backup into %s: %s" % (where, exc))
    if not module.params["return_manifests"]:
        result["objects"] = [object_reference(obj) for obj in result["objects"]]
    # The backup is bookkeeping on the controller, not a change of the platform.
    module.exit_json(changed=False, **result)


def main():
    run(AnsibleModule(**module_spec()))


if __name__ == "__main__":
    main()
