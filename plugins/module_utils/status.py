# -*- coding: utf-8 -*-
# Copyright: Intelligent Agent platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What runs now (playbooks/status.yml): per component its version, image and digest, ready/desired
replicas, health (Available condition, rollout in progress, failing pods with their reason), its
HorizontalPodAutoscaler, and the last release record. Plain functions over the objects the API returns
(camelCase dicts): no Kubernetes client, no Ansible imports, unit-tested without a cluster.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import re

from ansible_collections.intelligent_agent.platform.plugins.module_utils.release_history import parse_records
from ansible_collections.intelligent_agent.platform.plugins.module_utils.rollout import (  # with its dict helpers
    _get,
    _int,
    condition,
    deployment_status,
    pod_findings,
    pod_hint,
    pod_ready,
    replica_counts,
)

VERSION_LABEL = "app.kubernetes.io/version"
DIGEST_RE = re.compile(r"(sha256:[0-9a-f]{64})")

HEALTHY = "healthy"
PROGRESSING = "progressing"
UNHEALTHY = "unhealthy"


class StatusError(Exception):
    """The inputs are not what the API returns (names the argument)."""


def image_digest(reference):
    """sha256:... of an image reference or a container status imageID, or None."""
    match = DIGEST_RE.search(reference or "")
    return match.group(1) if match else None


def short_digest(digest, length=12):
    return digest[len("sha256:") : len("sha256:") + length] if digest else "-"


def selects(selector, labels):
    """True when a Deployment's spec.selector (matchLabels, matchExpressions) selects these pod labels."""
    labels = labels or {}
    selector = selector or {}
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, operator, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        if operator == "In" and labels.get(key) not in values:
            return False
        if operator == "NotIn" and key in labels and labels[key] in values:
            return False
        if operator == "Exists" and key not in labels:
            return False
        if operator == "DoesNotExist" and key in labels:
            return False
    return bool(selector.get("matchLabels") or selector.get("matchExpressions"))


def _main_container(deployment):
    containers = _get(deployment, "spec", "template", "spec", "containers", default=[]) or []
    name = _get(deployment, "metadata", "name")
    for container in containers:
        if container.get("name") == name:
            return container
    return containers[0] if containers else {}


def _hpa_for(deployment, hpas):
    name = _get(deployment, "metadata", "name")
    for hpa in hpas:
        target = _get(hpa, "spec", "scaleTargetRef", default={}) or {}
        if target.get("kind") == "Deployment" and target.get("name") == name:
            active = condition(hpa, "ScalingActive")
            note = None
            if active and active.get("status") == "False":
                note = "%s: %s" % (active.get("reason") or "ScalingInactive", active.get("message") or "")
            return {
                "name": _get(hpa, "metadata", "name"),
                # None until the HPA controller first reports (a new HPA has no status yet).
                "current": _int(_get(hpa, "status", "currentReplicas"), None),
                "desired": _int(_get(hpa, "status", "desiredReplicas"), None),
                "min": _int(_get(hpa, "spec", "minReplicas"), 1),
                "max": _int(_get(hpa, "spec", "maxReplicas")),
                "note": note,
            }
    return None


def component_status(deployment, pods=(), hpas=()):
    """The status of one Deployment: a dict (see platform_status)."""
    name = _get(deployment, "metadata", "name", default="?")
    selector = _get(deployment, "spec", "selector", default={}) or {}
    own_pods = [
        p
        for p in pods
        if selects(selector, _get(p, "metadata", "labels"))
        and not _get(p, "metadata", "deletionTimestamp")
        and _get(p, "status", "phase") not in ("Succeeded", "Failed")
    ]
    container = _main_container(deployment)
    image = container.get("image") or ""
    counts = replica_counts("Deployment", deployment)
    rollout = deployment_status(deployment)
    available = condition(deployment, "Available")

    failing, waiting, running_digests = [], [], set()
    for pod in sorted(own_pods, key=lambda p: _get(p, "metadata", "name", default="")):
        pod_name = _get(pod, "metadata", "name", default="?")
        for finding in pod_findings(pod, None):
            failing.append(
                {
                    "pod": pod_name,
                    "container": finding["container"],
                    "reason": finding["reason"],
                    "message": finding["message"],
                    "restarts": finding["restarts"],
                }
            )
        if not any(f["pod"] == pod_name for f in failing) and not pod_ready(pod):
            hint = pod_hint(pod)
            if hint:
                waiting.append({"pod": pod_name, "message": hint})
        if pod_ready(pod):
            for status in _get(pod, "status", "containerStatuses", default=[]) or []:
                if status.get("name") == container.get("name"):
                    digest = image_digest(status.get("imageID"))
                    if digest:
                        running_digests.add(digest)

    problems, progress = [], []
    if counts["desired"] > 0 and not (available and available.get("status") == "True"):
        problems.append("not Available: %s" % ((available or {}).get("message") or "no Available condition yet"))
    if rollout.failed:
        problems.append("rollout failed (%s): %s" % (rollout.failure_reason, rollout.message))
    elif not rollout.done:
        progress.append("rollout in progress: %s" % rollout.message)
    for f in failing:
        problems.append(
            "pod %s container %s: %s%s"
            % (f["pod"], f["container"], f["reason"], " (%s)" % f["message"] if f["message"] else "")
        )
    if counts["ready"] < counts["desired"] and not problems:
        progress.append("%d of %d replicas ready" % (counts["ready"], counts["desired"]))
    for w in waiting:
        progress.append("pod %s waits: %s" % (w["pod"], w["message"]))

    state = UNHEALTHY if problems else (PROGRESSING if progress else HEALTHY)
    digest = image_digest(image) or (sorted(running_digests)[0] if len(running_digests) == 1 else None)
    return {
        "name": name,
        "version": _get(deployment, "metadata", "labels", VERSION_LABEL) or "",
        "image": image,
        "digest": digest,
        "running_digests": sorted(running_digests),
        "desired": counts["desired"],
        "ready": counts["ready"],
        "updated": counts["updated"],
        "available": counts["available"],
        "revision": _get(deployment, "metadata", "annotations", "deployment.kubernetes.io/revision") or "",
        "state": state,
        "healthy": state == HEALTHY,
        "problems": problems,
        "progress": progress,
        "failing_pods": failing,
        "hpa": _hpa_for(deployment, hpas),
    }


def _history_records(history):
    """(records, problems): a damaged history is reported, never fatal (what runs is shown all the same)."""
    if history in (None, ""):
        return [], []
    if isinstance(history, list):
        history = json.dumps(history)
    if not isinstance(history, str):
        return [], [
            "history: expected the releases.json text or list of the history ConfigMap, not a %s"
            % (type(history).__name__)
        ]
    return parse_records(history)


def _release_line(record):
    if not record:
        return "Last release: none recorded"
    text = "Last release: #%s %s %s" % (
        record.get("id", "?"),
        record.get("kind") or "deploy",
        record.get("version") or "?",
    )
    if record.get("commit"):
        text += " (commit %s)" % record["commit"]
    outcome = (record.get("result") or "?", record.get("who") or "?", record.get("finished") or "?")
    text += ": %s by %s, finished %s" % outcome
    if record.get("cause"):
        text += "; cause: %s" % record["cause"]
    return text


def status_text(status):
    """The readable block playbooks/status.yml prints."""
    components = status["components"]
    header = "Platform %s in %s: " % (status.get("name") or "?", status.get("namespace") or "?")
    if not components:
        header += "no Deployment of the platform runs here"
    elif status["healthy"]:
        header += "%d component(s), all healthy" % len(components)
    else:
        parts = []
        if status["unhealthy"]:
            parts.append("UNHEALTHY: %s" % ", ".join(status["unhealthy"]))
        if status["progressing"]:
            parts.append("progressing: %s" % ", ".join(status["progressing"]))
        header += "%d component(s), %s" % (len(components), "; ".join(parts))
    lines = [header]
    width = max([len(c["name"]) for c in components] + [4])
    for c in components:
        line = "  %s  %s  %s  %d/%d ready  %s" % (
            c["name"].ljust(width),
            (c["version"] or "-").ljust(8),
            short_digest(c["digest"]),
            c["ready"],
            c["desired"],
            c["state"].upper() if c["state"] == UNHEALTHY else c["state"],
        )
        if c["hpa"]:
            current = c["hpa"]["current"]
            line += "  HPA %s (min %d, max %d)" % (
                "-" if current is None else current,
                c["hpa"]["min"],
                c["hpa"]["max"],
            )
        lines.append(line)
        lines.append("  %s  image %s" % (" " * width, c["image"] or "-"))
        if len(c["running_digests"]) > 1 or (c["running_digests"] and c["digest"] not in c["running_digests"]):
            lines.append(
                "  %s  running digests %s" % (" " * width, ", ".join(short_digest(d) for d in c["running_digests"]))
            )
        for text in c["problems"] + c["progress"]:
            lines.append("  %s  %s" % (" " * width, text))
        if c["hpa"] and c["hpa"]["note"]:
            lines.append("  %s  HPA %s" % (" " * width, c["hpa"]["note"]))
    lines.append(_release_line(status["release"]))
    lines.extend("History damaged: %s" % problem for problem in status.get("history_problems") or [])
    return "\n".join(lines)


def platform_status(deployments, pods=(), hpas=(), history=None, name="", namespace=""):
    """Status of every Deployment of the platform, sorted by name.

    Returns {name, namespace, components: [component_status...], healthy (every component healthy),
    unhealthy: [names], progressing: [names], release: the newest history record or None, text}.
    A component is unhealthy when it is not Available, its rollout failed (progress deadline, paused
    unfinished) or one of its pods is failing (image pull, crash loop, config error); progressing while
    a rollout runs or replicas are not ready yet without a failure; healthy otherwise.
    """
    for arg, value in (("deployments", deployments), ("pods", pods), ("hpas", hpas)):
        if not isinstance(value, (list, tuple)):
            raise StatusError("%s: expected a list of API objects (the resources of k8s_info)" % arg)
    records, history_problems = _history_records(history)
    components = [
        component_status(d, pods, hpas)
        for d in sorted(deployments, key=lambda d: _get(d, "metadata", "name", default=""))
    ]
    status = {
        "name": name,
        "namespace": namespace,
        "components": components,
        "healthy": all(c["healthy"] for c in components),
        "unhealthy": [c["name"] for c in components if c["state"] == UNHEALTHY],
        "progressing": [c["name"] for c in components if c["state"] == PROGRESSING],
        "release": records[-1] if records else None,
        "history_problems": history_problems,
    }
    status["text"] = status_text(status)
    return status
