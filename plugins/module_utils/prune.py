# -*- coding: utf-8 -*-
# Copyright: Intelligent Agent platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Safe pruning after a verified release.

Two kinds of leftovers:

* content-versioned ConfigMaps and Secrets (``<name>-<hash>``), found by their labels and ordered by age. A
  version is deleted only when it is not the current one, not among the newest ``keep``, and not referenced by
  any ReplicaSet left in the namespace. Deployments keep ``revisionHistoryLimit`` old
  ReplicaSets; each is a rollback target and restarts pods from its own config, so the config it names must stay.
* objects of the app kinds that the release no longer renders (a component removed from ``app_components``, a
  disabled Ingress): labelled as ours, live, and not in the rendered set.

The plan is made by plain functions (unit-tested without a cluster); PruneApi reads and deletes.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.intelligent_agent.platform.plugins.module_utils.live_objects import (
    LiveObjects,
    LiveObjectsError,
)

# The kinds the app role renders (those whose objects a removed component leaves behind). VerticalPodAutoscalers
# are pruned only when asked (a cluster may not serve them, a deployer may not delete them).
APP_KINDS = ("Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget", "Ingress")
OPTIONAL_APP_KINDS = ("VerticalPodAutoscaler",)


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
def versions_oldest_first(objects):
    """The names of content-versioned objects (dicts), oldest first (creation time, then name)."""
    return [
        o["metadata"]["name"]
        for o in sorted(
            objects, key=lambda o: ((o.get("metadata") or {}).get("creationTimestamp") or "", o["metadata"]["name"])
        )
    ]


def version_plan(known, current, referenced, keep):
    """(kept, pruned): the versions that stay (oldest first, the current last) and those to delete.

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


def prune_pending(live_objects, rendered, labels, version_counts):
    """Why a prune after this release would delete something, as the live objects read under the lock tell: an
    object of the app kinds labelled ``labels`` that the release does not render, or a kind of content-versioned
    objects with more versions than it keeps ({kind, keep, and count, or the labels to count the live objects of the
    kind by}: the newest ``keep`` and the current one stay).
    An empty list: a run that changed nothing has nothing to prune either."""
    rendered_keys = set((obj.get("kind"), (obj.get("metadata") or {}).get("name")) for obj in rendered)
    reasons = []
    for obj in live_objects:
        key = (obj.get("kind"), (obj.get("metadata") or {}).get("name"))
        if obj.get("kind") in APP_KINDS + OPTIONAL_APP_KINDS and _labelled(obj, labels) and key not in rendered_keys:
            reasons.append("%s/%s is not rendered any more" % key)
    for entry in version_counts:
        count = entry.get("count")
        if count is None:  # counted here: the live objects of the kind that carry the entry's labels and ours
            wanted = dict(labels, **entry.get("labels", {}))
            count = len([obj for obj in live_objects if obj.get("kind") == entry["kind"] and _labelled(obj, wanted)])
        if count > entry["keep"] + 1:
            reasons.append("%d %s versions, %d kept" % (count, entry["kind"], entry["keep"] + 1))
    return reasons


def _labelled(obj, labels):
    found = (obj.get("metadata") or {}).get("labels") or {}
    return all(found.get(key) == value for key, value in labels.items())


# ---- the API ---------------------------------------------------------------------------------------------
class PruneApi(object):
    """Lists and deletes the namespace's objects (errors become PruneError)."""

    def __init__(self, api_client, namespace):
        self.live = LiveObjects(api_client, namespace)
        self.namespace = namespace

    def _live(self, func, *args):
        try:
            return func(*args)
        except LiveObjectsError as exc:
            raise PruneError(str(exc))

    def replicasets(self):
        return self._live(self.live.list, "ReplicaSet") or []

    def versions(self, kind, label_selector):
        """The content-versioned objects of ``kind`` that carry the labels."""
        return self._live(self.live.list, kind, label_selector) or []

    def delete_versioned(self, kind, name):
        return self._live(self.live.delete, kind, name)

    def list_app_objects(self, label_selector, kinds=APP_KINDS):
        """('Kind', 'name') of the live objects of ``kinds`` that carry the labels (a kind the cluster does not serve
        has none)."""
        found = []
        for kind in kinds:
            items = self._live(self.live.list, kind, label_selector) or []
            found.extend((kind, item["metadata"]["name"]) for item in items)
        return found

    def delete_app_object(self, kind, name):
        # Foreground: a Deployment's ReplicaSets and pods go with it.
        return self._live(self.live.delete, kind, name, "Foreground")
