# -*- coding: utf-8 -*-
# Copyright: Intelligent Agent platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters the roles need. Thin wrappers over plugins/module_utils; each filter is documented in
the YAML file of the same name beside this one (ansible-doc -t filter intelligent_agent.platform.<name>)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.intelligent_agent.platform.plugins.module_utils.content import (
    content_hash as _content_hash,
    redact as _redact,
)
from ansible_collections.intelligent_agent.platform.plugins.module_utils.image_ref import (
    ImageRefError,
    build_image_ref,
    parse_image_ref as _parse_image_ref,
)
from ansible_collections.intelligent_agent.platform.plugins.module_utils.prune import (
    prune_pending as _prune_pending,
)
from ansible_collections.intelligent_agent.platform.plugins.module_utils.replicas import (
    hpa_replica_plan as _hpa_replica_plan,
)
from ansible_collections.intelligent_agent.platform.plugins.module_utils.rollout import (
    rollout_summary as _rollout_summary,
)
from ansible_collections.intelligent_agent.platform.plugins.module_utils.status import (
    StatusError,
    platform_status as _platform_status,
)


def content_hash(data, length=10):
    try:
        return _content_hash(data, length)
    except (TypeError, ValueError) as exc:
        raise AnsibleFilterError("content_hash: %s" % exc)


def hpa_replica_plan(live_deployments, autoscaled_names, field_manager):
    if not isinstance(live_deployments, (list, tuple, dict)):
        raise AnsibleFilterError("hpa_replica_plan: expected a list of live Deployments or their replica owners")
    return _hpa_replica_plan(live_deployments, autoscaled_names, field_manager)


def prune_pending(live_objects, rendered, labels, version_counts=None):
    try:
        return _prune_pending(live_objects or [], rendered or [], labels or {}, version_counts or [])
    except (AttributeError, KeyError, TypeError) as exc:
        raise AnsibleFilterError("prune_pending: %s" % exc)


def image_ref(repository, tag=None, digest=None):
    try:
        return build_image_ref(repository, tag=tag, digest=digest)
    except ImageRefError as exc:
        raise AnsibleFilterError("image_ref: %s" % exc)


def parse_image_ref(ref):
    try:
        return _parse_image_ref(ref)
    except ImageRefError as exc:
        raise AnsibleFilterError("parse_image_ref: %s" % exc)


def platform_status(deployments, pods=None, hpas=None, history=None, name="", namespace=""):
    try:
        return _platform_status(deployments, pods or [], hpas or [], history, name=name, namespace=namespace)
    except StatusError as exc:
        raise AnsibleFilterError("platform_status: %s" % exc)


def redact(data, keys_or_values=None, secret_keys=True):
    return _redact(data, keys_or_values, secret_keys=secret_keys)


def rollout_summary(workloads):
    if isinstance(workloads, dict):
        workloads = workloads.get("workloads", [])
    if not isinstance(workloads, (list, tuple)):
        raise AnsibleFilterError("rollout_summary: expected the 'workloads' list of a rollout_wait result")
    return _rollout_summary(workloads)


class FilterModule(object):
    """intelligent_agent.platform filters."""

    def filters(self):
        return {
            "content_hash": content_hash,
            "hpa_replica_plan": hpa_replica_plan,
            "image_ref": image_ref,
            "parse_image_ref": parse_image_ref,
            "platform_status": platform_status,
            "prune_pending": prune_pending,
            "redact": redact,
            "rollout_summary": rollout_summary,
        }
