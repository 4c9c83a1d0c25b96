# -*- coding: utf-8 -*-
# Copyright: Intelligent Agent platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read-only questions a pre-flight asks the API server, answered in one process: what these credentials may do
(SelfSubjectAccessReviews), whether named objects exist (and whether their API is served at all), and which API
groups the cluster serves.

Each Ansible task that talks to the cluster costs about 0.4 s (a new Python process and its requests); asking these
together is what keeps the deploy's pre-flight to one such task.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

from ansible_collections.intelligent_agent.platform.plugins.module_utils.kube_client import send

# Kinds whose plural is not "<kind>s" in lower case (the API's resource names).
IRREGULAR_PLURALS = {"Ingress": "ingresses", "NetworkPolicy": "networkpolicies"}


class ClusterQueryError(Exception):
    """A question the API server did not answer (connection, authentication, server error)."""


# ---- pure helpers ----------------------------------------------------------------------------------------
def plural_of(kind):
    """The resource name of a kind: ValidatingAdmissionPolicy -> validatingadmissionpolicies."""
    if kind in IRREGULAR_PLURALS:
        return IRREGULAR_PLURALS[kind]
    lower = kind.lower()
    if lower.endswith("y"):
        return lower[:-1] + "ies"
    if lower.endswith("s"):
        return lower + "es"
    return lower + "s"


def object_path(api_version, kind, name, namespace=None, plural=None):
    """The REST path of one object: /api/v1/namespaces/x or /apis/group/version/namespaces/ns/plural/name."""
    if not api_version or not kind or not name:
        raise ValueError("an object needs api_version, kind and name (got %r, %r, %r)" % (api_version, kind, name))
    prefix = "/api/%s" % api_version if "/" not in api_version else "/apis/%s" % api_version
    scope = "/namespaces/%s" % namespace if namespace else ""
    return "%s%s/%s/%s" % (prefix, scope, plural or plural_of(kind), name)


def review_body(attributes):
    """A SelfSubjectAccessReview asking about ``attributes`` (verb, group, resource, namespace, name...)."""
    return {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SelfSubjectAccessReview",
        "spec": {"resourceAttributes": dict(attributes)},
    }


def answer_for_missing(status, body):
    """What a failed GET of one object says: the object is missing, its API is not served, or it is forbidden.

    A 404 from a served API is a JSON Status naming the object; a 404 for a path no API serves is plain text.
    """
    if status == 403:
        return {"exists": None, "served": True, "forbidden": True}
    if status == 404:
        try:
            served = json.loads(body or "").get("kind") == "Status"
        except ValueError:
            served = False
        return {"exists": False if served else None, "served": served, "forbidden": False}
    return None


def status_message(text, limit=300):
    """The message of a Kubernetes Status body, or the start of the text."""
    try:
        return json.loads(text).get("message") or text[:limit]
    except (ValueError, AttributeError):
        return (text or "")[:limit]


def group_names(api_group_list):
    """The group names of an APIGroupList (GET /apis), sorted (the core group is served under /api, not here)."""
    return sorted(group.get("name", "") for group in (api_group_list or {}).get("groups") or [])


# ---- the API ---------------------------------------------------------------------------------------------
def raw_call(api_client, method, path, body=None, query=None, content_type="application/json", request_timeout=30):
    """(status, text) of one request with a kubernetes ApiClient, raw JSON and no model classes. An HTTP error is an
    answer; a transport failure (no connection, TLS, timeout) raises ClusterQueryError."""
    headers = {"Accept": "application/json", "Content-Type": content_type}
    try:
        response = send(api_client, method, path, query, body, headers, request_timeout)
    except Exception as exc:  # pylint: disable=broad-except
        raise ClusterQueryError("%s %s: %s" % (method, path, exc))
    try:
        return response.status, response.data.decode("utf-8") if response.data else ""
    finally:
        response.release_conn()


class ClusterQuery(object):
    """Asks the questions with a kubernetes ApiClient (raw JSON, no model classes, no discovery)."""

    def __init__(self, api_client, request_timeout=30):
        self.api_client = api_client
        self.request_timeout = request_timeout

    def _call(self, method, path, body=None):
        return raw_call(self.api_client, method, path, body=body, request_timeout=self.request_timeout)

    def review(self, attributes):
        path = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"
        status, text = self._call("POST", path, review_body(attributes))
        if status >= 300:
            raise ClusterQueryError("SelfSubjectAccessReview of %s: HTTP %s %s" % (attributes, status, text[:200]))
        return json.loads(text)

    def get(self, item):
        """{api_version, kind, name, namespace, exists, served, forbidden, object} for one wanted object."""
        answer = {
            "api_version": item["api_version"],
            "kind": item["kind"],
            "name": item["name"],
            "namespace": item.get("namespace") or None,
        }
        path = object_path(item["api_version"], item["kind"], item["name"], item.get("namespace"), item.get("plural"))
        status, text = self._call("GET", path)
        if status < 300:
            answer.update(exists=True, served=True, forbidden=False, object=json.loads(text))
            return answer
        missing = answer_for_missing(status, text)
        if missing is None:
            raise ClusterQueryError("GET %s: HTTP %s %s" % (path, status, text[:200]))
        answer.update(missing, object=None)
        return answer

    def api_groups(self):
        status, text = self._call("GET", "/apis")
        if status >= 300:
            raise ClusterQueryError("GET /apis: HTTP %s %s" % (status, text[:200]))
        return group_names(json.loads(text))
