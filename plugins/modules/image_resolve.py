#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Intelligent Agent platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: image_resolve
short_description: Pin container image tags to registry digests before a deploy
version_added: 0.2.0
author: Intelligent Agent platform team (@intelligent-agent)
description:
  - Resolves the image reference of each component to the manifest digest the registry serves for it, with the
    registry API (C(HEAD /v2/<repository>/manifests/<tag>), asking for OCI index and manifest and Docker manifest
    list and manifest, reading C(Docker-Content-Digest)). The result, C(<repository>@sha256:...), is what a
    Deployment should name so that a moved tag never changes what runs.
  - A component's reference comes from O(overrides) when it names the component, else from O(images). A reference
    that already carries a digest is kept as it is and not looked up (unless O(details) or O(expect_revision)).
  - Fails naming every component whose tag the registry does not have (unless O(missing=ignore)), before anything
    else happens, so a deploy that uses it refuses before its first write.
  - Authenticates like C(docker pull) does, anonymously, with HTTP Basic and the given credentials, or with a pull
    token from the registry's token service when C(/v2/) answers with a Bearer challenge (GHCR, Docker Hub).
  - With O(expect_revision) it also guards release tags. A found image whose C(org.opencontainers.image.revision)
    label names another commit is refused unless O(force).
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: The module only reads from registries, so it does the same in check mode.
  diff_mode:
    support: none
  idempotent:
    description: Whether the module changes nothing when run again with the same inputs.
    support: full
    details: It only reads; it returns the same result while the registry serves the same digests.
  platform:
    platforms: posix
options:
  images:
    description:
      - Component name -> default image reference, C([registry/]path:tag) or C([registry/]path[:tag]@sha256:...).
      - A reference without a registry is a Docker Hub image.
    type: dict
    required: true
  overrides:
    description:
      - Component name -> reference that replaces the default of O(images), e.g. digests CI pushed.
      - A dict, a JSON object, or C(component=reference) pairs separated by commas or newlines (as an AWX survey
        answers). Naming a component that O(images) does not have is an error.
    type: raw
    default: {}
  components:
    description: Resolve only these components (the others are left out of the result); empty = all.
    type: list
    elements: str
    default: []
  missing:
    description: What a tag the registry does not have does, C(fail) the task or be reported (C(ignore)) in RV(missing).
    type: str
    choices: [fail, ignore]
    default: fail
  details:
    description: Also read each manifest and its image config for RV(images) C(media_type), C(size_bytes) and
      C(revision).
    type: bool
    default: false
  expect_revision:
    description:
      - The commit about to be pushed under these tags. A found image whose C(org.opencontainers.image.revision)
        label differs (or is absent) is a conflict; conflicts fail the task unless O(force).
      - Empty = no check.
    type: str
    default: ""
  force:
    description: Report conflicts of O(expect_revision) in RV(conflicts) instead of failing.
    type: bool
    default: false
  registry_username:
    description: Registry user; sent only to O(credentials_registry).
    type: str
    default: ""
  registry_password:
    description: Registry password or token; never logged.
    type: str
    default: ""
  credentials_registry:
    description: Registry host (and port) the credentials belong to; empty = every registry.
    type: str
    default: ""
  auth_hint:
    description: What the message of a registry that refuses the credentials (or wants some) tells the user to do.
    type: str
    default: set registry_username and registry_password, or check them
  registry_scheme:
    description: Scheme of the registry API; empty = C(http) for 127.0.0.1, localhost and [::1], else C(https).
    type: str
    choices: ["", http, https]
    default: ""
  validate_certs:
    description: Verify the registry's TLS certificate.
    type: bool
    default: true
  timeout:
    description: Seconds one registry request may take.
    type: int
    default: 30
notes:
  - Digests are those of the manifest the tag names; for a multi-platform image that is the index, which the kubelet
    resolves to its platform itself.
seealso:
  - name: OCI distribution spec, pulling manifests
    description: The API the module uses.
    link: https://github.com/opencontainers/distribution-spec/blob/main/spec.md#pulling-manifests
"""

EXAMPLES = r"""
- name: Pin the release's images to digests before the first write
  intelligent_agent.platform.image_resolve:
    images:
      frontend: ghcr.io/intelligent-agent/frontend:1.4.2
      backend: ghcr.io/intelligent-agent/backend:1.4.2
    overrides: "{{ platform_images | default({}) }}"
    registry_username: "{{ image_registry_username }}"
    registry_password: "{{ image_registry_password }}"
    credentials_registry: ghcr.io
  register: pinned

- name: Deploy what was pinned
  ansible.builtin.debug:
    msg: "{{ pinned.refs }}"

- name: Look release tags up without failing on absent ones, refusing to overwrite another commit's tag
  intelligent_agent.platform.image_resolve:
    images:
      "backend:1.4.2": 127.0.0.1:5000/intelligent-agent/backend:1.4.2
    missing: ignore
    expect_revision: 3f2c1a9b8e7d
"""

RETURN = r"""
refs:
  description: Component -> C(<repository>@<digest>) of every image found; what the app role should render.
  returned: always
  type: dict
  sample: {backend: "ghcr.io/intelligent-agent/backend@sha256:4b1c...e2"}
images:
  description: Component -> what was found.
  returned: always
  type: dict
  contains:
    given:
      description: The reference asked for.
      type: str
    source:
      description: C(override) (from O(overrides)) or C(default) (from O(images)).
      type: str
    repository:
      description: Repository with its registry.
      type: str
    tag:
      description: Tag of the reference; empty when it had none.
      type: str
    digest:
      description: Manifest digest; empty when not found.
      type: str
    reference:
      description: C(<repository>@<digest>); empty when not found.
      type: str
    found:
      description: Whether the registry has the reference (a digest reference not looked up counts as found).
      type: bool
    looked_up:
      description: Whether the registry was asked.
      type: bool
    media_type:
      description: Manifest media type (with O(details) or O(expect_revision)).
      type: str
    size_bytes:
      description: Compressed size, config plus layers, of the manifest (of linux/amd64 for an index).
      type: int
    revision:
      description: The image's C(org.opencontainers.image.revision) label (with O(details) or O(expect_revision)).
      type: str
  sample:
    backend:
      given: ghcr.io/intelligent-agent/backend:1.4.2
      source: default
      repository: ghcr.io/intelligent-agent/backend
      tag: 1.4.2
      digest: "sha256:4b1c...e2"
      reference: "ghcr.io/intelligent-agent/backend@sha256:4b1c...e2"
      found: true
      looked_up: true
      media_type: ""
      size_bytes: 0
      revision: ""
missing:
  description: Components whose reference the registry does not have (only with O(missing=ignore); else the task fails).
  returned: always
  type: list
  elements: str
  sample: []
conflicts:
  description: Messages of the O(expect_revision) conflicts (only with O(force); else the task fails).
  returned: always
  type: list
  elements: str
  sample: []
"""

import traceback

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.six.moves.urllib.error import HTTPError
from ansible.module_utils.urls import open_url

from ansible_collections.intelligent_agent.platform.plugins.module_utils.image_ref import ImageRefError
from ansible_collections.intelligent_agent.platform.plugins.module_utils.image_registry import (
    RegistryClient,
    RegistryError,
    missing_message,
    plan_resolution,
    resolve,
)


def _transport(validate_certs, timeout):
    def request(method, url, headers):
        try:
            response = open_url(
                url,
                method=method,
                headers=headers,
                validate_certs=validate_certs,
                timeout=timeout,
                follow_redirects="safe" if method == "HEAD" else "all",
            )
            status, answer, body = response.getcode(), response.headers, response.read()
        except HTTPError as exc:
            status, answer = exc.code, exc.headers
            try:
                body = exc.read()
            except Exception:  # pylint: disable=broad-except
                body = b""  # an error body is optional
        headers_out = {key.lower(): value for key, value in (answer or {}).items()}
        return status, headers_out, body or b""

    return request


def module_spec():
    return dict(
        argument_spec=dict(
            images=dict(type="dict", required=True),
            overrides=dict(type="raw", default={}),
            components=dict(type="list", elements="str", default=[]),
            missing=dict(type="str", choices=["fail", "ignore"], default="fail"),
            details=dict(type="bool", default=False),
            expect_revision=dict(type="str", default=""),
            force=dict(type="bool", default=False),
            registry_username=dict(type="str", default=""),
            registry_password=dict(type="str", default="", no_log=True),
            credentials_registry=dict(type="str", default=""),
            auth_hint=dict(type="str", default="set registry_username and registry_password, or check them"),
            registry_scheme=dict(type="str", choices=["", "http", "https"], default=""),
            validate_certs=dict(type="bool", default=True),
            timeout=dict(type="int", default=30),
        ),
        supports_check_mode=True,
    )


def run(module):
    params = module.params
    try:
        plan = plan_resolution(params["images"], params["overrides"], params["components"])
        client = RegistryClient(
            _transport(params["validate_certs"], params["timeout"]),
            scheme=params["registry_scheme"],
            username=params["registry_username"],
            password=params["registry_password"],
            credentials_registry=params["credentials_registry"],
            auth_hint=params["auth_hint"],
        )
        images, missing, conflicts = resolve(
            client, plan, details=params["details"], expect_revision=params["expect_revision"]
        )
    except (ImageRefError, RegistryError) as exc:
        module.fail_json(msg=str(exc))
    except Exception as exc:  # pylint: disable=broad-except
        # Report with context, never a bare traceback.
        module.fail_json(msg="resolving the images failed: %s" % exc, exception=traceback.format_exc())

    result = dict(
        changed=False,
        refs={name: info["reference"] for name, info in images.items() if info["found"]},
        images=images,
        missing=missing,
        conflicts=conflicts,
    )
    if missing and params["missing"] == "fail":
        module.fail_json(msg=missing_message(plan, missing), **result)
    if conflicts and not params["force"]:
        module.fail_json(msg=" ".join(conflicts), **result)
    module.exit_json(**result)


def main():
    run(AnsibleModule(**module_spec()))


if __name__ == "__main__":
    main()
