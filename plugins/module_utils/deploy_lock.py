# -*- coding: utf-8 -*-
# Copyright: Intelligent Agent platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The deploy lock: a coordination.k8s.io Lease per environment.

A run holds the lock while its Lease names it (``holderIdentity``) and was renewed less than
``leaseDurationSeconds`` ago. The lease is short (60 s by default) and renewed while the run lives (see
lease_renewer.py), so a killed run blocks the environment for at most one lease duration. Every write uses the
resourceVersion just read (compare-and-swap): of two racing runs the API server accepts exactly one.

The decisions are plain functions over the Lease as a dict (unit-tested without a cluster); LeaseApi is the thin
layer that reads and writes it.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import calendar
import json
import time

from ansible_collections.intelligent_agent.platform.plugins.module_utils.cluster_query import (
    ClusterQueryError,
    raw_call,
    status_message,
)

ANNOTATION = "intelligent-agent.platform/"
LABELS = {
    "app.kubernetes.io/managed-by": "intelligent_agent.platform",
    "app.kubernetes.io/component": "deploy-lock",
}
TIME_FORMAT = "%Y-%m-%dT%H:%M:%S"


class LockHeld(Exception):
    """Another live run holds the lock; ``view`` describes it."""

    def __init__(self, message, view):
        super(LockHeld, self).__init__(message)
        self.view = view


class LockConflict(Exception):
    """A write lost a compare-and-swap race (HTTP 409)."""


class LockError(Exception):
    """The lock could not be read or written (permissions, API errors); never means "held by nobody"."""


# ---- time -------------------------------------------------------------------------------------------------
def format_time(epoch):
    """Kubernetes MicroTime: 2026-12-03T16:43:16.123456Z."""
    whole = int(epoch)
    micros = int(round((epoch - whole) * 1000000))
    if micros >= 1000000:
        whole, micros = whole + 1, 0
    return "%s.%06dZ" % (time.strftime(TIME_FORMAT, time.gmtime(whole)), micros)


def parse_time(value):
    """Epoch seconds of a MicroTime/Time string (or a datetime the client returned); None when absent."""
    if value is None or value == "":
        return None
    if hasattr(value, "timestamp"):
        return value.timestamp()
    text = str(value).strip().rstrip("Z")
    fraction = 0.0
    if "." in text:
        text, digits = text.split(".", 1)
        fraction = float("0." + "".join(c for c in digits if c.isdigit()) or "0")
    if "+" in text[10:]:
        text = text[:10] + text[10:].split("+", 1)[0]
    return calendar.timegm(time.strptime(text[:19], TIME_FORMAT)) + fraction


# ---- what a Lease says -----------------------------------------------------------------------------------
def lease_view(lease, now):
    """Who holds the lock and for how long, as plain values (an absent Lease is a free lock)."""
    if not lease:
        return {
            "exists": False,
            "holder": "",
            "expired": True,
            "resource_version": "",
            "age": None,
            "expires_in": 0,
            "duration": 0,
            "version": "",
            "who": "",
            "acquired": "",
            "renewed": "",
        }
    spec = lease.get("spec") or {}
    metadata = lease.get("metadata") or {}
    annotations = metadata.get("annotations") or {}
    duration = int(spec.get("leaseDurationSeconds") or 0)
    renewed = parse_time(spec.get("renewTime")) or parse_time(spec.get("acquireTime"))
    age = None if renewed is None else max(0.0, now - renewed)
    holder = spec.get("holderIdentity") or ""
    expired = not holder or age is None or age > duration
    return {
        "exists": True,
        "holder": holder,
        "expired": expired,
        "resource_version": metadata.get("resourceVersion", ""),
        "age": None if age is None else round(age, 1),
        "expires_in": 0 if expired else round(duration - age, 1),
        "duration": duration,
        "version": annotations.get(ANNOTATION + "version", ""),
        "who": annotations.get(ANNOTATION + "who", ""),
        "acquired": spec.get("acquireTime") or "",
        "renewed": spec.get("renewTime") or "",
    }


def acquire_action(view, holder):
    """``create`` (no Lease yet), ``take`` (free or expired), ``keep`` (ours already) or ``held`` (another run)."""
    if not view["exists"]:
        return "create"
    if view["holder"] == holder:
        return "keep"
    if view["expired"]:
        return "take"
    return "held"


def held_message(view, namespace, name):
    return (
        "Another deploy holds the lock on %s: holder %s, version %s, renewed %s s ago; it expires in %s s unless "
        "that run renews it (a live run renews it every %s s). If that run is dead, wait for the expiry, or break "
        "the lock: ansible-playbook playbooks/unlock.yml -i inventories/<env> (Lease %s/%s)."
        % (
            namespace,
            view["holder"],
            view["version"] or "?",
            view["age"],
            view["expires_in"],
            max(1, view["duration"] // 3),
            namespace,
            name,
        )
    )


# ---- Lease bodies ----------------------------------------------------------------------------------------
def held_lease(name, namespace, holder, duration, now, annotations=None, labels=None, resource_version=None):
    """The Lease of a run that (re)acquires the lock: acquire and renew time now."""
    metadata = {
        "name": name,
        "namespace": namespace,
        "labels": dict(LABELS, **(labels or {})),
        "annotations": dict((ANNOTATION + k, str(v)) for k, v in sorted((annotations or {}).items())),
    }
    if resource_version:
        metadata["resourceVersion"] = resource_version
    stamp = format_time(now)
    return {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": metadata,
        "spec": {
            "holderIdentity": holder,
            "leaseDurationSeconds": int(duration),
            "acquireTime": stamp,
            "renewTime": stamp,
        },
    }


def renewed_lease(lease, now):
    """The same Lease with renewTime now (the resourceVersion read stays: a lost race fails with 409)."""
    body = {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": dict(lease["metadata"]),
        "spec": dict(lease["spec"], renewTime=format_time(now)),
    }
    return body


def freed_lease(lease, last_holder, result=""):
    """The Lease with no holder: what the last run was and how it ended stays in annotations."""
    metadata = dict(lease["metadata"])
    annotations = dict(metadata.get("annotations") or {})
    annotations[ANNOTATION + "last-holder"] = last_holder
    annotations[ANNOTATION + "last-version"] = annotations.get(ANNOTATION + "version", "")
    annotations[ANNOTATION + "last-result"] = result or "unknown"
    metadata["annotations"] = annotations
    spec = dict(lease.get("spec") or {})
    for key in ("holderIdentity", "acquireTime", "renewTime"):
        spec.pop(key, None)
    return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": metadata, "spec": spec}


# ---- the API ---------------------------------------------------------------------------------------------
class LeaseApi(object):
    """Reads and writes one Lease with raw JSON requests (cluster_query.raw_call); errors become
    LockConflict/LockError."""

    def __init__(self, api_client, namespace, name):
        self.api_client = api_client
        self.namespace, self.name = namespace, name
        self.leases = "/apis/coordination.k8s.io/v1/namespaces/%s/leases" % namespace

    def _call(self, what, method, path, body=None):
        """The object the API server answered, or None for a 404."""
        try:
            status, text = raw_call(self.api_client, method, path, body=body, request_timeout=15)
        except ClusterQueryError as exc:
            raise LockError("cannot %s Lease %s/%s: %s" % (what, self.namespace, self.name, exc))
        if status == 409:
            raise LockConflict("%s: another run wrote the lock at the same time" % what)
        if status == 404:
            return None
        if status >= 300:
            raise LockError(
                "cannot %s Lease %s/%s: HTTP %s %s" % (what, self.namespace, self.name, status, status_message(text))
            )
        return json.loads(text) if text else {}

    def read(self):
        return self._call("read", "GET", "%s/%s" % (self.leases, self.name))

    def namespace_exists(self):
        return self._call("read the namespace of", "GET", "/api/v1/namespaces/%s" % self.namespace) is not None

    def create_namespace(self):
        body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": self.namespace}}
        self._call("create the namespace of", "POST", "/api/v1/namespaces", body)

    def create(self, body):
        created = self._call("create", "POST", self.leases, body)
        if created is None:
            raise LockError("cannot create Lease %s/%s: namespace not found" % (self.namespace, self.name))
        return created

    def replace(self, body):
        replaced = self._call("write", "PUT", "%s/%s" % (self.leases, self.name), body)
        if replaced is None:
            raise LockConflict("the lock was deleted while this run wrote it")
        return replaced

    def delete(self):
        self._call("delete", "DELETE", "%s/%s" % (self.leases, self.name))


# ---- the operations -------------------------------------------------------------------------------------
def acquire(api, holder, duration, annotations=None, labels=None, clock=time.time, attempts=3):
    """Take the lock for ``holder``. Returns (lease, view of the lock before, action taken).

    Raises LockHeld when another live run holds it, LockError when it cannot be read or written.
    """
    for _attempt in range(attempts):
        lease = api.read()
        view = lease_view(lease, clock())
        action = acquire_action(view, holder)
        if action == "held":
            raise LockHeld(held_message(view, api.namespace, api.name), view)
        body = held_lease(
            api.name,
            api.namespace,
            holder,
            duration,
            clock(),
            annotations,
            labels,
            resource_version=view["resource_version"] or None,
        )
        try:
            written = api.create(body) if action == "create" else api.replace(body)
            return written, view, action
        except LockConflict:
            continue  # someone wrote between our read and write: read again and decide again
    lease = api.read()
    view = lease_view(lease, clock())
    raise LockHeld(held_message(view, api.namespace, api.name), view)


def renew(api, holder, clock=time.time):
    """Renew the lock if ``holder`` still holds it. Returns (True, view) or (False, view of who holds it now)."""
    lease = api.read()
    view = lease_view(lease, clock())
    if not lease or view["holder"] != holder:
        return False, view
    try:
        api.replace(renewed_lease(lease, clock()))
    except LockConflict:
        lease = api.read()
        view = lease_view(lease, clock())
        return view["holder"] == holder and not view["expired"], view
    return True, lease_view(api.read(), clock())


def release(api, holder, result="", clock=time.time):
    """Free the lock if ``holder`` holds it. Returns (released, view before)."""
    lease = api.read()
    view = lease_view(lease, clock())
    if not lease or view["holder"] != holder:
        return False, view
    try:
        api.replace(freed_lease(lease, holder, result))
    except LockConflict:
        return False, lease_view(api.read(), clock())
    return True, view


def break_lock(api, clock=time.time):
    """Free the lock whoever holds it (playbooks/unlock.yml, after the operator confirmed). Returns the view before."""
    lease = api.read()
    view = lease_view(lease, clock())
    if lease and view["holder"]:
        api.replace(freed_lease(lease, view["holder"], "lock broken by an operator"))
    return view
