# -*- coding: utf-8 -*-
# Copyright: Intelligent Agent platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Server-side apply of a list of manifests in one process: one discovery request per API group version (to find
each kind's resource name and scope), then per object a GET (what was there) and an apply PATCH.

Every definition is checked and every kind resolved before the first write, so a manifest the cluster cannot take
(no name, a kind it does not serve) stops the call with nothing applied. ``changed`` is true only when the API server
stored something: a new object or a new resourceVersion (a dry run compares the object without its bookkeeping).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

from ansible_collections.intelligent_agent.platform.plugins.module_utils.cluster_query import (
    ClusterQueryError,
    raw_call,
    status_message,
)

# Bookkeeping the API server changes on every write: left out when a dry run's answer is compared and from diffs.
BOOKKEEPING = ("managedFields", "resourceVersion", "generation", "uid", "creationTimestamp", "selfLink")
APPLY_CONTENT_TYPE = "application/apply-patch+yaml"  # JSON is YAML: the body is sent as JSON
HIDDEN = "(hidden)"
HIDDEN_CHANGED = "(hidden, changed)"


class ApplyError(Exception):
    """A definition the cluster cannot take, or a request the API server refused; nothing said is secret.

    ``results`` holds what was applied before the failure.
    """

    def __init__(self, message, missing_namespace=False):
        super(ApplyError, self).__init__(message)
        self.missing_namespace = missing_namespace
        self.results = []


# ---- pure helpers ----------------------------------------------------------------------------------------
def definition_problems(definitions):
    """Each definition that lacks apiVersion, kind or metadata.name, named by its index."""
    problems = []
    for index, obj in enumerate(definitions):
        if not isinstance(obj, dict):
            problems.append("definitions[%d] is not a mapping" % index)
            continue
        missing = [
            field
            for field, value in (
                ("apiVersion", obj.get("apiVersion")),
                ("kind", obj.get("kind")),
                ("metadata.name", (obj.get("metadata") or {}).get("name")),
            )
            if not value
        ]
        if missing:
            problems.append("definitions[%d] needs %s" % (index, ", ".join(missing)))
    return problems


def api_prefix(api_version):
    """/api/v1 for the core group, /apis/<group>/<version> for the others."""
    return "/api/%s" % api_version if "/" not in api_version else "/apis/%s" % api_version


def resources_by_kind(api_resource_list):
    """kind -> (plural, namespaced) from an APIResourceList, subresources (pods/log) left out."""
    return dict(
        (item["kind"], (item["name"], bool(item.get("namespaced"))))
        for item in (api_resource_list or {}).get("resources") or []
        if "/" not in item.get("name", "")
    )


def object_path(api_version, plural, name, namespace=None):
    scope = "/namespaces/%s" % namespace if namespace else ""
    return "%s%s/%s/%s" % (api_prefix(api_version), scope, plural, name)


def identity(obj, namespace):
    """The Kind/name (namespace) an object is reported by."""
    return {"kind": obj["kind"], "name": obj["metadata"]["name"], "namespace": namespace}


def without_bookkeeping(obj):
    """The object as its owner wrote it: no status, no server bookkeeping in metadata."""
    if obj is None:
        return None
    clean = dict((key, value) for key, value in obj.items() if key != "status")
    clean["metadata"] = dict(
        (key, value) for key, value in (obj.get("metadata") or {}).items() if key not in BOOKKEEPING
    )
    return clean


def stored_a_change(before, after, dry_run):
    """Whether the apply changed the object: created, or a new resourceVersion (a dry run: different content)."""
    if before is None:
        return True
    if dry_run:
        return without_bookkeeping(before) != without_bookkeeping(after)
    return (before.get("metadata") or {}).get("resourceVersion") != (after.get("metadata") or {}).get("resourceVersion")


def action_of(before, changed):
    if before is None:
        return "created"
    return "configured" if changed else "unchanged"


def hide_secret_values(before, after):
    """Copies of a Secret's before/after whose data values are replaced by a marker saying only whether they changed."""

    def values(obj):
        if not obj:
            return {}
        merged = dict(obj.get("data") or {})
        merged.update(obj.get("stringData") or {})
        return merged

    old, new = values(before), values(after)

    def hidden(obj, other):
        if obj is None:
            return None
        copy = dict((key, value) for key, value in obj.items() if key not in ("data", "stringData"))
        mine = values(obj)
        if mine:
            copy["data"] = dict(
                (key, HIDDEN if key in other and other[key] == mine[key] else HIDDEN_CHANGED) for key in sorted(mine)
            )
        return copy

    return hidden(before, new), hidden(after, old)


def diff_entry(obj_id, before, after):
    """One entry of the module's diff list: the object before and after, without bookkeeping, Secrets hidden."""
    before, after = without_bookkeeping(before), without_bookkeeping(after)
    if obj_id["kind"] == "Secret":
        before, after = hide_secret_values(before, after)
    where = "%s/%s%s" % (obj_id["kind"], obj_id["name"], " in %s" % obj_id["namespace"] if obj_id["namespace"] else "")
    return {
        "before_header": "%s (live)" % where,
        "after_header": "%s (applied)" % where,
        "before": _yaml(before) if before is not None else "",
        "after": _yaml(after),
    }


def _yaml(obj):
    try:
        import yaml

        return yaml.safe_dump(obj, default_flow_style=False, sort_keys=False)  # the server's order, as kubectl diff
    except ImportError:  # JSON is YAML too
        return json.dumps(obj, indent=2, sort_keys=True) + "\n"


def names_a_missing_namespace(status, text):
    """Whether an answer is the 404 of a namespace that does not exist (a dry run in a namespace not created yet)."""
    if status != 404:
        return False
    try:
        return (json.loads(text).get("details") or {}).get("kind") == "namespaces"
    except (ValueError, AttributeError):
        return False


# ---- the API ---------------------------------------------------------------------------------------------
class ServerSideApply(object):
    """Applies manifests with a kubernetes ApiClient (raw JSON, one discovery request per group version)."""

    def __init__(self, api_client, field_manager, force_conflicts=True, dry_run=False, request_timeout=30):
        self.api_client = api_client
        self.field_manager = field_manager
        self.force_conflicts = force_conflicts
        self.dry_run = dry_run
        self.request_timeout = request_timeout
        self._resources = {}

    def _call(self, method, path, body=None, query=None, content_type="application/json"):
        """(status, text) of one request; a transport failure raises ApplyError."""
        try:
            return raw_call(self.api_client, method, path, body, query, content_type, self.request_timeout)
        except ClusterQueryError as exc:
            raise ApplyError(str(exc))

    def resource(self, api_version, kind):
        """(plural, namespaced) of a kind; ApplyError when the cluster does not serve it."""
        if api_version not in self._resources:
            status, text = self._call("GET", api_prefix(api_version))
            if status == 404:
                self._resources[api_version] = {}
            elif status >= 300:
                raise ApplyError("GET %s: HTTP %s %s" % (api_prefix(api_version), status, status_message(text)))
            else:
                self._resources[api_version] = resources_by_kind(json.loads(text))
        if kind not in self._resources[api_version]:
            raise ApplyError("the cluster does not serve kind %s in apiVersion %s" % (kind, api_version))
        return self._resources[api_version][kind]

    def plan(self, definitions, default_namespace):
        """(obj, path, identity) per definition, every kind resolved before anything is written."""
        planned = []
        for index, obj in enumerate(definitions):
            try:
                plural, namespaced = self.resource(obj["apiVersion"], obj["kind"])
            except ApplyError as exc:
                raise ApplyError("definitions[%d] (%s/%s): %s" % (index, obj["kind"], obj["metadata"]["name"], exc))
            namespace = (obj["metadata"].get("namespace") or default_namespace) if namespaced else None
            if namespaced and not namespace:
                raise ApplyError(
                    "definitions[%d] (%s/%s) is namespaced and names no namespace (set namespace)"
                    % (index, obj["kind"], obj["metadata"]["name"])
                )
            if namespaced:
                obj = dict(obj, metadata=dict(obj["metadata"], namespace=namespace))
            planned.append((obj, object_path(obj["apiVersion"], plural, obj["metadata"]["name"], namespace)))
        return planned

    def read(self, path):
        """The live object at path, or None."""
        status, text = self._call("GET", path)
        if status == 404:
            return None
        if status >= 300:
            raise ApplyError("GET %s: HTTP %s %s" % (path, status, status_message(text)))
        return json.loads(text)

    def apply(self, obj, path):
        """The object as the API server stored it (or, in a dry run, would store it)."""
        query = [("fieldManager", self.field_manager), ("force", "true" if self.force_conflicts else "false")]
        if self.dry_run:
            query.append(("dryRun", "All"))
        status, text = self._call("PATCH", path, body=obj, query=query, content_type=APPLY_CONTENT_TYPE)
        if status >= 300:
            raise ApplyError(
                "%s/%s: HTTP %s %s" % (obj["kind"], obj["metadata"]["name"], status, status_message(text)),
                missing_namespace=names_a_missing_namespace(status, text),
            )
        return json.loads(text)


def apply_all(applier, definitions, default_namespace, with_diff=False, existing_immutable=()):
    """Apply every definition in order; returns (results, diffs). ApplyError carries the results so far.

    An immutable definition named in ``existing_immutable`` is left as it is, without a request: the name of a
    content-hashed immutable ConfigMap or Secret is its content, and the API server refuses a change to its data."""
    planned = applier.plan(definitions, default_namespace)
    results, diffs = [], []
    for obj, path in planned:
        obj_id = identity(obj, obj["metadata"].get("namespace"))
        if obj.get("immutable") and obj["metadata"]["name"] in existing_immutable:
            results.append(dict(obj_id, changed=False, action="unchanged"))
            continue
        try:
            before = applier.read(path)
            after = applier.apply(obj, path)
        except ApplyError as exc:
            if not (applier.dry_run and exc.missing_namespace):
                exc.results = results
                raise
            # A preview of a first deploy: the namespace a real run creates first does not exist, so the server
            # cannot dry-run its objects. They would be created; the real run's apply validates them.
            before, after = None, obj
        changed = stored_a_change(before, after, applier.dry_run)
        results.append(dict(obj_id, changed=changed, action=action_of(before, changed)))
        if with_diff and changed:
            diffs.append(diff_entry(obj_id, before, after))
    return results, diffs
