# -*- coding: utf-8 -*-
# Copyright: Intelligent Agent platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Safe pruning after a verified release.

Two kinds of leftovers:

* content-versioned ConfigMaps and Secrets (``<name>-<hash>``): each index ConfigMap (``<name>-versions``) lists
  them oldest first. A version is deleted only when it is not the current one, not among the newest ``keep``, and
  not referenced by any ReplicaSet left in the namespace. Deployments keep ``revisionHistoryLimit`` old
  ReplicaSets; each is a rollback target and restarts pods from its own config, so the config it names must stay.
* objects of the app kinds that the release no longer renders (a component removed from ``app_components``, a
  disabled Ingress): labelled as ours, live, and not in the rendered set.

The plan is made by plain functions (unit-tested without a cluster); PruneApi reads and deletes.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

# The kinds the app role renders, with the typed client call names (group api class, plural in the method names).
APP_KINDS = {
    "Deployment": ("AppsV1Api", "deployment"),
    "Service": ("CoreV1Api", "service"),
    "HorizontalPodAutoscaler": ("AutoscalingV2Api", "horizontal_pod_autoscaler"),
    "PodDisruptionBudget": ("PolicyV1Api", "pod_disruption_budget"),
    "Ingress": ("NetworkingV1Api", "ingress"),
}
VERSIONED_KINDS = {"ConfigMap": "config_map", "Secret": "secret"}


class PruneError(Exception):
    """A read or a delete failed (permissions, API errors)."""


# ---- what the ReplicaSets still use ----------------------------------------------------------------------
def pod_spec_references(pod_spec):
    """{'ConfigMap': set(names), 'Secret': set(names)} that a pod spec mounts, imports or pulls with."""
    found = {"ConfigMap": set(), "Secret": set()}
    spec = pod_spec or {}
    for pull in spec.get("imagePullSecrets") or []:
        _add(found, "Secret", pull.get("name"))
    for container in (spec.get("containers") or []) + (spec.get("initContainers") or []):
        for source in container.get("envFrom") or []:
            _add(found, "ConfigMap", (source.get("configMapRef") or {}).get("name"))
            _add(found, "Secret", (source.get("secretRef") or {}).get("name"))
        for variable in container.get("env") or []:
            value_from = variable.get("valueFrom") or {}
            _add(found, "ConfigMap", (value_from.get("configMapKeyRef") or {}).get("name"))
            _add(found, "Secret", (value_from.get("secretKeyRef") or {}).get("name"))
    for volume in spec.get("volumes") or []:
        _add(found, "ConfigMap", (volume.get("configMap") or {}).get("name"))
        _add(found, "Secret", (volume.get("secret") or {}).get("secretName"))
        for projected in (volume.get("projected") or {}).get("sources") or []:
            _add(found, "ConfigMap", (projected.get("configMap") or {}).get("name"))
            _add(found, "Secret", (projected.get("secret") or {}).get("name"))
    return found


def _add(found, kind, name):
    if name:
        found[kind].add(name)


def referenced_by(replicasets):
    """The ConfigMaps and Secrets any of these ReplicaSets (dicts) references."""
    found = {"ConfigMap": set(), "Secret": set()}
    for replicaset in replicasets:
        refs = pod_spec_references((((replicaset.get("spec") or {}).get("template") or {}).get("spec")))
        for kind in found:
            found[kind] |= refs[kind]
    return found


# ---- the plans ---------------------------------------------------------------------------------------------
def parse_versions(index_configmap):
    """The version names an index ConfigMap lists, oldest first (an unreadable list counts as empty)."""
    text = ((index_configmap or {}).get("data") or {}).get("versions") or "[]"
    try:
        names = json.loads(text)
    except ValueError:
        return []
    return [str(n) for n in names if n] if isinstance(names, list) else []


def version_plan(known, current, referenced, keep):
    """(kept, pruned): the versions the index keeps (oldest first, the current last) and those to delete.

    Kept: the current version, the newest ``keep`` others, and every version a ReplicaSet references.
    """
    older = [name for name in _unique(known) if name != current]
    recent = set(older[-keep:]) if keep > 0 else set()
    kept = [name for name in older if name in recent or name in referenced]
    pruned = [name for name in older if name not in kept]
    return kept + ([current] if current else []), pruned


def _unique(names):
    seen = set()
    return [n for n in names if not (n in seen or seen.add(n))]


def removed_objects(live, rendered):
    """The live objects ('Kind', 'name') that the release no longer renders, sorted."""
    wanted = set((kind, name) for kind, name in rendered)
    return sorted(key for key in set(live) if key not in wanted)


# ---- the API ---------------------------------------------------------------------------------------------
class PruneApi(object):
    """Lists and deletes the objects of one namespace with a kubernetes ApiClient."""

    def __init__(self, api_client, namespace):
        from kubernetes import client  # imported here: the pure functions above need no client

        self.client = client
        self.api_client = api_client
        self.serialize = api_client.sanitize_for_serialization
        self.namespace = namespace

    def _api(self, name):
        return getattr(self.client, name)(self.api_client)

    def _call(self, what, func, *args, **kwargs):
        try:
            return func(*args, _request_timeout=30, **kwargs)
        except Exception as exc:  # pylint: disable=broad-except
            status = getattr(exc, "status", None)
            if status == 404:
                return None
            reason = getattr(exc, "reason", None) or str(exc)
            raise PruneError("cannot %s in %s: %s%s" % (what, self.namespace, "HTTP %s " % status if status else "",
                                                        reason))

    def replicasets(self):
        found = self._call("list the ReplicaSets", self._api("AppsV1Api").list_namespaced_replica_set, self.namespace)
        return [self.serialize(item) for item in (found.items if found else [])]

    def read_configmap(self, name):
        found = self._call("read ConfigMap %s" % name, self._api("CoreV1Api").read_namespaced_config_map, name,
                           self.namespace)
        return self.serialize(found) if found is not None else None

    def write_index(self, name, versions, resource_version):
        # The resourceVersion read makes this a compare-and-swap (409 when another run changed the index).
        body = {"metadata": {"resourceVersion": resource_version}, "data": {"versions": json.dumps(versions)}}
        self._call("update the version list %s" % name, self._api("CoreV1Api").patch_namespaced_config_map, name,
                   self.namespace, body)

    def delete_versioned(self, kind, name):
        method = getattr(self._api("CoreV1Api"), "delete_namespaced_%s" % VERSIONED_KINDS[kind])
        return self._call("delete %s %s" % (kind, name), method, name, self.namespace) is not None

    def list_app_objects(self, label_selector):
        """('Kind', 'name') of the live objects of the app kinds that carry the labels."""
        found = []
        for kind, (api_name, plural) in sorted(APP_KINDS.items()):
            method = getattr(self._api(api_name), "list_namespaced_%s" % plural)
            listed = self._call("list the %ss" % kind, method, self.namespace, label_selector=label_selector)
            found.extend((kind, item.metadata.name) for item in (listed.items if listed else []))
        return found

    def delete_app_object(self, kind, name):
        api_name, plural = APP_KINDS[kind]
        method = getattr(self._api(api_name), "delete_namespaced_%s" % plural)
        # Foreground: a Deployment's ReplicaSets and pods go with it.
        return self._call("delete %s %s" % (kind, name), method, name, self.namespace,
                          propagation_policy="Foreground") is not None
