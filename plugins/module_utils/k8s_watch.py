# -*- coding: utf-8 -*-
# Copyright: Intelligent Agent platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""List + watch of namespaced Kubernetes resources in background threads, resourceVersion-aware.

Each ResourceWatcher lists its resource once (a ``sync`` message with every item), then watches from
the list's resourceVersion and forwards every change (``event`` messages) to one queue. It follows
the usual informer contract: on 410 Gone (the version is too old) it lists again; on a disconnect,
an apiserver restart or a 5xx it re-watches from the last version seen, with a short backoff, until
stopped. Only errors that retrying cannot fix (forbidden or unauthorized before anything was read,
unknown resource) end it, with a ``fatal`` message naming the resource and the namespace.
Objects travel as plain dicts (the JSON of the API), which the pure logic in rollout.py reads.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import threading
import time

from ansible_collections.intelligent_agent.platform.plugins.module_utils.kube_client import send


class ApiException(Exception):
    """An HTTP error of the API server: its status, reason and body (a Kubernetes Status in JSON)."""

    def __init__(self, status=None, reason=None, body=None):
        super(ApiException, self).__init__("%s %s" % (status, reason))
        self.status, self.reason, self.body = status, reason, body


# resource (plural, as RBAC and error messages name it) -> the API group version that serves it
RESOURCES = {
    "deployments": "/apis/apps/v1",
    "statefulsets": "/apis/apps/v1",
    "daemonsets": "/apis/apps/v1",
    "replicasets": "/apis/apps/v1",
    "pods": "/api/v1",
    "events": "/api/v1",
}
KIND_RESOURCES = {"Deployment": "deployments", "StatefulSet": "statefulsets", "DaemonSet": "daemonsets"}


def open_request(api_client, path, query, request_timeout, accept="application/json"):
    """The unread response of a GET (a list, a watch stream, a log); an HTTP error raises ApiException, a
    failure to get an answer (refused, reset, timeout) raises as the client raised it (the caller's transient
    handling). Works with the light client and the kubernetes ApiClient (kube_client.send)."""
    response = send(api_client, "GET", path, query, headers={"Accept": accept}, request_timeout=request_timeout)
    if response.status < 300:
        return response
    try:
        body = response.data.decode("utf-8", "replace") if response.data else ""
    finally:
        response.release_conn()
    reason = None
    try:
        reason = json.loads(body).get("reason")
    except (ValueError, AttributeError):
        pass
    raise ApiException(status=response.status, reason=reason or "HTTP %s" % response.status, body=body)


# Denied requests right after an apiserver restart can be the authorizer warming up: once a resource was
# read successfully, 401/403 count as transient for this long.
DENIED_AFTER_SUCCESS_GRACE = 30.0


def api_error_reason(exc):
    """'Forbidden (403): pods is forbidden: User ... cannot list ...' from an ApiException."""
    status = getattr(exc, "status", None)
    reason = getattr(exc, "reason", None) or exc.__class__.__name__
    message = None
    body = getattr(exc, "body", None)
    if body:
        try:
            message = json.loads(body).get("message")
        except (ValueError, TypeError, AttributeError):
            message = None
    text = "%s (%s)" % (reason, status) if status else str(reason)
    return "%s: %s" % (text, message) if message else text


class WatchFatal(Exception):
    """A resource cannot be listed or watched and retrying will not help."""

    def __init__(self, resource, namespace, reason):
        self.resource = resource
        self.namespace = namespace
        self.reason = reason
        super(WatchFatal, self).__init__("cannot list/watch %s in namespace %s: %s" % (resource, namespace, reason))


def _iter_lines(resp):
    buf = b""
    for chunk in resp.stream(amt=None, decode_content=True):
        buf += chunk
        while True:
            newline = buf.find(b"\n")
            if newline < 0:
                break
            line, buf = buf[:newline], buf[newline + 1 :]
            if line.strip():
                yield line
    if buf.strip():
        yield buf


class ResourceWatcher(threading.Thread):
    """Lists then watches one resource in one namespace; puts messages on ``out``:
    ("sync", resource, [items]), ("event", resource, type, obj), ("fatal", resource, WatchFatal), or for an
    ``optional`` resource (one the wait can do without) ("optional-failed", resource, WatchFatal)."""

    def __init__(
        self,
        api_client,
        resource,
        namespace,
        out,
        label_selector=None,
        watch_seconds=60,
        request_timeout=30,
        clock=time.monotonic,
        optional=False,
    ):
        super(ResourceWatcher, self).__init__(name="watch-%s" % resource)
        self.daemon = True
        self.api_client = api_client
        self.path = "%s/namespaces/%s/%s" % (RESOURCES[resource], namespace, resource)
        self.resource = resource
        self.namespace = namespace
        self.out = out
        self.label_selector = label_selector
        self.watch_seconds = int(watch_seconds)
        self.request_timeout = request_timeout
        self.clock = clock
        self.stopped = threading.Event()
        self.optional = optional
        self.stats = {"lists": 0, "watches": 0, "disconnects": 0, "errors": 0, "gone": 0}
        self.last_error = None

    def stop(self):
        self.stopped.set()

    def _query(self, **extra):
        query = [("labelSelector", self.label_selector)] if self.label_selector else []
        return query + sorted(extra.items())

    def list_once(self):
        resp = open_request(self.api_client, self.path, self._query(), self.request_timeout)
        try:
            data = json.loads(resp.data)
        finally:
            resp.release_conn()
        self.stats["lists"] += 1
        return data.get("items") or [], (data.get("metadata") or {}).get("resourceVersion")

    def watch_once(self, resource_version):
        """Yield (type, object) until the server ends the watch; raise ApiException on an ERROR event."""
        self.stats["watches"] += 1
        query = self._query(
            watch="true",
            resourceVersion=resource_version,
            allowWatchBookmarks="true",
            timeoutSeconds=str(self.watch_seconds),
        )
        resp = open_request(self.api_client, self.path, query, (10, self.watch_seconds + 15))
        try:
            for line in _iter_lines(resp):
                if self.stopped.is_set():
                    return
                try:
                    event = json.loads(line)
                except ValueError:
                    continue
                if event.get("type") == "ERROR":
                    obj = event.get("object") or {}
                    raise ApiException(
                        status=obj.get("code"), reason="%s: %s" % (obj.get("reason"), obj.get("message"))
                    )
                yield event.get("type"), event.get("object") or {}
        finally:
            resp.close()
            resp.release_conn()

    def run(self):
        try:
            self._run()
        except WatchFatal as exc:
            self.out.put(("optional-failed" if self.optional else "fatal", self.resource, exc))
        except Exception as exc:  # pylint: disable=broad-except
            self.out.put(
                (
                    "optional-failed" if self.optional else "fatal",
                    self.resource,
                    WatchFatal(self.resource, self.namespace, repr(exc)),
                )
            )

    def _run(self):
        version = None
        failures = 0
        read_ok = False
        denied_since = None
        while not self.stopped.is_set():
            try:
                if version is None:
                    items, version = self.list_once()
                    read_ok = True
                    denied_since = None
                    self.out.put(("sync", self.resource, items))
                started = self.clock()
                for event_type, obj in self.watch_once(version):
                    failures = 0
                    new_version = (obj.get("metadata") or {}).get("resourceVersion")
                    if new_version:
                        version = new_version
                    if event_type in ("ADDED", "MODIFIED", "DELETED"):
                        self.out.put(("event", self.resource, event_type, obj))
                if self.clock() - started < self.watch_seconds - 2 and not self.stopped.is_set():
                    # ended before its timeoutSeconds: the apiserver went away or closed it
                    self.stats["disconnects"] += 1
                    self._pause(failures)
                    failures += 1
            except ApiException as exc:
                status = getattr(exc, "status", None)
                if status == 410:
                    self.stats["gone"] += 1
                    version = None
                    continue
                if status in (401, 403) and read_ok:
                    denied_since = denied_since or self.clock()
                    if self.clock() - denied_since > DENIED_AFTER_SUCCESS_GRACE:
                        raise WatchFatal(self.resource, self.namespace, api_error_reason(exc))
                elif status in (400, 401, 403, 404, 422):
                    raise WatchFatal(self.resource, self.namespace, api_error_reason(exc))
                self._transient(exc, failures)
                failures += 1
            except Exception as exc:  # pylint: disable=broad-except
                # connection refused / reset, read timeouts, truncated chunks: the apiserver is away
                self._transient(exc, failures)
                failures += 1

    def _transient(self, exc, failures):
        self.stats["errors"] += 1
        self.last_error = api_error_reason(exc) if isinstance(exc, ApiException) else repr(exc)[:300]
        self._pause(failures)

    def _pause(self, failures):
        self.stopped.wait(min(0.2 * (2 ** min(failures, 4)), 2.0))
