import pytest

from ansible_collections.intelligent_agent.platform.plugins.module_utils.image_ref import (
    ImageRefError,
    build_image_ref,
    parse_image_ref,
)

DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize(
    "ref, expected",
    [
        ("nginx", {"registry": None, "repository": "nginx", "path": "nginx", "tag": None, "digest": None}),
        ("nginx:1.27", {"registry": None, "repository": "nginx", "path": "nginx", "tag": "1.27", "digest": None}),
        (
            "library/nginx:1.27-alpine",
            {
                "registry": None,
                "repository": "library/nginx",
                "path": "library/nginx",
                "tag": "1.27-alpine",
                "digest": None,
            },
        ),
        (
            "127.0.0.1:5000/x/y:tag",
            {
                "registry": "127.0.0.1:5000",
                "repository": "127.0.0.1:5000/x/y",
                "path": "x/y",
                "tag": "tag",
                "digest": None,
            },
        ),
        (
            "127.0.0.1:5000/x/y",
            {
                "registry": "127.0.0.1:5000",
                "repository": "127.0.0.1:5000/x/y",
                "path": "x/y",
                "tag": None,
                "digest": None,
            },
        ),
        (
            "localhost/app:v1",
            {"registry": "localhost", "repository": "localhost/app", "path": "app", "tag": "v1", "digest": None},
        ),
        (
            "ghcr.io/org/app@" + DIGEST,
            {"registry": "ghcr.io", "repository": "ghcr.io/org/app", "path": "org/app", "tag": None, "digest": DIGEST},
        ),
        (
            "reg.example:443/a/b:1.0@" + DIGEST,
            {
                "registry": "reg.example:443",
                "repository": "reg.example:443/a/b",
                "path": "a/b",
                "tag": "1.0",
                "digest": DIGEST,
            },
        ),
        (
            "[::1]:5000/app:1",
            {"registry": "[::1]:5000", "repository": "[::1]:5000/app", "path": "app", "tag": "1", "digest": None},
        ),
    ],
)
def test_parse_image_ref(ref, expected):
    assert parse_image_ref(ref) == expected


@pytest.mark.parametrize(
    "ref", ["", "   ", None, "UPPER/case", "app:", "app:-bad", "app@sha256:short", "a//b", "127.0.0.1:5000/", 42]
)
def test_parse_image_ref_rejects(ref):
    with pytest.raises(ImageRefError):
        parse_image_ref(ref)


@pytest.mark.parametrize(
    "repo, tag, digest, expected",
    [
        ("127.0.0.1:5000/ia/backend", "1.4.0", None, "127.0.0.1:5000/ia/backend:1.4.0"),
        ("127.0.0.1:5000/ia/backend", None, DIGEST, "127.0.0.1:5000/ia/backend@" + DIGEST),
        ("127.0.0.1:5000/ia/backend", "1.4.0", DIGEST, "127.0.0.1:5000/ia/backend:1.4.0@" + DIGEST),
        ("nginx", "", "", "nginx"),
        ("nginx", None, "ab" * 32, "nginx@" + DIGEST),
        ("nginx", 2, None, "nginx:2"),
    ],
)
def test_build_image_ref(repo, tag, digest, expected):
    assert build_image_ref(repo, tag, digest) == expected


@pytest.mark.parametrize(
    "repo, tag, digest, word",
    [
        ("nginx:1.0", "2.0", None, "already"),
        ("nginx@" + DIGEST, None, None, "already"),
        ("nginx", "bad tag", None, "tag"),
        ("nginx", None, "md5:xyz", "digest"),
        ("", "1", None, "repository"),
    ],
)
def test_build_image_ref_rejects_and_names_the_part(repo, tag, digest, word):
    with pytest.raises(ImageRefError, match=word):
        build_image_ref(repo, tag, digest)


@pytest.mark.parametrize("ref", ["127.0.0.1:5000/x/y:tag", "ghcr.io/org/app:1@" + DIGEST, "nginx"])
def test_round_trip(ref):
    parts = parse_image_ref(ref)
    assert build_image_ref(parts["repository"], parts["tag"], parts["digest"]) == ref
