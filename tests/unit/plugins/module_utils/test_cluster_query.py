"""The pure helpers of plugins/module_utils/cluster_query.py, and the query over a fake API client that answers
like the API server (JSON Status for a missing object of a served API, plain text for an unserved path)."""

from __future__ import annotations

import json

import pytest
from fake_api import FakeApiError, FakeResponse  # pylint: disable=import-error

from ansible_collections.intelligent_agent.platform.plugins.module_utils import cluster_query as cq


@pytest.mark.parametrize(
    ("kind", "plural"),
    [
        ("Namespace", "namespaces"),
        ("ValidatingAdmissionPolicy", "validatingadmissionpolicies"),
        ("Ingress", "ingresses"),
        ("NetworkPolicy", "networkpolicies"),
        ("Deployment", "deployments"),
        ("ValidatingAdmissionPolicyBinding", "validatingadmissionpolicybindings"),
    ],
)
def test_plural_of_a_kind(kind, plural):
    assert cq.plural_of(kind) == plural


def test_object_paths_of_core_grouped_namespaced_and_cluster_scoped_objects():
    assert cq.object_path("v1", "Namespace", "prod") == "/api/v1/namespaces/prod"
    assert cq.object_path("apps/v1", "Deployment", "web", "prod") == "/apis/apps/v1/namespaces/prod/deployments/web"
    assert (
        cq.object_path("admissionregistration.k8s.io/v1", "ValidatingAdmissionPolicy", "p")
        == "/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicies/p"
    )
    assert cq.object_path("example.com/v1", "Mouse", "m", plural="mice") == "/apis/example.com/v1/mice/m"


def test_object_path_refuses_an_incomplete_object():
    with pytest.raises(ValueError, match="api_version, kind and name"):
        cq.object_path("v1", "Namespace", "")


def test_answer_for_missing_tells_missing_unserved_and_forbidden_apart():
    status_body = json.dumps({"kind": "Status", "reason": "NotFound"})
    assert cq.answer_for_missing(404, status_body) == {"exists": False, "served": True, "forbidden": False}
    assert cq.answer_for_missing(404, "404 page not found") == {"exists": None, "served": False, "forbidden": False}
    assert cq.answer_for_missing(403, "{}") == {"exists": None, "served": True, "forbidden": True}
    assert cq.answer_for_missing(500, "boom") is None


def test_group_names_are_sorted():
    assert cq.group_names({"groups": [{"name": "policy"}, {"name": "apps"}]}) == ["apps", "policy"]
    assert cq.group_names({}) == []


class FakeApiClient:
    """Serves one namespace, the apps group, and SSARs allowing only verbs in ``allowed_verbs``."""

    def __init__(self, allowed_verbs=("get",)):
        self.allowed_verbs = allowed_verbs
        self.calls = []

    def call_api(self, path, method, body=None, **_kwargs):
        self.calls.append((method, path))
        if method == "POST" and path.endswith("/selfsubjectaccessreviews"):
            allowed = body["spec"]["resourceAttributes"]["verb"] in self.allowed_verbs
            return FakeResponse(201, dict(body, status={"allowed": allowed}))
        if path == "/apis":
            return FakeResponse(200, {"kind": "APIGroupList", "groups": [{"name": "apps"}]})
        if path == "/api/v1/namespaces/prod":
            return FakeResponse(200, {"kind": "Namespace", "metadata": {"name": "prod"}})
        if path.startswith("/api/v1/") or path.startswith("/apis/apps/"):
            raise FakeApiError(404, json.dumps({"kind": "Status", "reason": "NotFound"}))
        if path.startswith("/apis/secret.example/"):
            raise FakeApiError(403, json.dumps({"kind": "Status", "reason": "Forbidden"}))
        raise FakeApiError(404, "404 page not found")


def test_query_answers_reviews_objects_and_groups_in_one_pass():
    client = FakeApiClient(allowed_verbs=("patch",))
    query = cq.ClusterQuery(client)
    assert query.review({"verb": "patch", "resource": "deployments"})["status"] == {"allowed": True}
    assert query.review({"verb": "create", "resource": "namespaces"})["status"] == {"allowed": False}
    found = query.get({"api_version": "v1", "kind": "Namespace", "name": "prod"})
    assert (found["exists"], found["object"]["metadata"]["name"]) == (True, "prod")
    assert query.get({"api_version": "v1", "kind": "Namespace", "name": "dev"})["exists"] is False
    unserved = query.get({"api_version": "widgets.example/v1", "kind": "Widget", "name": "w"})
    assert (unserved["exists"], unserved["served"]) == (None, False)
    forbidden = query.get({"api_version": "secret.example/v1", "kind": "Vault", "name": "v"})
    assert (forbidden["exists"], forbidden["forbidden"]) == (None, True)
    assert query.api_groups() == ["apps"]


def test_query_reports_a_server_error_with_its_path():
    class Broken(FakeApiClient):
        def call_api(self, path, method, body=None, **_kwargs):
            raise FakeApiError(500, "etcd unavailable")

    with pytest.raises(cq.ClusterQueryError, match="/apis: HTTP 500 etcd unavailable"):
        cq.ClusterQuery(Broken()).api_groups()


def test_query_reports_a_connection_failure():
    class Unreachable(FakeApiClient):
        def call_api(self, path, method, body=None, **_kwargs):
            raise OSError("connection refused")

    with pytest.raises(cq.ClusterQueryError, match="connection refused"):
        cq.ClusterQuery(Unreachable()).review({"verb": "get"})
