# -*- coding: utf-8 -*-
# Copyright: Intelligent Agent platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What lives in a namespace, read in one process: the kinds a release touches, listed with the typed clients
(no discovery round trips) and returned as the plain dicts of the API's JSON.

Reading them in one module call instead of one task per kind is what makes the snapshot and the backup of a
release cost one round of requests (about a second) instead of one Ansible task per kind.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

from ansible_collections.intelligent_agent.platform.plugins.module_utils.cluster_query import (
    ClusterQueryError,
    raw_call,
    status_message,
)

# kind -> (apiVersion, resource name in the REST path)
KINDS = {
    "Deployment": ("apps/v1", "deployments"),
    "ReplicaSet": ("apps/v1", "replicasets"),
    "Service": ("v1", "services"),
    "ConfigMap": ("v1", "configmaps"),
    "Secret": ("v1", "secrets"),
    "ServiceAccount": ("v1", "serviceaccounts"),
    "HorizontalPodAutoscaler": ("autoscaling/v2", "horizontalpodautoscalers"),
    "PodDisruptionBudget": ("policy/v1", "poddisruptionbudgets"),
    "Ingress": ("networking.k8s.io/v1", "ingresses"),
    "NetworkPolicy": ("networking.k8s.io/v1", "networkpolicies"),
    "VerticalPodAutoscaler": ("autoscaling.k8s.io/v1", "verticalpodautoscalers"),
}
# Server bookkeeping a backup leaves out (kubectl apply --server-side of the backup must work).
SERVER_METADATA = ("managedFields", "resourceVersion", "uid", "creationTimestamp", "generation", "selfLink")


class LiveObjectsError(Exception):
    """A list or delete failed for another reason than a missing API (permissions, API errors)."""


# ---- pure helpers ----------------------------------------------------------------------------------------
def without_server_fields(obj):
    """A manifest as it could be applied again: no status, no server bookkeeping in metadata."""
    clean = dict((key, value) for key, value in obj.items() if key != "status")
    clean["metadata"] = dict(
        (key, value) for key, value in (obj.get("metadata") or {}).items() if key not in SERVER_METADATA
    )
    return clean


def workload_summary(deployment):
    """What a release needs to know of a Deployment: revision, version, images, replicas, ready, change cause."""
    metadata = deployment.get("metadata") or {}
    annotations = metadata.get("annotations") or {}
    template = (deployment.get("spec") or {}).get("template") or {}
    labels = ((template.get("metadata") or {}).get("labels")) or {}
    try:
        revision = int(annotations.get("deployment.kubernetes.io/revision") or 0)
    except ValueError:
        revision = 0
    return {
        "revision": revision,
        "version": labels.get("app.kubernetes.io/version") or "unknown",
        "images": [c.get("image") for c in ((template.get("spec") or {}).get("containers") or [])],
        "replicas": (deployment.get("spec") or {}).get("replicas", 1),
        "ready": ((deployment.get("status") or {}).get("readyReplicas")) or 0,
        "change_cause": annotations.get("kubernetes.io/change-cause") or "",
        "rolled_out": rolled_out(deployment),
    }


def rolled_out(deployment):
    """Whether a Deployment's rollout is complete, as `kubectl rollout status` decides: the controller saw the
    current spec, every replica runs the current template and is available, no old replica is left."""
    spec, status = deployment.get("spec") or {}, deployment.get("status") or {}
    wanted = spec.get("replicas", 1)
    updated = status.get("updatedReplicas") or 0
    return (
        (status.get("observedGeneration") or 0) >= ((deployment.get("metadata") or {}).get("generation") or 0)
        and updated == wanted
        and (status.get("replicas") or 0) == updated
        and (status.get("availableReplicas") or 0) == updated
    )


def workloads_of(deployments, components=None):
    """name -> workload_summary, restricted to ``components`` when given."""
    return dict(
        (d["metadata"]["name"], workload_summary(d))
        for d in deployments
        if not components or d["metadata"]["name"] in components
    )


def backup_text(header, objects):
    """The backup file: comment lines, then one YAML document per object (JSON when PyYAML is missing)."""
    try:
        import yaml

        def dump(obj):
            return yaml.safe_dump(obj, default_flow_style=False, sort_keys=False)

    except ImportError:  # JSON is YAML too

        def dump(obj):
            return json.dumps(obj, indent=2, sort_keys=True) + "\n"

    def readable(obj):  # apiVersion and kind first, as people write manifests
        ordered = dict((key, obj[key]) for key in ("apiVersion", "kind") if key in obj)
        ordered.update((key, value) for key, value in obj.items() if key not in ordered)
        return ordered

    lines = ["# %s\n" % line for line in header]
    return "".join(lines) + "".join("---\n" + dump(readable(obj)) for obj in objects)


def secret_names_text(names):
    """The note that replaces the Secrets in a backup: their names only, never values."""
    return "# Secrets are not backed up in plain text. Their names (values are in the vault):\n" + "".join(
        "%s\n" % name for name in names
    )


# ---- the API ---------------------------------------------------------------------------------------------
class LiveObjects(object):
    """Lists and deletes namespaced objects of the known kinds with raw JSON requests (cluster_query.raw_call)."""

    def __init__(self, api_client, namespace, request_timeout=30):
        self.api_client = api_client
        self.namespace = namespace
        self.request_timeout = request_timeout

    def _path(self, kind, name=None):
        if kind not in KINDS:
            raise LiveObjectsError(
                "kind %s is not one this collection reads (known: %s)" % (kind, ", ".join(sorted(KINDS)))
            )
        api_version, plural = KINDS[kind]
        prefix = "/api/%s" % api_version if "/" not in api_version else "/apis/%s" % api_version
        return "%s/namespaces/%s/%s%s" % (prefix, self.namespace, plural, "/%s" % name if name else "")

    def _call(self, what, method, path, query=None, body=None):
        try:
            status, text = raw_call(
                self.api_client, method, path, body=body, query=query, request_timeout=self.request_timeout
            )
        except ClusterQueryError as exc:
            raise LiveObjectsError("cannot %s in namespace %s: %s" % (what, self.namespace, exc))
        if status >= 300 and status != 404:
            raise LiveObjectsError(
                "cannot %s in namespace %s: HTTP %s %s" % (what, self.namespace, status, status_message(text))
            )
        return status, text

    def list(self, kind, label_selector=None):
        """The objects of ``kind`` (dicts with kind and apiVersion set); None when the cluster lacks the API."""
        query = [("labelSelector", label_selector)] if label_selector else []
        status, text = self._call("list %ss" % kind, "GET", self._path(kind), query)
        if status == 404:
            return None
        items = json.loads(text).get("items") or []
        for item in items:  # a list's items carry neither
            item.setdefault("kind", kind)
            item.setdefault("apiVersion", KINDS[kind][0])
        return items

    def delete(self, kind, name, propagation_policy="Background"):
        """Delete one object; False when it was already gone."""
        body = {"apiVersion": "v1", "kind": "DeleteOptions", "propagationPolicy": propagation_policy}
        status, _text = self._call("delete %s %s" % (kind, name), "DELETE", self._path(kind, name), body=body)
        return status != 404
