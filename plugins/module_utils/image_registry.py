# -*- coding: utf-8 -*-
# Copyright: Intelligent Agent platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Resolve image tags to digests with the registry API (distribution spec v2).

Pure helpers (which references to resolve, API base URLs, auth challenges, digests, manifest sizes,
the release-tag overwrite guard) and a small client that takes its HTTP transport as an argument, so
the module gives it ``ansible.module_utils.urls`` and the unit tests a fake. No Ansible imports.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import hashlib
import json
import re

try:
    from urllib.parse import urlencode
except ImportError:  # pragma: no cover - Python 2 is not supported by the collection
    from urllib import urlencode

from ansible_collections.intelligent_agent.platform.plugins.module_utils.image_ref import (
    ImageRefError,
    build_image_ref,
    parse_image_ref,
)

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
# Every media type a tag may name: the digest is then the one `docker pull` and the kubelet resolve.
MANIFEST_ACCEPT = ", ".join([OCI_INDEX, OCI_MANIFEST, DOCKER_LIST, DOCKER_MANIFEST])
INDEX_TYPES = (OCI_INDEX, DOCKER_LIST)
REVISION_LABEL = "org.opencontainers.image.revision"
DOCKER_HUB = "registry-1.docker.io"
_LOCAL_RE = re.compile(r"^(127\.|localhost(:|$)|\[::1\])")
_NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_CHALLENGE_PARAM_RE = re.compile(r'([A-Za-z_]+)\s*=\s*"([^"]*)"')


class RegistryError(Exception):
    """The registry could not answer the question; the message names the reference and the cause."""


def default_scheme(registry):
    """``http`` for a registry on the loopback (127.x, localhost, [::1]), else ``https``."""
    return "http" if _LOCAL_RE.match(registry or "") else "https"


def api_base(registry, scheme=""):
    """``<scheme>://<registry>`` of the registry API; no registry = Docker Hub."""
    registry = registry or DOCKER_HUB
    if scheme not in ("", None, "http", "https"):
        raise RegistryError("registry scheme must be http, https or empty, got %r" % scheme)
    return "%s://%s" % (scheme or default_scheme(registry), registry)


def api_path(parts):
    """Repository path in the API: Docker Hub's official images live under ``library/``."""
    if parts["registry"] is None and "/" not in parts["path"]:
        return "library/" + parts["path"]
    return parts["path"]


def parse_overrides(value):
    """Component -> reference from a dict, a JSON/YAML-ish mapping string, or ``name=ref`` pairs.

    AWX surveys answer with strings, so ``"frontend=reg/app/frontend@sha256:..., backend=..."`` (commas
    or newlines) and a JSON object are accepted as well as a dict. Empty values are ignored.
    """
    if value in (None, "", {}):
        return {}
    if isinstance(value, dict):
        pairs = value.items()
    elif isinstance(value, str):
        text = value.strip()
        if text.startswith("{"):
            try:
                loaded = json.loads(text)
            except ValueError as exc:
                raise ImageRefError("platform images: not a JSON object (%s)" % exc)
            if not isinstance(loaded, dict):
                raise ImageRefError("platform images: expected a JSON object of component -> reference")
            pairs = loaded.items()
        else:
            pairs = []
            for item in re.split(r"[,\n]", text):
                item = item.strip()
                if not item:
                    continue
                name, sep, ref = item.partition("=")
                if not sep:
                    name, sep, ref = item.partition(":")
                if not sep or not _NAME_RE.match(name.strip()):
                    raise ImageRefError("platform images: %r is not 'component=reference'" % item)
                pairs.append((name.strip(), ref.strip()))
    else:
        raise ImageRefError("platform images must be a dict of component -> reference, got %s" % type(value).__name__)
    result = {}
    for name, ref in pairs:
        if ref in (None, ""):
            continue
        result[str(name).strip()] = str(ref).strip()
    return result


def plan_resolution(images, overrides=None, only=None):
    """Decide the reference of each component: an override wins over the default; ``only`` restricts.

    Returns ``{name: {"given": ref, "source": "override"|"default", **parse_image_ref(ref)}}`` in the
    order of ``images``. Raises ImageRefError naming the component when a reference is malformed, an
    override or a restriction names no known component.
    """
    images = dict(images or {})
    overrides = parse_overrides(overrides)
    only = [str(name).strip() for name in (only or []) if str(name).strip()]
    unknown = sorted(set(overrides) - set(images))
    if unknown:
        raise ImageRefError(
            "platform images names unknown components: %s (known: %s)"
            % (", ".join(unknown), ", ".join(sorted(images)) or "none")
        )
    unknown = sorted(set(only) - set(images))
    if unknown:
        raise ImageRefError(
            "the selected components have no image: %s (known: %s)"
            % (", ".join(unknown), ", ".join(sorted(images)) or "none")
        )
    plan = {}
    for name, default in images.items():
        if only and name not in only:
            continue
        given = overrides.get(name, default)
        try:
            parts = parse_image_ref(given)
        except ImageRefError as exc:
            raise ImageRefError("image of component %s: %s" % (name, exc))
        if not parts["tag"] and not parts["digest"]:
            raise ImageRefError(
                "image of component %s: %r has neither a tag nor a digest; name the tag or "
                "the digest to deploy" % (name, given)
            )
        entry = dict(parts)
        entry.update({"given": given, "source": "override" if name in overrides else "default"})
        plan[name] = entry
    return plan


def parse_challenge(header):
    """``WWW-Authenticate`` -> (scheme lower-case, {param: value}); ("", {}) when absent."""
    if not header:
        return "", {}
    scheme, dummy, rest = header.strip().partition(" ")
    return scheme.lower(), dict(_CHALLENGE_PARAM_RE.findall(rest))


def token_url(params, paths):
    """URL of the token service for a pull of ``paths`` (the Bearer challenge's realm and service)."""
    realm = params.get("realm")
    if not realm:
        raise RegistryError("the registry's Bearer challenge names no realm")
    query = []
    if params.get("service"):
        query.append(("service", params["service"]))
    query.extend(("scope", "repository:%s:pull" % path) for path in sorted(set(paths)))
    return realm + ("&" if "?" in realm else "?") + urlencode(query)


def basic_header(username, password):
    raw = ("%s:%s" % (username, password)).encode("utf-8")
    return "Basic " + base64.b64encode(raw).decode("ascii")


def digest_from(headers, body):
    """The manifest digest: the Docker-Content-Digest header, else sha256 of the body."""
    digest = headers.get("docker-content-digest") or ""
    if digest:
        return digest.strip()
    if body:
        return "sha256:" + hashlib.sha256(body).hexdigest()
    return ""


def pick_manifest(index, os_name="linux", architecture="amd64"):
    """The descriptor of an index (multi-platform image) the cluster's nodes run: linux/amd64, else the first."""
    manifests = index.get("manifests") or []
    for entry in manifests:
        platform = entry.get("platform") or {}
        if platform.get("os") == os_name and platform.get("architecture") == architecture:
            return entry
    for entry in manifests:  # attestation manifests carry platform unknown/unknown
        if (entry.get("platform") or {}).get("os") not in (None, "unknown"):
            return entry
    if manifests:
        return manifests[0]
    raise RegistryError("the image index lists no manifest")


def manifest_size(manifest):
    """Compressed size of an image manifest: its config plus its layers, in bytes."""
    config = (manifest.get("config") or {}).get("size") or 0
    return int(config) + sum(int(layer.get("size") or 0) for layer in manifest.get("layers") or [])


def revision_conflict(name, reference, revision, expected):
    """Message refusing to overwrite a release tag built from another commit; None when it may be reused."""
    if not expected or revision == expected:
        return None
    built = ("commit %s" % revision) if revision else ("an unknown commit (no %s label)" % REVISION_LABEL)
    return (
        "component %s: the registry already has %s, built from %s; this build is commit %s. "
        "A release tag is not overwritten with other content: use a new version, or force the "
        "overwrite (image_force=true) if that tag was never deployed." % (name, reference, built, expected)
    )


class RegistryClient:
    """Reads manifests and image configs from registries, authenticating once per registry.

    ``request(method, url, headers) -> (status, headers with lower-case names, body bytes)`` performs
    the HTTP call and returns error statuses as answers (it raises only on network errors).
    Credentials are sent only to ``credentials_registry`` (every registry when it is empty).
    ``auth_hint`` ends the message of a registry that refuses the credentials (or their absence).
    """

    def __init__(
        self,
        request,
        scheme="",
        username="",
        password="",
        credentials_registry="",
        auth_hint="set registry_username and registry_password, or check them",
    ):
        self._request = request
        self._auth_hint = auth_hint
        self._scheme = scheme or ""
        self._username = username or ""
        self._password = password or ""
        self._credentials_registry = credentials_registry or ""
        self._auth = {}

    def _has_credentials(self, registry):
        if not (self._username and self._password):
            return False
        return not self._credentials_registry or self._credentials_registry == (registry or DOCKER_HUB)

    def _call(self, method, url, headers=None):
        try:
            return self._request(method, url, dict(headers or {}))
        except RegistryError:
            raise
        except Exception as exc:  # network errors: name the URL, never the credentials
            raise RegistryError("%s %s failed: %s" % (method, url, exc))

    def authenticate_plan(self, plan):
        """Authenticate once per registry of the plan, for a pull of every repository it names there."""
        paths = {}
        for entry in plan.values():
            paths.setdefault(entry["registry"], []).append(api_path(entry))
        for registry, names in paths.items():
            self.authenticate(registry, names)

    def authenticate(self, registry, paths):
        """Probe ``/v2/`` and keep the headers the later calls need (none, Basic, or a pull token)."""
        key = registry or DOCKER_HUB
        if key in self._auth:
            return self._auth[key]
        base = api_base(registry, self._scheme)
        creds = self._has_credentials(registry)
        basic = {"Authorization": basic_header(self._username, self._password)} if creds else {}
        status, headers, dummy = self._call("GET", base + "/v2/", basic)
        if status == 200:
            self._auth[key] = basic
            return basic
        scheme, params = parse_challenge(headers.get("www-authenticate"))
        if status == 401 and scheme == "bearer":
            status, dummy, body = self._call("GET", token_url(params, paths), basic)
            if status != 200:
                raise RegistryError(
                    "the token service of %s refused a pull token (HTTP %s)%s: %s"
                    % (key, status, "" if creds else " without credentials", self._auth_hint)
                )
            try:
                answer = json.loads(body.decode("utf-8"))
            except ValueError:
                raise RegistryError("the token service of %s answered no JSON" % key)
            token = answer.get("token") or answer.get("access_token")
            if not token:
                raise RegistryError("the token service of %s answered no token" % key)
            self._auth[key] = {"Authorization": "Bearer " + token}
            return self._auth[key]
        if status == 401:
            raise RegistryError(
                "%s/v2/ answered 401 (%s)%s: %s"
                % (base, scheme or "no challenge", "" if creds else " without credentials", self._auth_hint)
            )
        raise RegistryError("%s/v2/ answered HTTP %s; is %s a registry?" % (base, status, key))

    def manifest(self, parts, fetch_body=False):
        """HEAD (or GET) the manifest of a tag or digest; None when the registry has no such manifest."""
        path = api_path(parts)
        headers = dict(self.authenticate(parts["registry"], [path]))
        headers["Accept"] = MANIFEST_ACCEPT
        url = "%s/v2/%s/manifests/%s" % (
            api_base(parts["registry"], self._scheme),
            path,
            parts["digest"] or parts["tag"],
        )
        method = "GET" if fetch_body else "HEAD"
        status, answer, body = self._call(method, url, headers)
        if status == 404:
            return None
        if status == 401 or status == 403:
            raise RegistryError(
                "%s %s answered %s: the credentials may not pull %s" % (method, url, status, parts["repository"])
            )
        if status != 200:
            raise RegistryError("%s %s answered HTTP %s" % (method, url, status))
        digest = digest_from(answer, body)
        if not digest and not fetch_body:
            return self.manifest(parts, fetch_body=True)
        media_type = (answer.get("content-type") or "").split(";")[0].strip()
        result = {"digest": digest, "media_type": media_type}
        if fetch_body:
            try:
                result["manifest"] = json.loads(body.decode("utf-8"))
            except ValueError:
                raise RegistryError("%s %s answered no JSON manifest" % (method, url))
            result["media_type"] = result["manifest"].get("mediaType") or media_type
        return result

    def blob(self, parts, digest):
        path = api_path(parts)
        headers = self.authenticate(parts["registry"], [path])
        url = "%s/v2/%s/blobs/%s" % (api_base(parts["registry"], self._scheme), path, digest)
        status, dummy, body = self._call("GET", url, headers)
        if status != 200:
            raise RegistryError("GET %s answered HTTP %s" % (url, status))
        try:
            return json.loads(body.decode("utf-8"))
        except ValueError:
            raise RegistryError("GET %s answered no JSON image config" % url)

    def details(self, parts):
        """Manifest digest, media type, compressed size and revision label of a tag or digest; None if absent."""
        found = self.manifest(parts, fetch_body=True)
        if found is None:
            return None
        manifest = found["manifest"]
        if found["media_type"] in INDEX_TYPES or "manifests" in manifest:
            entry = pick_manifest(manifest)
            child = self.manifest(dict(parts, tag=None, digest=entry["digest"]), fetch_body=True)
            if child is None:
                raise RegistryError(
                    "%s: the index names %s, which the registry does not have" % (parts["repository"], entry["digest"])
                )
            manifest = child["manifest"]
        config = {}
        if (manifest.get("config") or {}).get("digest"):
            config = self.blob(parts, manifest["config"]["digest"])
        labels = (config.get("config") or {}).get("Labels") or {}
        return {
            "digest": found["digest"],
            "media_type": found["media_type"],
            "size_bytes": manifest_size(manifest),
            "revision": labels.get(REVISION_LABEL, ""),
        }


def resolve(client, plan, details=False, expect_revision=""):
    """Look every planned reference up; returns (images, missing names, conflict messages).

    A reference given by digest is kept as it is (the registry is asked only for ``details``). Each
    image gets ``reference`` = ``<repository>@<digest>`` when found, else "".
    """
    images, missing, conflicts = {}, [], []
    client.authenticate_plan(
        {name: entry for name, entry in plan.items() if details or expect_revision or not entry["digest"]}
    )
    for name, entry in plan.items():
        parts = {key: entry[key] for key in ("registry", "repository", "path", "tag", "digest")}
        info = {
            "given": entry["given"],
            "source": entry["source"],
            "repository": entry["repository"],
            "tag": entry["tag"] or "",
            "digest": entry["digest"] or "",
            "found": True,
            "looked_up": False,
            "media_type": "",
            "size_bytes": 0,
            "revision": "",
        }
        if details or expect_revision or not entry["digest"]:
            info["looked_up"] = True
            found = client.details(parts) if (details or expect_revision) else client.manifest(parts)
            if found is None:
                info["found"] = False
            else:
                if entry["digest"] and found["digest"] != entry["digest"]:
                    raise RegistryError("%s: the registry answered digest %s" % (entry["given"], found["digest"]))
                info["digest"] = found["digest"]
                for key in ("media_type", "size_bytes", "revision"):
                    if key in found:
                        info[key] = found[key]
        if info["found"]:
            info["reference"] = build_image_ref(entry["repository"], digest=info["digest"])
            message = revision_conflict(name, entry["given"], info["revision"], expect_revision)
            if message:
                conflicts.append(message)
        else:
            info["reference"] = ""
            missing.append(name)
        images[name] = info
    return images, missing, conflicts


def missing_message(plan, missing):
    """Refusal naming each component whose tag does not resolve and its reference."""
    listed = "; ".join("component %s: %s" % (name, plan[name]["given"]) for name in missing)
    return (
        "These image tags are not in the registry, so they cannot be deployed by digest: %s. "
        "Push them first (CI builds and pushes the images), or name an existing image in "
        "platform_images (component -> repo@sha256:... or repo:tag)." % listed
    )
