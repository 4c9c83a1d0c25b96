# -*- coding: utf-8 -*-
# Copyright: Intelligent Agent platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Content hashing (names versioned by content) and redaction of secret values. Plain functions."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import json
import re

REDACTED = "********"

# Keys whose values are secret ("db_password", "apiKey", "Authorization", "SECRET_KEY", ...)
SECRET_KEY_RE = re.compile(
    r"(passw(or)?d|passphrase|secret|token|api[-_]?key|access[-_]?key|private[-_]?key|credential"
    r"|authorization|bearer|cookie|session[-_]?key|signing[-_]?key|dsn|connection[-_]?string)",
    re.IGNORECASE,
)
# ...unless the key only names or points at a secret ("secretName", "secretKeyRef", "imagePullSecrets",
# "token_file", "secrets_secret_name", "tokenExpiry").
NOT_SECRET_KEY_RE = re.compile(
    r"(name|names|ref|refs|file|files|path|secrets|expiry|expires|expiration|ttl|_at|[-_]?enabled)$",
    re.IGNORECASE,
)
# Values shorter than this are only redacted when a whole value equals them, never as substrings.
MIN_SUBSTRING_SECRET = 4


def canonical_json(data):
    """JSON with sorted keys and no whitespace: the same data always gives the same text."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def content_hash(data, length=10):
    """Short lowercase sha256 hex of ``data``.

    A string is hashed as its UTF-8 bytes (so the hash of a rendered file equals ``sha256sum`` of it);
    anything else (dict, list, number) as canonical JSON, so key order does not matter.
    """
    try:
        length = int(length)
    except (TypeError, ValueError):
        raise ValueError("length must be an integer between 1 and 64, got %r" % (length,))
    if not 1 <= length <= 64:
        raise ValueError("length must be between 1 and 64, got %d" % length)
    if isinstance(data, bytes):
        raw = data
    elif isinstance(data, str):
        raw = data.encode("utf-8")
    else:
        raw = canonical_json(data).encode("utf-8")
    return hashlib.sha256(raw).hexdigest()[:length]


def is_secret_key(key):
    """True when a mapping key looks like it holds a secret value."""
    key = str(key)
    return bool(SECRET_KEY_RE.search(key)) and not NOT_SECRET_KEY_RE.search(key)


def _secret_sets(keys_or_values):
    if keys_or_values is None:
        return set(), []
    if isinstance(keys_or_values, dict):
        keys = set(str(k).lower() for k in keys_or_values)
        values = [v for v in keys_or_values.values() if isinstance(v, (str, int, float)) and not isinstance(v, bool)]
    elif isinstance(keys_or_values, (str, bytes)):
        keys, values = {str(keys_or_values).lower()}, [keys_or_values]
    else:
        items = [i for i in keys_or_values if i is not None and not isinstance(i, bool)]
        keys = set(str(i).lower() for i in items)
        values = items
    texts = sorted(set(str(v) for v in values if str(v) != ""), key=len, reverse=True)
    return keys, texts


def _scrub_text(text, secret_texts):
    for secret in secret_texts:
        if text == secret:
            return REDACTED
        if len(secret) >= MIN_SUBSTRING_SECRET and secret in text:
            text = text.replace(secret, REDACTED)
    return text


def _redact_all(value):
    if isinstance(value, dict):
        return dict((k, _redact_all(v)) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return [_redact_all(v) for v in value]
    if value is None or isinstance(value, bool) or value == "":
        return value
    return REDACTED


def redact(data, keys_or_values=None, secret_keys=True):
    """Copy of ``data`` with secret values replaced by ``********``, recursively.

    ``keys_or_values``: a list of strings, each taken both as a key name (its value is redacted) and as
    a secret value (redacted wherever it appears, also inside longer strings when at least 4 chars);
    a dict (e.g. the secrets themselves): its keys are secret keys, its values secret values.
    ``secret_keys``: also redact values under keys that look secret (password, token, api_key, ...),
    and the ``data``/``stringData`` of a Kubernetes Secret.
    Booleans, ``None`` and empty strings are kept: they reveal nothing.
    """
    keys, texts = _secret_sets(keys_or_values)

    def walk(value):
        if isinstance(value, dict):
            out = {}
            is_k8s_secret = secret_keys and value.get("kind") == "Secret"
            for key, item in value.items():
                if (
                    str(key).lower() in keys
                    or (secret_keys and is_secret_key(key))
                    or (is_k8s_secret and key in ("data", "stringData"))
                ):
                    out[key] = _redact_all(item)
                else:
                    out[key] = walk(item)
            return out
        if isinstance(value, (list, tuple)):
            return [walk(v) for v in value]
        if isinstance(value, bool) or value is None:
            return value
        if isinstance(value, (str, int, float)) and texts:
            scrubbed = _scrub_text(str(value), texts)
            return value if scrubbed == str(value) else scrubbed
        return value

    return walk(data)


# Credentials in a URL: scheme://user:password@host -> scheme://user:********@host
URL_CREDENTIALS_RE = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://[^/\s:@]*:)([^@\s/]+)(@)")
# KEY=value, KEY: value, "KEY": "value" as programs print their environment or configuration: the key and
# separator (the value follows, up to whitespace, a quote, a comma or a semicolon).
ASSIGNMENT_KEY_RE = re.compile(r"""(?P<key>[A-Za-z_][A-Za-z0-9_.-]*)["']?\s*[=:]\s*["']?""")
ASSIGNMENT_VALUE_RE = re.compile(r"""[^\s"',;]+""")


def redact_text(text, secret_values=None):
    """``text`` (a log line, an error message) with secrets replaced by ``********``.

    Removes, in this order: the given secret values wherever they appear (at least 4 characters long),
    passwords in URLs, and the values of assignments whose key looks secret (``JWT_SECRET=...``,
    ``"api_key": "..."``). A program that prints its environment when it crashes leaks nothing through it.
    """
    if not isinstance(text, str) or not text:
        return text
    _keys, texts = _secret_sets(secret_values or [])
    text = _scrub_text(text, texts) if texts else text
    text = URL_CREDENTIALS_RE.sub(lambda m: m.group(1) + REDACTED + m.group(3), text)
    return _redact_assignments(text)


def _redact_assignments(text):
    parts, done = [], 0
    for match in ASSIGNMENT_KEY_RE.finditer(text):
        if match.start() < done or not is_secret_key(match.group("key")):
            continue
        value = ASSIGNMENT_VALUE_RE.match(text, match.end())
        if not value or value.group(0) == REDACTED:
            continue
        parts.extend((text[done : value.start()], REDACTED))
        done = value.end()
    parts.append(text[done:])
    return "".join(parts)


def redact_strings(data, secret_values=None):
    """Copy of ``data`` with :func:`redact_text` applied to every string in it (keys are kept)."""
    if isinstance(data, dict):
        return dict((k, redact_strings(v, secret_values)) for k, v in data.items())
    if isinstance(data, (list, tuple)):
        return [redact_strings(v, secret_values) for v in data]
    if isinstance(data, str):
        return redact_text(data, secret_values)
    return data
