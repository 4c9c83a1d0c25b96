import hashlib

import pytest

from ansible_collections.intelligent_agent.platform.plugins.module_utils.content import (
    REDACTED,
    content_hash,
    is_secret_key,
    redact,
)


def test_content_hash_ignores_key_order_and_is_short_hex():
    first = content_hash({"b": 1, "a": [1, 2, {"y": 1, "x": 2}]})
    second = content_hash({"a": [1, 2, {"x": 2, "y": 1}], "b": 1})
    assert first == second
    assert len(first) == 10 and int(first, 16) >= 0


def test_content_hash_changes_with_content_and_order_of_lists():
    assert content_hash({"a": 1}) != content_hash({"a": 2})
    assert content_hash([1, 2]) != content_hash([2, 1])


def test_content_hash_of_string_is_sha256_of_its_bytes():
    text = "LOG_LEVEL=info\nmotd=héllo\n"
    assert content_hash(text, 64) == hashlib.sha256(text.encode("utf-8")).hexdigest()


@pytest.mark.parametrize("length", [0, 65, "x", None])
def test_content_hash_length_bounds(length):
    with pytest.raises(ValueError):
        content_hash({}, length)


@pytest.mark.parametrize(
    "key, secret",
    [
        ("password", True),
        ("DB_PASSWORD", True),
        ("apiKey", True),
        ("api_key", True),
        ("SECRET_KEY", True),
        ("Authorization", True),
        ("token", True),
        ("client_secret", True),
        ("database_dsn", True),
        ("secretName", False),
        ("secretKeyRef", False),
        ("imagePullSecrets", False),
        ("token_file", False),
        ("secrets_secret_name", False),
        ("username", False),
        ("image", False),
        ("replicas", False),
    ],
)
def test_is_secret_key(key, secret):
    assert is_secret_key(key) is secret


def test_redact_secret_keys_recursively_and_keeps_harmless_values():
    data = {
        "user": "app",
        "password": "hunter22",
        "nested": [{"api_key": "k-123456", "port": 5000}],
        "tokens_enabled": True,
        "token": None,
        "automountServiceAccountToken": False,
        "env": {"secretKeyRef": {"name": "db", "key": "password"}},
    }
    out = redact(data)
    assert out["password"] == REDACTED
    assert out["nested"][0] == {"api_key": REDACTED, "port": 5000}
    assert out["user"] == "app"
    assert out["token"] is None and out["automountServiceAccountToken"] is False
    assert out["env"] == {"secretKeyRef": {"name": "db", "key": "password"}}
    assert data["password"] == "hunter22", "input must not be modified"


def test_redact_given_values_inside_strings_and_given_keys():
    secrets = {"DB_PASS": "correct-horse", "PIN": "42"}
    data = {
        "msg": "login with correct-horse failed",
        "DB_PASS": "correct-horse",
        "list": ["correct-horse", 42],
        "answer": "42",
        "count": 420,
        "shortid": "a42b",
    }
    out = redact(data, secrets, secret_keys=False)
    assert out["msg"] == "login with %s failed" % REDACTED
    assert out["DB_PASS"] == REDACTED and out["list"] == [REDACTED, REDACTED]
    # short secrets are only redacted as whole values, never inside other values
    assert out["answer"] == REDACTED and out["count"] == 420 and out["shortid"] == "a42b"


def test_redact_list_of_names_is_keys_and_values():
    out = redact({"custom_field": "abc", "other": "x-mysecretvalue"}, ["custom_field", "mysecretvalue"])
    assert out == {"custom_field": REDACTED, "other": "x-%s" % REDACTED}


def test_redact_kubernetes_secret_data():
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "app"},
        "data": {"FOO": "YmFy"},
        "stringData": {"BAR": "baz"},
    }
    out = redact(secret)
    assert out["data"] == {"FOO": REDACTED} and out["stringData"] == {"BAR": REDACTED}
    assert out["metadata"] == {"name": "app"}
    assert redact(secret, secret_keys=False)["data"] == {"FOO": "YmFy"}


def test_redact_plain_string():
    assert redact("token is abcdef12", ["abcdef12"]) == "token is %s" % REDACTED
    assert redact("nothing here") == "nothing here"


# ---- redact_text: crash logs and error messages -------------------------------------------------------
from ansible_collections.intelligent_agent.platform.plugins.module_utils.content import (  # noqa: E402
    redact_strings,
    redact_text,
)


def test_an_environment_dump_keeps_names_and_loses_secret_values():
    lines = [
        "backend: env JWT_SECRET=eyJhbGciOi.xyz",
        "backend: env DATABASE_URL=postgresql://app:hunter2hunter2@db.internal:5432/ia",
        "backend: env OPENAI_API_KEY=sk-live-123456",
        "backend: env LOG_LEVEL=info",
        'config: {"stripe_secret_key": "sk_live_abc", "region": "eu-west-1"}',
    ]
    out = [redact_text(line) for line in lines]
    assert out[0] == "backend: env JWT_SECRET=********"
    assert out[1] == "backend: env DATABASE_URL=postgresql://app:********@db.internal:5432/ia"
    assert out[2] == "backend: env OPENAI_API_KEY=********"
    assert out[3] == "backend: env LOG_LEVEL=info"
    assert out[4] == 'config: {"stripe_secret_key": "********", "region": "eu-west-1"}'


def test_known_secret_values_go_wherever_they_appear():
    text = "connect failed for value-of-redis-pass at 10.0.0.1 (REDIS=value-of-redis-pass)"
    assert redact_text(text, ["value-of-redis-pass"]) == "connect failed for ******** at 10.0.0.1 (REDIS=********)"
    # Short values would match too much: only whole values are replaced.
    assert redact_text("abc and abcdef", ["abc"]) == "abc and abcdef"


def test_redact_strings_walks_a_result():
    result = {"msg": "crashed: TOKEN=t0k3n-value", "pods": [{"log_tail": ["PASSWORD: pw-1234"]}], "n": 3}
    assert redact_strings(result) == {
        "msg": "crashed: TOKEN=********",
        "pods": [{"log_tail": ["PASSWORD: ********"]}],
        "n": 3,
    }
