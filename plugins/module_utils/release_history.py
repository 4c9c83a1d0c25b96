# -*- coding: utf-8 -*-
# Copyright: Intelligent Agent platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The release history: a ConfigMap whose key ``releases.json`` holds the release records, newest last.

Appending is a compare-and-swap: the write carries the resourceVersion just read, so two runs that record at the
same time never overwrite each other (the loser reads again and appends to what the winner wrote). Reading is
tolerant: a history that is not JSON, or a record that is not an object, is reported as a problem and left out,
never a reason to refuse a deploy or a rollback. An unreadable ``releases.json`` is kept under ``CORRUPT_KEY`` when
a new record is appended, so that nothing is lost.

The decisions are plain functions (unit-tested without a cluster); HistoryApi is the thin layer that reads and
writes the ConfigMap.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import json

from ansible_collections.intelligent_agent.platform.plugins.module_utils.cluster_query import (
    ClusterQueryError,
    raw_call,
    status_message,
)

RECORDS_KEY = "releases.json"
LATEST_KEY = "latest"
CORRUPT_KEY = "releases.corrupt.json"
OBJECTS_KEY = "objects.json"
LABELS = {
    "app.kubernetes.io/managed-by": "intelligent_agent.platform",
    "app.kubernetes.io/component": "release-history",
}
OBJECTS_SELECTOR = "app.kubernetes.io/managed-by=intelligent_agent.platform,app.kubernetes.io/component=release-objects"


class HistoryConflict(Exception):
    """A write lost a compare-and-swap race (HTTP 409)."""


class HistoryError(Exception):
    """The history could not be read or written (permissions, API errors)."""


# ---- reading --------------------------------------------------------------------------------------------
def parse_records(text):
    """(records, problems) of a ``releases.json`` text: the valid records, newest last, and what was left out.

    A record is kept when it is a JSON object; one without a usable integer id gets the next free id, so that
    every kept record can be named by rollback and status.
    """
    if text is None or str(text).strip() == "":
        return [], []
    try:
        loaded = json.loads(text)
    except ValueError as exc:
        return [], ["%s is not valid JSON (%s): its records are left out" % (RECORDS_KEY, exc)]
    if not isinstance(loaded, list):
        return [], ["%s holds a %s, not a list of records: left out" % (RECORDS_KEY, type(loaded).__name__)]
    records, problems = [], []
    for position, record in enumerate(loaded):
        if isinstance(record, dict):
            records.append(dict(record))
        else:
            problems.append(
                "record %d of %s is a %s, not an object: left out" % (position + 1, RECORDS_KEY, type(record).__name__)
            )
    return _with_ids(records, problems), problems


def _int_or_none(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _with_ids(records, problems):
    highest = max([_int_or_none(r.get("id")) or 0 for r in records] or [0])
    for record in records:
        if _int_or_none(record.get("id")) is None:
            highest += 1
            problems.append(
                "a record without a valid id (version %s) got id %d" % (record.get("version", "?"), highest)
            )
            record["id"] = highest
        else:
            record["id"] = _int_or_none(record["id"])
    return records


def history_of(configmap):
    """(records, problems, resource_version, raw text) of a history ConfigMap dict (None: no history yet)."""
    if not configmap:
        return [], [], "", ""
    data = configmap.get("data") or {}
    raw = data.get(RECORDS_KEY, "")
    records, problems = parse_records(raw)
    return records, problems, (configmap.get("metadata") or {}).get("resourceVersion") or "", raw


def find_release(records, versions):
    """The newest succeeded deploy whose recorded objects and component versions include ``versions``, or None.

    A rollback to those versions puts back the Services, HPAs, PDBs and Ingress recorded with that release.
    """
    for record in reversed(records):
        recorded = record.get("versions") or {}
        if (
            record.get("kind", "deploy") == "deploy"
            and record.get("result") == "succeeded"
            and record.get("objects")
            and all(recorded.get(name) == version for name, version in versions.items())
        ):
            return record
    return None


def objects_name(history_name, objects):
    """Name of the ConfigMap that holds a release's objects: named by content, shared by identical releases."""
    digest = hashlib.sha256(json.dumps(objects, sort_keys=True).encode("utf-8")).hexdigest()[:10]
    return "%s-objects-%s" % (history_name, digest)


def objects_body(name, namespace, objects, labels):
    metadata = {
        "name": name,
        "namespace": namespace,
        "labels": dict(LABELS, **dict(labels or {}, **{"app.kubernetes.io/component": "release-objects"})),
    }
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": metadata,
        "immutable": True,
        "data": {OBJECTS_KEY: json.dumps(objects, sort_keys=True)},
    }


def objects_of(configmap):
    """The objects a release-objects ConfigMap holds ([] when absent or unreadable)."""
    try:
        loaded = json.loads(((configmap or {}).get("data") or {}).get(OBJECTS_KEY) or "[]")
    except ValueError:
        return []
    return [o for o in loaded if isinstance(o, dict)] if isinstance(loaded, list) else []


def orphaned_objects(history_name, names, records):
    """The release-objects ConfigMaps (``<history>-objects-*``) that no kept record names any more: what the
    history left behind when it trimmed the records that named them. Sorted."""
    prefix = "%s-objects-" % history_name
    named = set(record.get("objects") for record in records if isinstance(record, dict) and record.get("objects"))
    return sorted(name for name in names if name.startswith(prefix) and name not in named)


def prune_orphaned_objects(api, records):
    """Delete the orphaned release-objects ConfigMaps. (deleted names, problem or None): a failure is reported,
    never a reason to lose the record just written."""
    try:
        orphans = orphaned_objects(api.name, api.objects_names(), records)
        return [name for name in orphans if api.delete_objects(name)], None
    except HistoryError as exc:
        return [], "release objects not pruned: %s" % exc


# ---- appending ------------------------------------------------------------------------------------------
def next_id(records):
    return max([r["id"] for r in records] or [0]) + 1


def latest_line(record):
    """The one-line summary under the key ``latest`` (kubectl get cm -o yaml shows it at a glance)."""
    return "#%s %s %s %s %s" % (
        record.get("id"),
        record.get("kind") or "deploy",
        record.get("version") or "",
        record.get("result") or "",
        record.get("finished") or "",
    )


def appended_data(configmap, record, keep):
    """(data, record as stored, problems): the ConfigMap data after appending ``record``, trimmed to ``keep``."""
    records, problems, _version, raw = history_of(configmap)
    stored = dict(record, id=next_id(records))
    kept = (records + [stored])[-max(int(keep), 1) :]
    data = dict((configmap or {}).get("data") or {})
    data[RECORDS_KEY] = json.dumps(kept, sort_keys=True)
    data[LATEST_KEY] = latest_line(stored)
    if problems and raw and not records:
        data[CORRUPT_KEY] = raw  # unreadable as a whole: kept aside, never silently dropped
    return data, stored, problems


def history_body(name, namespace, data, labels, resource_version=None):
    metadata = {"name": name, "namespace": namespace, "labels": dict(LABELS, **(labels or {}))}
    if resource_version:
        metadata["resourceVersion"] = resource_version
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, "data": data}


def append(api, record, keep, labels=None, attempts=5):
    """Append ``record`` with compare-and-swap. Returns (stored record, problems, the records kept)."""
    for _attempt in range(attempts):
        configmap = api.read()
        data, stored, problems = appended_data(configmap, record, keep)
        version = ((configmap or {}).get("metadata") or {}).get("resourceVersion")
        body = history_body(api.name, api.namespace, data, labels, version)
        try:
            if configmap is None:
                api.create(body)
            else:
                api.replace(body)
        except HistoryConflict:
            continue  # another run recorded between our read and write: read its record and append after it
        return stored, problems, json.loads(data[RECORDS_KEY])
    raise HistoryError(
        "the release history %s/%s changed under this run %d times in a row: record not written"
        % (api.namespace, api.name, attempts)
    )


# ---- the API ---------------------------------------------------------------------------------------------
class HistoryApi(object):
    """Reads and writes one history ConfigMap with raw JSON requests (cluster_query.raw_call); errors become
    HistoryConflict/HistoryError."""

    def __init__(self, api_client, namespace, name):
        self.api_client = api_client
        self.namespace, self.name = namespace, name
        self.configmaps = "/api/v1/namespaces/%s/configmaps" % namespace

    def _request(self, what, method, path, body=None, query=None, content_type="application/json"):
        try:
            return raw_call(self.api_client, method, path, body, query, content_type, request_timeout=15)
        except ClusterQueryError as exc:
            raise HistoryError("cannot %s in %s: %s" % (what, self.namespace, exc))

    def _call(self, what, method, path, body=None, content_type="application/json"):
        """The object the API server answered; None for a 404 (except on create)."""
        status, text = self._request(what, method, path, body, content_type=content_type)
        if status == 409:
            raise HistoryConflict("%s: another run wrote the history at the same time" % what)
        if status == 404 and what != "create":
            return None
        if status >= 300:
            raise HistoryError(
                "cannot %s the release history ConfigMap %s/%s: HTTP %s %s"
                % (what, self.namespace, self.name, status, status_message(text))
            )
        return json.loads(text) if text else {}

    def read(self, name=None):
        return self._call("read", "GET", "%s/%s" % (self.configmaps, name or self.name))

    def store_objects(self, body):
        """Create a release-objects ConfigMap; one that exists already holds the same content (named by it)."""
        try:
            self._call("create", "POST", self.configmaps, body)
        except HistoryConflict:
            pass

    def create(self, body):
        return self._call("create", "POST", self.configmaps, body)

    def objects_names(self):
        """Names of the release-objects ConfigMaps in the namespace (any history's: orphaned_objects picks)."""
        what = "list the release-objects ConfigMaps"
        status, text = self._request(what, "GET", self.configmaps, query=[("labelSelector", OBJECTS_SELECTOR)])
        if status >= 300:
            raise HistoryError("cannot %s of %s: HTTP %s %s" % (what, self.namespace, status, status_message(text)))
        return [item["metadata"]["name"] for item in json.loads(text).get("items") or []]

    def delete_objects(self, name):
        """Delete one release-objects ConfigMap; False when it was gone already."""
        status, text = self._request("delete %s" % name, "DELETE", "%s/%s" % (self.configmaps, name))
        if status == 404:
            return False
        if status >= 300:
            raise HistoryError(
                "cannot delete the release-objects ConfigMap %s/%s: HTTP %s %s"
                % (self.namespace, name, status, status_message(text))
            )
        return True

    def replace(self, body):
        # A patch that carries metadata.resourceVersion is refused (409) when the ConfigMap changed since it was
        # read: the compare-and-swap, with the patch verb the deployer already has (no update needed).
        replaced = self._call(
            "write", "PATCH", "%s/%s" % (self.configmaps, self.name), body, "application/strategic-merge-patch+json"
        )
        if replaced is None:
            raise HistoryConflict("the history was deleted while this run wrote it")
        return replaced
