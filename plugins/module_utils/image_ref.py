# -*- coding: utf-8 -*-
# Copyright: Intelligent Agent platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Container image references: build and parse ``[registry/]path[:tag][@digest]``.

Follows the grammar of github.com/distribution/reference (the one Docker and containerd use):
the first path component is a registry when it contains a ``.`` or a ``:`` or is ``localhost``.
Plain functions, no Ansible imports: used by the filters, the modules and the unit tests.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_PATH_RE = re.compile(r"^%s(?:/%s)*$" % (_COMPONENT, _COMPONENT))
_REGISTRY_RE = re.compile(r"^(?:\[[0-9a-fA-F:]+\]|[a-zA-Z0-9](?:[a-zA-Z0-9.-]*[a-zA-Z0-9])?)(?::[0-9]+)?$")
_TAG_RE = re.compile(r"^[\w][\w.-]{0,127}$")
_DIGEST_RE = re.compile(r"^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}$")
_BARE_SHA256_RE = re.compile(r"^[a-f0-9]{64}$")


class ImageRefError(ValueError):
    """An image reference or one of its parts is malformed; the message names the part."""


def normalize_digest(digest):
    """Return ``algorithm:hex``; a bare 64-hex string is taken as sha256."""
    digest = str(digest).strip()
    if _BARE_SHA256_RE.match(digest):
        digest = "sha256:" + digest
    if not _DIGEST_RE.match(digest):
        raise ImageRefError("invalid digest %r: expected 'sha256:<64 hex digits>'" % digest)
    return digest


def _split_registry(name):
    first, sep, rest = name.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost" or first.startswith("[")):
        return first, rest
    return None, name


def _check_repository(repository):
    registry, path = _split_registry(repository)
    if registry is not None and not _REGISTRY_RE.match(registry):
        raise ImageRefError("invalid registry %r in image repository %r" % (registry, repository))
    if not path or not _PATH_RE.match(path):
        raise ImageRefError(
            "invalid image repository %r: path components must be lowercase letters, digits and "
            "separators (. _ __ -), joined by '/'" % repository
        )
    return registry, path


def parse_image_ref(ref):
    """Split an image reference into its parts.

    Returns a dict: ``registry`` (``None`` when the reference names none), ``repository`` (the full
    name including the registry, as ``docker push`` wants it), ``path`` (the name without registry),
    ``tag`` and ``digest`` (``None`` when absent).
    """
    if not isinstance(ref, str) or not ref.strip():
        raise ImageRefError("image reference must be a non-empty string, got %r" % (ref,))
    ref = ref.strip()
    name, digest = ref, None
    if "@" in ref:
        name, digest = ref.split("@", 1)
        digest = normalize_digest(digest)
    tag = None
    last_slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > last_slash:
        name, tag = name[:colon], name[colon + 1 :]
        if not _TAG_RE.match(tag):
            raise ImageRefError("invalid tag %r in image reference %r" % (tag, ref))
    registry, path = _check_repository(name)
    return {"registry": registry, "repository": name, "path": path, "tag": tag, "digest": digest}


def build_image_ref(repository, tag=None, digest=None):
    """Join a repository with a tag and/or a digest: ``repo:tag``, ``repo@digest``, ``repo:tag@digest``."""
    if not isinstance(repository, str) or not repository.strip():
        raise ImageRefError("image repository must be a non-empty string, got %r" % (repository,))
    repository = repository.strip()
    last_slash = repository.rfind("/")
    if "@" in repository or repository.rfind(":") > last_slash:
        raise ImageRefError(
            "image repository %r already carries a tag or digest; pass the bare repository" % repository
        )
    _check_repository(repository)
    ref = repository
    if tag not in (None, ""):
        tag = str(tag)
        if not _TAG_RE.match(tag):
            raise ImageRefError("invalid tag %r: up to 128 of [A-Za-z0-9_.-], not starting with . or -" % tag)
        ref += ":" + tag
    if digest not in (None, ""):
        ref += "@" + normalize_digest(digest)
    return ref
