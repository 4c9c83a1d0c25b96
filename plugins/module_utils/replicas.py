# -*- coding: utf-8 -*-
# Copyright: Intelligent Agent platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Who owns ``spec.replicas`` of an autoscaled Deployment.

An HPA sets the replica count; a deploy must not. With server-side apply, leaving ``spec.replicas`` out
of the manifest is not enough when the deploy's field manager owned the field before: the API server then
removes the field and the Deployment falls back to one replica. The fix the Kubernetes documentation
describes is a handover: apply the live count once under a separate field manager, after which the deploy's
manager can drop the field and the count stays where the HPA put it.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


def owns_replicas(deployment, field_manager):
    """True when ``field_manager`` applied ``spec.replicas`` of this live Deployment."""
    for entry in (deployment.get("metadata") or {}).get("managedFields") or []:
        if entry.get("manager") != field_manager or entry.get("operation") != "Apply":
            continue
        spec_fields = (entry.get("fieldsV1") or {}).get("f:spec") or {}
        if "f:replicas" in spec_fields:
            return True
    return False


def hpa_replica_plan(live_deployments, autoscaled_names, field_manager):
    """Decide, for the autoscaled Deployments, which manifests carry ``spec.replicas``.

    Returns ``{'leave_to_hpa': [names], 'handover': [{'name': n, 'replicas': r}]}``:
    - ``leave_to_hpa``: autoscaled Deployments that exist; their manifests omit ``spec.replicas``.
      A Deployment created by this run keeps the rendered count (the HPA's minimum is a fine start).
    - ``handover``: those among them whose replica count the deploy's manager still owns; their live
      count must first be applied under the handover manager.
    """
    wanted = set(autoscaled_names or [])
    plan = {"leave_to_hpa": [], "handover": []}
    for deployment in live_deployments or []:
        name = (deployment.get("metadata") or {}).get("name")
        if name not in wanted:
            continue
        plan["leave_to_hpa"].append(name)
        if owns_replicas(deployment, field_manager):
            replicas = (deployment.get("spec") or {}).get("replicas", 1)
            plan["handover"].append({"name": name, "replicas": replicas})
    plan["leave_to_hpa"].sort()
    plan["handover"].sort(key=lambda item: item["name"])
    return plan
