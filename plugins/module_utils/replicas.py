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


def replica_appliers(deployment):
    """The field managers that applied (server-side) ``spec.replicas`` of this live Deployment, sorted."""
    appliers = set()
    for entry in (deployment.get("metadata") or {}).get("managedFields") or []:
        if entry.get("operation") != "Apply":
            continue
        spec_fields = (entry.get("fieldsV1") or {}).get("f:spec") or {}
        if "f:replicas" in spec_fields:
            appliers.add(entry.get("manager"))
    return sorted(appliers)


def owns_replicas(deployment, field_manager):
    """True when ``field_manager`` applied ``spec.replicas`` of this live Deployment."""
    return field_manager in replica_appliers(deployment)


def replica_owners(deployments):
    """name -> {replicas, appliers}: what a replica plan needs of each live Deployment, small enough to pass
    between tasks (deploy.yml reads it with its snapshot under the deploy lock)."""
    return dict(
        (
            deployment["metadata"]["name"],
            {
                "replicas": (deployment.get("spec") or {}).get("replicas", 1),
                "appliers": replica_appliers(deployment),
            },
        )
        for deployment in deployments or []
    )


def hpa_replica_plan(live_deployments, autoscaled_names, field_manager):
    """Decide, for the autoscaled Deployments, which manifests carry ``spec.replicas``.

    ``live_deployments`` is the list of live Deployments, or what replica_owners made of it.
    Returns ``{'leave_to_hpa': [names], 'handover': [{'name': n, 'replicas': r}]}``:
    - ``leave_to_hpa``: autoscaled Deployments that exist; their manifests omit ``spec.replicas``.
      A Deployment created by this run keeps the rendered count (the HPA's minimum is a fine start).
    - ``handover``: those among them whose replica count the deploy's manager still owns; their live
      count must first be applied under the handover manager.
    """
    owners = live_deployments if isinstance(live_deployments, dict) else replica_owners(live_deployments)
    wanted = set(autoscaled_names or [])
    plan = {"leave_to_hpa": [], "handover": []}
    for name, owner in owners.items():
        if name not in wanted:
            continue
        plan["leave_to_hpa"].append(name)
        if field_manager in owner["appliers"]:
            plan["handover"].append({"name": name, "replicas": owner["replicas"]})
    plan["leave_to_hpa"].sort()
    plan["handover"].sort(key=lambda item: item["name"])
    return plan
