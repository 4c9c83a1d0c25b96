"""Pure logic of plugins/module_utils/image_registry.py: which references a deploy pins, the registry API
URLs and auth challenges, digests, manifest sizes and the release-tag overwrite guard. The client runs
against an in-memory fake transport that speaks the distribution API (the real registry is exercised
by tests/integration/image/test_image_resolve.py).
"""

from __future__ import annotations

import base64
import hashlib
import json

import pytest

from ansible_collections.intelligent_agent.platform.plugins.module_utils.image_ref import ImageRefError
from ansible_collections.intelligent_agent.platform.plugins.module_utils.image_registry import (
    DOCKER_MANIFEST,
    MANIFEST_ACCEPT,
    OCI_INDEX,
    RegistryClient,
    RegistryError,
    api_base,
    api_path,
    default_scheme,
    digest_from,
    manifest_size,
    missing_message,
    parse_challenge,
    parse_overrides,
    pick_manifest,
    plan_resolution,
    resolve,
    revision_conflict,
    token_url,
)

DIGEST = "sha256:" + "ab" * 32
REPO = "127.0.0.1:5000/ia"


@pytest.mark.parametrize(
    "registry, scheme, expected",
    [
        ("127.0.0.1:5000", "", "http://127.0.0.1:5000"),
        ("localhost:5000", "", "http://localhost:5000"),
        ("localhost", "", "http://localhost"),
        ("[::1]:5000", "", "http://[::1]:5000"),
        ("ghcr.io", "", "https://ghcr.io"),
        ("localhost.example.com", "", "https://localhost.example.com"),
        ("registry.internal:5000", "http", "http://registry.internal:5000"),
        ("127.0.0.1:5000", "https", "https://127.0.0.1:5000"),
        (None, "", "https://registry-1.docker.io"),
    ],
)
def test_api_base_uses_http_only_for_the_loopback_unless_told(registry, scheme, expected):
    assert api_base(registry, scheme) == expected


def test_api_base_rejects_other_schemes():
    with pytest.raises(RegistryError, match="scheme"):
        api_base("ghcr.io", "ftp")


def test_default_scheme_matches_the_image_role():
    assert default_scheme("127.0.0.1:5000") == "http" and default_scheme("ghcr.io") == "https"


@pytest.mark.parametrize(
    "ref_parts, expected",
    [
        ({"registry": None, "path": "nginx"}, "library/nginx"),
        ({"registry": None, "path": "org/app"}, "org/app"),
        ({"registry": "ghcr.io", "path": "app"}, "app"),
    ],
)
def test_api_path_of_docker_hub_official_images(ref_parts, expected):
    assert api_path(ref_parts) == expected


@pytest.mark.parametrize(
    "value, expected",
    [
        (None, {}),
        ("", {}),
        ({}, {}),
        ({"backend": f"{REPO}/backend@{DIGEST}", "frontend": ""}, {"backend": f"{REPO}/backend@{DIGEST}"}),
        (
            f"backend={REPO}/backend:1.0, frontend={REPO}/frontend@{DIGEST}",
            {"backend": f"{REPO}/backend:1.0", "frontend": f"{REPO}/frontend@{DIGEST}"},
        ),
        (
            f"backend: {REPO}/backend:1.0\nfrontend: {REPO}/frontend:2\n",
            {"backend": f"{REPO}/backend:1.0", "frontend": f"{REPO}/frontend:2"},
        ),
        (json.dumps({"backend": f"{REPO}/backend:1.0"}), {"backend": f"{REPO}/backend:1.0"}),
    ],
)
def test_parse_overrides_accepts_dicts_and_survey_strings(value, expected):
    assert parse_overrides(value) == expected


@pytest.mark.parametrize("value", [f"{REPO}/backend:1.0", "{not json", "[1]", 42, ["backend"]])
def test_parse_overrides_rejects_what_names_no_component(value):
    with pytest.raises(ImageRefError, match="platform images"):
        parse_overrides(value)


DEFAULTS = {"frontend": f"{REPO}/frontend:1.0.0", "backend": f"{REPO}/backend:1.0.0"}


def test_plan_takes_defaults_and_lets_overrides_win():
    plan = plan_resolution(DEFAULTS, {"backend": f"{REPO}/backend@{DIGEST}"})
    assert list(plan) == ["frontend", "backend"]
    assert plan["frontend"]["tag"] == "1.0.0" and plan["frontend"]["source"] == "default"
    assert plan["backend"]["digest"] == DIGEST and plan["backend"]["source"] == "override"
    assert plan["backend"]["given"] == f"{REPO}/backend@{DIGEST}"


def test_plan_restricts_to_the_selected_components():
    assert list(plan_resolution(DEFAULTS, {}, ["backend"])) == ["backend"]


@pytest.mark.parametrize(
    "overrides, only, words",
    [
        ({"db": "postgres:16"}, [], ["unknown components", "db"]),
        ({}, ["db"], ["no image", "db"]),
        ({"backend": "Bad/Name:1"}, [], ["component backend", "Bad/Name"]),
        ({"backend": f"{REPO}/backend"}, [], ["component backend", "neither a tag nor a digest"]),
    ],
)
def test_plan_refuses_naming_the_component(overrides, only, words):
    with pytest.raises(ImageRefError) as err:
        plan_resolution(DEFAULTS, overrides, only)
    for word in words:
        assert word in str(err.value)


@pytest.mark.parametrize(
    "header, expected",
    [
        (
            'Bearer realm="https://ghcr.io/token",service="ghcr.io",scope="repository:a/b:pull"',
            ("bearer", {"realm": "https://ghcr.io/token", "service": "ghcr.io", "scope": "repository:a/b:pull"}),
        ),
        ('Basic realm="Registry Realm"', ("basic", {"realm": "Registry Realm"})),
        ("", ("", {})),
        (None, ("", {})),
    ],
)
def test_parse_challenge(header, expected):
    assert parse_challenge(header) == expected


def test_token_url_asks_a_pull_scope_per_repository():
    url = token_url({"realm": "https://auth.example/token", "service": "reg"}, ["b/x", "a/y", "b/x"])
    assert url == (
        "https://auth.example/token?service=reg&scope=repository%3Aa%2Fy%3Apull&scope=repository%3Ab%2Fx%3Apull"
    )
    assert token_url({"realm": "https://a/t?x=1"}, ["p"]).startswith("https://a/t?x=1&scope=")
    with pytest.raises(RegistryError, match="realm"):
        token_url({}, ["p"])


def test_digest_from_prefers_the_header_else_hashes_the_body():
    assert digest_from({"docker-content-digest": DIGEST}, b"x") == DIGEST
    assert digest_from({}, b"body") == "sha256:" + hashlib.sha256(b"body").hexdigest()
    assert digest_from({}, b"") == ""


def test_pick_manifest_prefers_linux_amd64_and_skips_attestations():
    index = {
        "manifests": [
            {"digest": "sha256:att", "platform": {"os": "unknown", "architecture": "unknown"}},
            {"digest": "sha256:arm", "platform": {"os": "linux", "architecture": "arm64"}},
            {"digest": "sha256:amd", "platform": {"os": "linux", "architecture": "amd64"}},
        ]
    }
    assert pick_manifest(index)["digest"] == "sha256:amd"
    assert pick_manifest({"manifests": index["manifests"][:2]})["digest"] == "sha256:arm"
    with pytest.raises(RegistryError):
        pick_manifest({"manifests": []})


def test_manifest_size_sums_config_and_layers():
    assert manifest_size({"config": {"size": 10}, "layers": [{"size": 100}, {"size": 1000}]}) == 1110
    assert manifest_size({}) == 0


@pytest.mark.parametrize(
    "revision, expected, conflict",
    [
        ("abc", "abc", False),
        ("abc", "", False),
        ("abc", "def", True),
        ("", "def", True),
    ],
)
def test_revision_conflict(revision, expected, conflict):
    message = revision_conflict("backend", f"{REPO}/backend:1.0.0", revision, expected)
    assert (message is not None) == conflict
    if conflict:
        assert "component backend" in message and f"{REPO}/backend:1.0.0" in message
        assert expected in message and "image_force" in message
        assert (revision in message) if revision else ("unknown commit" in message)


def test_missing_message_names_component_and_reference():
    plan = plan_resolution(DEFAULTS)
    message = missing_message(plan, ["backend"])
    assert f"component backend: {REPO}/backend:1.0.0" in message
    assert "frontend" not in message


class FakeRegistry:
    """The distribution API over a dict of manifests and blobs, with optional Basic or Bearer auth."""

    def __init__(self, auth=None, user="u", password="p", token="tok", send_digest_on_head=True):
        self.auth, self.user, self.password, self.token = auth, user, password, token
        self.send_digest_on_head = send_digest_on_head
        self.manifests, self.blobs, self.calls = {}, {}, []

    def push(self, path, tag, revision, layers=(100,), media_type=DOCKER_MANIFEST):
        config = json.dumps({"config": {"Labels": {"org.opencontainers.image.revision": revision}}}).encode()
        config_digest = "sha256:" + hashlib.sha256(config).hexdigest()
        self.blobs[(path, config_digest)] = config
        body = json.dumps(
            {
                "mediaType": media_type,
                "config": {"digest": config_digest, "size": len(config)},
                "layers": [{"size": size} for size in layers],
            }
        ).encode()
        digest = "sha256:" + hashlib.sha256(body).hexdigest()
        self.manifests[(path, tag)] = self.manifests[(path, digest)] = (body, media_type)
        return digest

    def push_index(self, path, tag, child_digest):
        body = json.dumps(
            {
                "mediaType": OCI_INDEX,
                "manifests": [{"digest": child_digest, "platform": {"os": "linux", "architecture": "amd64"}}],
            }
        ).encode()
        digest = "sha256:" + hashlib.sha256(body).hexdigest()
        self.manifests[(path, tag)] = self.manifests[(path, digest)] = (body, OCI_INDEX)
        return digest

    def _authorized(self, headers):
        given = headers.get("Authorization", "")
        if self.auth is None:
            return True
        if self.auth == "basic":
            return given == "Basic " + base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
        return given == f"Bearer {self.token}"

    def __call__(self, method, url, headers):
        self.calls.append((method, url, dict(headers)))
        base, _slash, rest = url.partition("://")[2].partition("/")
        if rest.startswith("token"):
            basic = "Basic " + base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
            if headers.get("Authorization") != basic:
                return 401, {}, b"{}"
            return 200, {}, json.dumps({"token": self.token}).encode()
        if not self._authorized(headers):
            challenge = (
                'Bearer realm="http://%s/token",service="fake"' % base
                if self.auth == "bearer"
                else 'Basic realm="fake"'
            )
            return 401, {"www-authenticate": challenge}, b"{}"
        if rest == "v2/":
            return 200, {}, b"{}"
        path, kind, ref = (
            rest[len("v2/") :].rpartition("/")[0].rpartition("/")[0],
            rest.rsplit("/", 2)[1],
            rest.rsplit("/", 1)[1],
        )
        if kind == "manifests":
            assert headers.get("Accept") == MANIFEST_ACCEPT
            if (path, ref) not in self.manifests:
                return 404, {}, b'{"errors":[{"code":"MANIFEST_UNKNOWN"}]}'
            body, media_type = self.manifests[(path, ref)]
            answer = {"content-type": media_type}
            if method == "GET" or self.send_digest_on_head:
                answer["docker-content-digest"] = "sha256:" + hashlib.sha256(body).hexdigest()
            return 200, answer, (body if method == "GET" else b"")
        if kind == "blobs" and (path, ref) in self.blobs:
            return 200, {}, self.blobs[(path, ref)]
        return 404, {}, b"{}"


def _client(fake, **kwargs):
    return RegistryClient(fake, **kwargs)


def test_resolve_pins_tags_and_keeps_digests_without_asking():
    fake = FakeRegistry()
    digest = fake.push("ia/frontend", "1.0.0", "c1")
    plan = plan_resolution(DEFAULTS, {"backend": f"{REPO}/backend@{DIGEST}"})
    images, missing, conflicts = resolve(_client(fake), plan)
    assert missing == [] and conflicts == []
    assert images["frontend"]["reference"] == f"{REPO}/frontend@{digest}"
    assert images["frontend"]["looked_up"] is True
    assert images["backend"] == {
        **images["backend"],
        "reference": f"{REPO}/backend@{DIGEST}",
        "looked_up": False,
        "found": True,
    }
    assert not any("backend" in url for _method, url, _headers in fake.calls)
    # Only HEAD requests: the digest comes from the header.
    assert {method for method, url, _headers in fake.calls if "/manifests/" in url} == {"HEAD"}


def test_resolve_reports_missing_tags():
    fake = FakeRegistry()
    fake.push("ia/frontend", "1.0.0", "c1")
    images, missing, dummy = resolve(_client(fake), plan_resolution(DEFAULTS))
    assert missing == ["backend"]
    assert images["backend"]["found"] is False and images["backend"]["reference"] == ""


def test_resolve_hashes_the_manifest_when_head_has_no_digest_header():
    fake = FakeRegistry(send_digest_on_head=False)
    digest = fake.push("ia/frontend", "1.0.0", "c1")
    images, dummy, dummy = resolve(_client(fake), plan_resolution(DEFAULTS, {}, ["frontend"]))
    assert images["frontend"]["digest"] == digest


def test_details_read_size_and_revision_through_an_index():
    fake = FakeRegistry()
    child = fake.push("ia/backend", "child", "c9", layers=(100, 200))
    index = fake.push_index("ia/backend", "1.0.0", child)
    images, dummy, dummy = resolve(_client(fake), plan_resolution(DEFAULTS, {}, ["backend"]), details=True)
    info = images["backend"]
    assert info["digest"] == index and info["media_type"] == OCI_INDEX
    assert info["revision"] == "c9" and info["size_bytes"] > 300


def test_expect_revision_flags_a_tag_built_from_another_commit():
    fake = FakeRegistry()
    fake.push("ia/frontend", "1.0.0", "old")
    fake.push("ia/backend", "1.0.0", "new")
    dummy, dummy, conflicts = resolve(_client(fake), plan_resolution(DEFAULTS), expect_revision="new")
    assert len(conflicts) == 1
    assert "component frontend" in conflicts[0] and "commit old" in conflicts[0] and "commit new" in conflicts[0]


def test_basic_auth_is_sent_only_to_the_credentials_registry():
    fake = FakeRegistry(auth="basic")
    fake.push("ia/frontend", "1.0.0", "c1")
    client = _client(fake, username="u", password="p", credentials_registry="127.0.0.1:5000")
    images, dummy, dummy = resolve(client, plan_resolution(DEFAULTS, {}, ["frontend"]))
    assert images["frontend"]["found"]
    other = _client(FakeRegistry(auth="basic"), username="u", password="p", credentials_registry="ghcr.io")
    with pytest.raises(RegistryError, match="set registry_username"):
        resolve(other, plan_resolution(DEFAULTS, {}, ["frontend"]))


def test_bearer_token_flow_asks_once_per_registry_with_pull_scope():
    fake = FakeRegistry(auth="bearer")
    fake.push("ia/frontend", "1.0.0", "c1")
    fake.push("ia/backend", "1.0.0", "c1")
    client = _client(fake, username="u", password="p")
    images, missing, dummy = resolve(client, plan_resolution(DEFAULTS))
    assert missing == [] and all(info["found"] for info in images.values())
    token_calls = [url for _method, url, _headers in fake.calls if "/token" in url]
    # One token for the whole plan, scoped to every repository (else the second lookup is refused).
    assert len(token_calls) == 1
    assert "scope=repository%3Aia%2Ffrontend%3Apull" in token_calls[0]
    assert "scope=repository%3Aia%2Fbackend%3Apull" in token_calls[0]


def test_bearer_without_credentials_is_refused_with_advice():
    fake = FakeRegistry(auth="bearer")
    with pytest.raises(RegistryError, match="set registry_username"):
        resolve(_client(fake), plan_resolution(DEFAULTS))


def test_network_errors_name_the_url():
    def broken(method, url, headers):
        raise OSError("connection refused")

    with pytest.raises(RegistryError, match=r"GET http://127\.0\.0\.1:5000/v2/ failed: connection refused"):
        resolve(RegistryClient(broken), plan_resolution(DEFAULTS))
