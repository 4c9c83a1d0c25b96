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

# kind -> (apiVersion, typed client class, method suffix of list_namespaced_* / delete_namespaced_*)
KINDS = {
    "Deployment": ("apps/v1", "AppsV1Api", "deployment"),
    "ReplicaSet": ("apps/v1", "AppsV1Api", "replica_set"),
    "Service": ("v1", "CoreV1Api", "service"),
    "ConfigMap": ("v1", "CoreV1Api", "config_map"),
    "Secret": ("v1", "CoreV1Api", "secret"),
    "ServiceAccount": ("v1", "CoreV1Api", "service_account"),
    "HorizontalPodAutoscaler": ("autoscaling/v2", "AutoscalingV2Api", "horizontal_pod_autoscaler"),
    "PodDisruptionBudget": ("policy/v1", "PolicyV1Api", "pod_disruption_budget"),
    "Ingress": ("networking.k8s.io/v1", "NetworkingV1Api", "ingress"),
    "NetworkPolicy": ("networking.k8s.io/v1", "NetworkingV1Api", "network_policy"),
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
    }


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
    """Lists and deletes namespaced objects of the known kinds with a kubernetes ApiClient."""

    def __init__(self, api_client, namespace, request_timeout=30):
        from kubernetes import client  # imported here: the pure functions above need no client

        self.client = client
        self.api_client = api_client
        self.namespace = namespace
        self.request_timeout = request_timeout

    def _method(self, kind, verb):
        if kind not in KINDS:
            raise LiveObjectsError(
                "kind %s is not one this collection reads (known: %s)" % (kind, ", ".join(sorted(KINDS)))
            )
        _version, api_class, suffix = KINDS[kind]
        return getattr(getattr(self.client, api_class)(self.api_client), "%s_namespaced_%s" % (verb, suffix))

    def _error(self, what, exc):
        status = getattr(exc, "status", None)
        reason = getattr(exc, "reason", None) or str(exc)
        return LiveObjectsError(
            "cannot %s in namespace %s: %s%s" % (what, self.namespace, "HTTP %s " % status if status else "", reason)
        )

    def list(self, kind, label_selector=None):
        """The objects of ``kind`` (dicts with kind and apiVersion set); None when the cluster lacks the API."""
        kwargs = {"_preload_content": False, "_request_timeout": self.request_timeout}
        if label_selector:
            kwargs["label_selector"] = label_selector
        try:
            response = self._method(kind, "list")(self.namespace, **kwargs)
        except Exception as exc:  # pylint: disable=broad-except
            if getattr(exc, "status", None) == 404:
                return None
            raise self._error("list %ss" % kind, exc)
        try:
            items = json.loads(response.data).get("items") or []
        finally:
            response.release_conn()
        for item in items:  # a list's items carry neither
            item.setdefault("kind", kind)
            item.setdefault("apiVersion", KINDS[kind][0])
        return items

    def delete(self, kind, name, propagation_policy="Background"):
        """Delete one object; False when it was already gone."""
        try:
            self._method(kind, "delete")(
                name, self.namespace, propagation_policy=propagation_policy, _request_timeout=self.request_timeout
            )
        except Exception as exc:  # pylint: disable=broad-except
            if getattr(exc, "status", None) == 404:
                return False
            raise self._error("delete %s %s" % (kind, name), exc)
        return True
