"""plugins/module_utils/server_side_apply.py: the pure helpers, and apply_all over a fake API server that stores
objects like the real one (a resourceVersion that moves only when the content changes, dry runs stored nowhere,
404 for a namespace that does not exist)."""

from __future__ import annotations

import copy

import pytest
from fake_api import FakeApiError, FakeResponse  # pylint: disable=import-error

from ansible_collections.intelligent_agent.platform.plugins.module_utils import server_side_apply as ssa

DISCOVERY = {
    "/api/v1": {
        "resources": [
            {"name": "namespaces", "kind": "Namespace", "namespaced": False},
            {"name": "secrets", "kind": "Secret", "namespaced": True},
            {"name": "services", "kind": "Service", "namespaced": True},
            {"name": "pods/log", "kind": "Pod", "namespaced": True},
        ]
    },
    "/apis/apps/v1": {"resources": [{"name": "deployments", "kind": "Deployment", "namespaced": True}]},
}


def manifest(kind, name, api_version="v1", **fields):
    return dict({"apiVersion": api_version, "kind": kind, "metadata": {"name": name}}, **fields)


def test_definition_problems_name_the_index_and_the_missing_fields():
    assert ssa.definition_problems([manifest("Service", "web"), {"kind": "Service", "metadata": {}}, "text"]) == [
        "definitions[1] needs apiVersion, metadata.name",
        "definitions[2] is not a mapping",
    ]


def test_resources_by_kind_leaves_subresources_out():
    assert ssa.resources_by_kind(DISCOVERY["/api/v1"]) == {
        "Namespace": ("namespaces", False),
        "Secret": ("secrets", True),
        "Service": ("services", True),
    }


def test_a_change_is_a_new_object_or_a_new_resource_version():
    before = {"metadata": {"name": "a", "resourceVersion": "7"}, "spec": {"x": 1}}
    assert ssa.stored_a_change(None, before, dry_run=False)
    assert not ssa.stored_a_change(before, copy.deepcopy(before), dry_run=False)
    assert ssa.stored_a_change(before, {"metadata": {"name": "a", "resourceVersion": "8"}}, dry_run=False)


def test_a_dry_run_compares_content_without_bookkeeping():
    before = {"metadata": {"name": "a", "resourceVersion": "7", "managedFields": [1]}, "spec": {"x": 1}, "status": {}}
    same = {"metadata": {"name": "a", "resourceVersion": "7", "managedFields": [2]}, "spec": {"x": 1}}
    assert not ssa.stored_a_change(before, same, dry_run=True)
    assert ssa.stored_a_change(before, dict(same, spec={"x": 2}), dry_run=True)


def test_a_secret_diff_says_which_keys_changed_never_their_values():
    before = manifest("Secret", "s", data={"A": "b2xk", "B": "c2FtZQ=="})
    after = manifest("Secret", "s", data={"A": "bmV3", "B": "c2FtZQ==", "C": "YWRkZWQ="})
    entry = ssa.diff_entry({"kind": "Secret", "name": "s", "namespace": "prod"}, before, after)
    text = entry["before"] + entry["after"]
    for value in ("b2xk", "bmV3", "c2FtZQ==", "YWRkZWQ="):
        assert value not in text
    assert "A: (hidden, changed)" in entry["after"] and "B: (hidden)" in entry["after"]
    assert "C: (hidden, changed)" in entry["after"]
    assert entry["after_header"] == "Secret/s in prod (applied)"


class FakeApiServer:
    """Stores applied objects; bumps resourceVersion only on a change; refuses a kind it was told to refuse."""

    def __init__(self, namespaces=("prod",), refuse_kind=None):
        self.namespaces = set(namespaces)
        self.refuse_kind = refuse_kind
        self.objects = {}
        self.version = 0
        self.writes = []

    def call_api(self, path, method, query_params=(), body=None, **_kwargs):
        if method == "GET" and path in DISCOVERY:
            return FakeResponse(200, DISCOVERY[path])
        if method == "GET" and path.count("/") <= 3:  # discovery of a group version this server does not serve
            raise FakeApiError(404, {"kind": "Status", "reason": "NotFound"})
        if method == "GET":
            if path not in self.objects:
                raise FakeApiError(404, {"kind": "Status", "reason": "NotFound"})
            return FakeResponse(200, self.objects[path])
        return self.apply(path, body, dict(query_params))

    def apply(self, path, body, query):
        namespace = body["metadata"].get("namespace")
        if namespace and namespace not in self.namespaces:
            raise FakeApiError(404, {"kind": "Status", "details": {"name": namespace, "kind": "namespaces"}})
        if body["kind"] == self.refuse_kind:
            raise FakeApiError(422, {"kind": "Status", "message": "%s is invalid: spec.ports: Required" % body["kind"]})
        stored = self.objects.get(path)
        content = {key: value for key, value in body.items() if key != "metadata"}
        if stored and {key: value for key, value in stored.items() if key != "metadata"} == content:
            return FakeResponse(200, stored)
        self.version += 1
        result = copy.deepcopy(body)
        result["metadata"]["resourceVersion"] = str(self.version)
        if query.get("dryRun") != "All":
            self.objects[path] = result
            self.writes.append(path)
            if body["kind"] == "Namespace":
                self.namespaces.add(body["metadata"]["name"])
        return FakeResponse(200, result)


RELEASE = [
    manifest("Service", "web", spec={"ports": [{"port": 80}]}),
    manifest("Deployment", "web", "apps/v1", spec={"replicas": 2}),
]


def test_apply_all_creates_then_changes_nothing_on_a_second_run():
    server = FakeApiServer()
    first, _diffs = ssa.apply_all(ssa.ServerSideApply(server, "me"), RELEASE, "prod")
    assert [(r["kind"], r["action"], r["changed"]) for r in first] == [
        ("Service", "created", True),
        ("Deployment", "created", True),
    ]
    assert server.writes == ["/api/v1/namespaces/prod/services/web", "/apis/apps/v1/namespaces/prod/deployments/web"]
    second, _diffs = ssa.apply_all(ssa.ServerSideApply(server, "me"), RELEASE, "prod")
    assert [r["action"] for r in second] == ["unchanged", "unchanged"]


def test_an_existing_immutable_version_is_left_as_it_is_without_a_request():
    server = FakeApiServer()
    versions = [
        manifest("Secret", "app-0a1b", immutable=True, data={"K": "djE="}),
        manifest("Secret", "app-9f8e", immutable=True, data={"K": "djI="}),
        manifest("Secret", "registry", data={"K": "cg=="}),
    ]
    results, _diffs = ssa.apply_all(
        ssa.ServerSideApply(server, "me"), versions, "prod", existing_immutable={"app-0a1b"}
    )
    assert [(r["name"], r["action"]) for r in results] == [
        ("app-0a1b", "unchanged"),
        ("app-9f8e", "created"),
        ("registry", "created"),
    ]
    assert server.writes == ["/api/v1/namespaces/prod/secrets/app-9f8e", "/api/v1/namespaces/prod/secrets/registry"]
    # A mutable object is applied whatever the list says.
    registry = [manifest("Secret", "registry", data={"K": "cjI="})]
    again, _diffs = ssa.apply_all(ssa.ServerSideApply(server, "me"), registry, "prod", existing_immutable={"registry"})
    assert again[0]["action"] == "configured" and server.writes[-1] == "/api/v1/namespaces/prod/secrets/registry"


def test_a_dry_run_stores_nothing_and_reports_what_would_change_with_a_diff():
    server = FakeApiServer()
    ssa.apply_all(ssa.ServerSideApply(server, "me"), RELEASE, "prod")
    changed = copy.deepcopy(RELEASE)
    changed[1]["spec"]["replicas"] = 3
    results, diffs = ssa.apply_all(ssa.ServerSideApply(server, "me", dry_run=True), changed, "prod", with_diff=True)
    assert [r["action"] for r in results] == ["unchanged", "configured"]
    assert server.objects["/apis/apps/v1/namespaces/prod/deployments/web"]["spec"]["replicas"] == 2
    assert len(diffs) == 1 and "replicas: 3" in diffs[0]["after"] and "replicas: 2" in diffs[0]["before"]


def test_a_dry_run_of_a_first_deploy_reports_the_objects_of_the_new_namespace_as_created():
    server = FakeApiServer(namespaces=())
    results, _diffs = ssa.apply_all(
        ssa.ServerSideApply(server, "me", dry_run=True), [manifest("Namespace", "new")] + RELEASE, "new"
    )
    assert [(r["kind"], r["action"]) for r in results] == [
        ("Namespace", "created"),
        ("Service", "created"),
        ("Deployment", "created"),
    ]
    assert server.writes == []


def test_a_kind_the_cluster_does_not_serve_stops_the_call_before_any_write():
    server = FakeApiServer()
    widget = manifest("Widget", "w", "widgets.example/v1")
    with pytest.raises(ssa.ApplyError, match=r"definitions\[2\] \(Widget/w\): .*kind Widget in apiVersion widgets"):
        ssa.apply_all(ssa.ServerSideApply(server, "me"), RELEASE + [widget], "prod")
    assert server.writes == []


def test_a_refused_object_names_the_cause_and_carries_what_was_applied_before_it():
    server = FakeApiServer(refuse_kind="Deployment")
    with pytest.raises(ssa.ApplyError, match="Deployment/web: HTTP 422 Deployment is invalid") as failure:
        ssa.apply_all(ssa.ServerSideApply(server, "me"), RELEASE, "prod")
    assert [(r["kind"], r["changed"]) for r in failure.value.results] == [("Service", True)]


def test_a_namespaced_object_without_a_namespace_is_refused():
    with pytest.raises(ssa.ApplyError, match="names no namespace"):
        ssa.apply_all(ssa.ServerSideApply(FakeApiServer(), "me"), RELEASE, None)
