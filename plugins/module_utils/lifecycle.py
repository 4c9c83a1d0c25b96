# -*- coding: utf-8 -*-
# Copyright: Intelligent Agent platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Decisions of the render and uninstall entry points (playbooks/render.yml, playbooks/uninstall.yml):
which Secret values a rendered file may hold, the file names of a render, and which live objects an
uninstall deletes. Plain functions over API objects: no Kubernetes client, no Ansible imports.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import fnmatch
import json
import re
from datetime import datetime, timedelta

from ansible_collections.intelligent_agent.platform.plugins.module_utils.rollout import (  # the shared dict helpers
    _get,
)

PART_OF = "app.kubernetes.io/part-of"
MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGER = "intelligent_agent.platform"
REDACTED = "REDACTED"
REDACTED_ANNOTATION = "intelligent-agent.platform/redacted"
SECRET_MODES = ("redact", "omit", "vault")

# Deletion order: what uses other objects first, the namespace's guard rails and the RBAC last.
DELETE_ORDER = (
    "HorizontalPodAutoscaler",
    "VerticalPodAutoscaler",
    "Deployment",
    "PodDisruptionBudget",
    "Ingress",
    "Service",
    "ConfigMap",
    "Secret",
    "NetworkPolicy",
    "Lease",
    "RoleBinding",
    "Role",
    "ServiceAccount",
    "LimitRange",
    "ResourceQuota",
    "Namespace",
)
# k8s_info messages that mean the cluster does not serve the kind at all (an optional API): nothing to delete.
API_ABSENT_RE = re.compile(
    r"(Failed to find exact match|could not find the requested resource|404|NotFound)", re.IGNORECASE
)


class LifecycleError(Exception):
    """Bad input to a lifecycle decision (names the argument)."""


def _b64(text):
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def redact_secret(secret):
    """A copy of a Secret manifest whose values are all replaced: data values by base64("REDACTED"), a
    .dockerconfigjson by a valid one naming only the registries, stringData values by "REDACTED". Marked
    with the intelligent-agent.platform/redacted annotation: for review, never to be applied."""
    out = json.loads(json.dumps(secret))
    data = out.get("data") or {}
    for key in list(data):
        if key == ".dockerconfigjson":
            try:
                servers = sorted((json.loads(base64.b64decode(data[key])).get("auths") or {}).keys())
            except (ValueError, TypeError, AttributeError):
                servers = []
            data[key] = _b64(
                json.dumps({"auths": dict((s, {"auth": _b64(REDACTED)}) for s in servers)}, sort_keys=True)
            )
        else:
            data[key] = _b64(REDACTED)
    for key in list(out.get("stringData") or {}):
        out["stringData"][key] = REDACTED
    metadata = out.setdefault("metadata", {})
    metadata["annotations"] = dict(metadata.get("annotations") or {}, **{REDACTED_ANNOTATION: "true"})
    return out


def _file_name(index, doc):
    kind = re.sub(r"[^a-z0-9]+", "-", str(doc.get("kind") or "object").lower()).strip("-")
    name = re.sub(r"[^a-z0-9.]+", "-", str(_get(doc, "metadata", "name", default="unnamed")).lower()).strip("-")
    return "%03d-%s-%s.yaml" % (index, kind, name)


def render_documents(manifests, secrets="redact"):
    """What playbooks/render.yml writes, from the manifests the roles rendered (in apply order).

    ``secrets``: ``redact`` (Secrets kept with every value replaced, see redact_secret), ``omit``
    (Secrets left out, their names listed) or ``vault`` (Secrets left out of the plain files and
    returned in ``secrets`` for a vault-encrypted file). Returns {documents: [{file, object}], secrets:
    [Secret manifests, vault mode only], omitted: ["Secret/name", ...]}.
    """
    if secrets not in SECRET_MODES:
        raise LifecycleError("render_secrets: %r is not one of %s" % (secrets, ", ".join(SECRET_MODES)))
    if not isinstance(manifests, (list, tuple)):
        raise LifecycleError("manifests: expected the list of rendered manifests")
    documents, kept, omitted = [], [], []
    for doc in manifests:
        if not isinstance(doc, dict) or not doc.get("kind"):
            raise LifecycleError(
                "manifests: every item must be a Kubernetes object with a kind, got %r" % (type(doc).__name__,)
            )
        if doc["kind"] == "Secret":
            if secrets == "redact":
                doc = redact_secret(doc)
            else:
                omitted.append("Secret/%s" % _get(doc, "metadata", "name", default="?"))
                if secrets == "vault":
                    kept.append(doc)
                continue
        documents.append(doc)
    return {
        "documents": [{"file": _file_name(i + 1, d), "object": d} for i, d in enumerate(documents)],
        "secrets": kept,
        "omitted": omitted,
    }


def _ref(obj, api_version=None, kind=None):
    """The smallest definition kubernetes.core.k8s deletes by: apiVersion, kind, metadata name/namespace."""
    metadata = {"name": _get(obj, "metadata", "name")}
    if _get(obj, "metadata", "namespace"):
        metadata["namespace"] = _get(obj, "metadata", "namespace")
    return {"apiVersion": obj.get("apiVersion") or api_version, "kind": obj.get("kind") or kind, "metadata": metadata}


def object_name(ref):
    return "%s/%s" % (ref.get("kind"), _get(ref, "metadata", "name"))


def _parse_time(text):
    if not text:
        return None
    text = re.sub(r"\.(\d{6})\d*", r".\1", str(text)).replace("Z", "+0000")
    for fmt in ("%Y-%m-%dT%H:%M:%S.%f%z", "%Y-%m-%dT%H:%M:%S%z"):
        try:
            return datetime.strptime(text, fmt)
        except ValueError:
            continue
    return None


def lease_holder(lease, now):
    """Who holds a deploy lock Lease at ``now`` (an aware datetime), or None when it is free or expired."""
    spec = lease.get("spec") or {}
    holder = spec.get("holderIdentity")
    renewed = _parse_time(spec.get("renewTime") or spec.get("acquireTime"))
    if not holder or renewed is None:
        return None
    if renewed + timedelta(seconds=int(spec.get("leaseDurationSeconds") or 0)) <= now:
        return None
    return holder


def _short_reason(message):
    """A listing failure in a few words: 'forbidden (403)' rather than the client's headers and body."""
    if re.search(r"\b403\b|forbidden", message, re.IGNORECASE):
        return "forbidden (403)"
    first = message.strip().splitlines()[0] if message.strip() else "not listed"
    return first if len(first) <= 160 else first[:157] + "..."


def uninstall_plan(listings, part_of, keep=(), namespace_object=None, delete_namespace=False, now=None, named=()):
    """Which live objects playbooks/uninstall.yml deletes.

    ``listings``: the loop results of k8s_info, one per kind ({item: {api_version, kind}, resources,
    failed, msg}). ``keep``: "Kind/name" patterns (fnmatch) left in place (the release history and the objects its
    records name). Only objects that
    carry both app.kubernetes.io/part-of=<part_of> and app.kubernetes.io/managed-by=intelligent_agent.platform
    and no ownerReferences are deleted (objects owned by another are deleted with their owner).
    ``named``: "Kind/name" of objects whose name already ties them to this platform (the deploy lock Lease,
    <platform_name>-deploy-lock): deleted when managed-by is intelligent_agent.platform, with or without part-of.
    The Namespace (``namespace_object``, the live Namespace or None) is deleted last, only with
    ``delete_namespace`` and only when it carries the same two labels.

    Returns {delete: [{apiVersion, kind, metadata: {name, namespace}}] in deletion order (definitions
    kubernetes.core.k8s state=absent takes), kept: [{..., reason}],
    not_listed: [{kind, reason}] (kinds these credentials could not list: left alone, named),
    absent_apis: [kinds the cluster does not serve], lock_holder: who holds an unexpired deploy Lease or None}.
    """
    if not part_of:
        raise LifecycleError("platform_name: empty; the uninstall selects objects by app.kubernetes.io/part-of")
    if not isinstance(listings, (list, tuple)):
        raise LifecycleError("listings: expected the results list of the k8s_info loop")
    keep, named, seen = set(keep or ()), set(named or ()), set()
    delete, kept, not_listed, absent, holder = [], [], [], [], None
    for listing in listings:
        item = listing.get("item") or {}
        kind = item.get("kind") or "?"
        if listing.get("failed") or "resources" not in listing:
            message = str(listing.get("msg") or "not listed")
            if API_ABSENT_RE.search(message) and not re.search(r"forbidden|403", message, re.IGNORECASE):
                absent.append(kind)
            else:
                not_listed.append({"kind": kind, "reason": _short_reason(message)})
            continue
        for obj in listing.get("resources") or []:
            ref = _ref(obj, item.get("api_version"), kind)
            labels = _get(obj, "metadata", "labels", default={}) or {}
            if labels.get(MANAGED_BY) != MANAGER or (labels.get(PART_OF) != part_of and object_name(ref) not in named):
                continue  # not ours: never touched, not even named
            key = (ref["kind"], ref["metadata"].get("namespace"), ref["metadata"]["name"])
            if key in seen:
                continue  # listed twice (by label and by name)
            seen.add(key)
            if _get(obj, "metadata", "ownerReferences"):
                continue  # deleted with its owner
            if any(fnmatch.fnmatchcase(object_name(ref), pattern) for pattern in keep):
                kept.append(dict(ref, reason="kept (the release history; uninstall_history=true deletes it)"))
                continue
            if ref["kind"] == "Lease" and now is not None:
                holder = holder or lease_holder(obj, now)
            delete.append(ref)
    if namespace_object:
        ref = _ref(namespace_object, "v1", "Namespace")
        labels = _get(namespace_object, "metadata", "labels", default={}) or {}
        ours = labels.get(PART_OF) == part_of and labels.get(MANAGED_BY) == MANAGER
        if not delete_namespace:
            kept.append(dict(ref, reason="kept (uninstall_namespace=true deletes it)"))
        elif not ours:
            kept.append(
                dict(ref, reason="kept: not created by intelligent_agent.platform (no part-of/managed-by labels)")
            )
        else:
            delete.append(ref)
    order = dict((kind, i) for i, kind in enumerate(DELETE_ORDER))
    unknown = order["ResourceQuota"] + 0.5  # kinds not listed above: before the namespace
    delete.sort(key=lambda r: (order.get(r["kind"], unknown), r["metadata"]["name"] or ""))
    return {
        "delete": delete,
        "kept": kept,
        "not_listed": not_listed,
        "absent_apis": sorted(set(absent)),
        "lock_holder": holder,
    }
