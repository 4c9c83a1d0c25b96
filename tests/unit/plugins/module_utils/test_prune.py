"""Safe pruning (plugins/module_utils/prune.py): which config versions and app objects a verified release may
delete."""

from __future__ import annotations

from fake_api import FakeResponse  # pylint: disable=import-error

from ansible_collections.intelligent_agent.platform.plugins.module_utils import prune


def replicaset(config=None, secret=None, pull=None, volume_config=None, projected_secret=None, key_ref=None):
    container = {"name": "app", "envFrom": [], "env": []}
    if config:
        container["envFrom"].append({"configMapRef": {"name": config}})
    if secret:
        container["envFrom"].append({"secretRef": {"name": secret}})
    if key_ref:
        container["env"].append({"name": "X", "valueFrom": {"secretKeyRef": {"name": key_ref, "key": "x"}}})
    spec = {"containers": [container], "volumes": []}
    if pull:
        spec["imagePullSecrets"] = [{"name": pull}]
    if volume_config:
        spec["volumes"].append({"name": "c", "configMap": {"name": volume_config}})
    if projected_secret:
        spec["volumes"].append({"name": "p", "projected": {"sources": [{"secret": {"name": projected_secret}}]}})
    return {"metadata": {"name": "rs"}, "spec": {"template": {"spec": spec}}}


SEC_A, SEC_B = "sec-a", "sec-b"  # Secret names (not values)


def test_every_way_a_pod_can_use_a_configmap_or_secret_counts_as_a_reference():
    found = prune.referenced_by(
        [
            replicaset(config="cfg-a", secret=SEC_A, pull="registry"),
            replicaset(volume_config="cfg-b", projected_secret=SEC_B, key_ref="sec-c"),
            {"metadata": {"name": "empty"}},
        ]
    )
    assert found == {"ConfigMap": {"cfg-a", "cfg-b"}, "Secret": {"sec-a", "sec-b", "sec-c", "registry"}}


def test_init_containers_count_too():
    rs = {"spec": {"template": {"spec": {"initContainers": [{"envFrom": [{"configMapRef": {"name": "init-cfg"}}]}]}}}}
    assert prune.referenced_by([rs])["ConfigMap"] == {"init-cfg"}


def test_versions_beyond_keep_are_pruned_unless_a_replicaset_references_them():
    known = ["v1", "v2", "v3", "v4", "v5", "v6"]
    kept, pruned = prune.version_plan(known, "v6", referenced={"v1"}, keep=2)
    assert kept == ["v1", "v4", "v5", "v6"]
    assert pruned == ["v2", "v3"]


def test_six_failed_config_changes_never_prune_the_serving_config():
    """The serving release (v1) is referenced by its ReplicaSet; six failed releases each added a version."""
    known = ["v1", "f1", "f2", "f3", "f4", "f5", "f6"]
    serving_rs = replicaset(config="v1")
    kept, pruned = prune.version_plan(known, "v7", prune.referenced_by([serving_rs])["ConfigMap"], keep=2)
    assert "v1" in kept and kept[-1] == "v7"
    assert pruned == ["f1", "f2", "f3", "f4"]


def test_the_current_version_stays_last_even_when_it_was_listed_before():
    kept, pruned = prune.version_plan(["a", "b", "a", "c"], "a", referenced=set(), keep=1)
    assert kept == ["c", "a"] and pruned == ["b"]


def test_keep_zero_keeps_only_current_and_referenced():
    kept, pruned = prune.version_plan(["a", "b", "c"], "c", referenced={"a"}, keep=0)
    assert kept == ["a", "c"] and pruned == ["b"]


def test_versions_are_ordered_by_creation_time_then_name():
    objects = [
        {"metadata": {"name": "cfg-c", "creationTimestamp": "2026-12-03T10:00:02Z"}},
        {"metadata": {"name": "cfg-b", "creationTimestamp": "2026-12-03T10:00:01Z"}},
        {"metadata": {"name": "cfg-a", "creationTimestamp": "2026-12-03T10:00:01Z"}},
    ]
    assert prune.versions_oldest_first(objects) == ["cfg-a", "cfg-b", "cfg-c"]


def test_objects_no_longer_rendered_are_removed_and_rendered_ones_stay():
    live = [
        ("Deployment", "backend"),
        ("Deployment", "worker"),
        ("Service", "worker"),
        ("Service", "backend"),
        ("Ingress", "platform"),
    ]
    rendered = [("Deployment", "backend"), ("Service", "backend"), ("Ingress", "platform")]
    assert prune.removed_objects(live, rendered) == [("Deployment", "worker"), ("Service", "worker")]


def test_the_same_name_of_another_kind_is_not_a_match():
    assert prune.removed_objects([("HorizontalPodAutoscaler", "backend")], [("Deployment", "backend")]) == [
        ("HorizontalPodAutoscaler", "backend")
    ]


OURS = {"app.kubernetes.io/managed-by": "intelligent_agent.platform", "app.kubernetes.io/part-of": "ia"}


def labelled(kind, name, extra=None):
    return {"kind": kind, "metadata": {"name": name, "labels": dict(OURS, **(extra or {}))}}


def test_nothing_is_pending_when_every_live_object_of_ours_is_rendered_and_versions_are_within_the_kept():
    live = [
        labelled("Deployment", "web"),
        labelled("Service", "web"),
        labelled("ConfigMap", "cfg-1", {"app.kubernetes.io/name": "config"}),
    ]
    live.append({"kind": "Deployment", "metadata": {"name": "not-ours", "labels": {}}})
    rendered = [labelled("Deployment", "web"), labelled("Service", "web")]
    counts = [
        {"kind": "ConfigMap", "labels": {"app.kubernetes.io/name": "config"}, "keep": 0},
        {"kind": "Secret", "count": 2, "keep": 1},
    ]
    assert prune.prune_pending(live, rendered, OURS, counts) == []


def test_an_object_no_longer_rendered_and_surplus_versions_are_pending():
    live = [labelled("Deployment", "web"), labelled("PodDisruptionBudget", "web")]
    live += [labelled("ConfigMap", "cfg-%d" % n, {"app.kubernetes.io/name": "config"}) for n in range(3)]
    counts = [
        {"kind": "ConfigMap", "labels": {"app.kubernetes.io/name": "config"}, "keep": 1},
        {"kind": "Secret", "count": 3, "keep": 1},
    ]
    assert prune.prune_pending(live, [labelled("Deployment", "web")], OURS, counts) == [
        "PodDisruptionBudget/web is not rendered any more",
        "3 ConfigMap versions, 2 kept",
        "3 Secret versions, 2 kept",
    ]


class AppObjectsServer:
    """Answers the lists of app kinds; a kind whose API it does not serve answers 404."""

    def __init__(self, objects, served_vpa=True):
        self.objects, self.served_vpa, self.listed = objects, served_vpa, []

    def call_api(self, path, method, **_kwargs):
        plural = path.rsplit("/", 1)[-1]
        self.listed.append(plural)
        if plural == "verticalpodautoscalers" and not self.served_vpa:
            return FakeResponse(404, {"kind": "Status", "reason": "NotFound"})
        return FakeResponse(200, {"items": [{"metadata": {"name": n}} for n in self.objects.get(plural, [])]})


def test_vertical_pod_autoscalers_are_listed_only_when_asked_and_only_where_served():
    objects = {"deployments": ["web", "worker"], "verticalpodautoscalers": ["worker"]}
    server = AppObjectsServer(objects)
    default = prune.PruneApi(server, "prod").list_app_objects("part-of=x")
    assert ("VerticalPodAutoscaler", "worker") not in default and "verticalpodautoscalers" not in server.listed
    with_vpa = prune.PruneApi(server, "prod").list_app_objects(
        "part-of=x", prune.APP_KINDS + ("VerticalPodAutoscaler",)
    )
    assert ("VerticalPodAutoscaler", "worker") in with_vpa and ("Deployment", "worker") in with_vpa
    unserved = AppObjectsServer(objects, served_vpa=False)
    kinds = prune.APP_KINDS + ("VerticalPodAutoscaler",)
    assert ("Deployment", "web") in prune.PruneApi(unserved, "prod").list_app_objects("part-of=x", kinds)
