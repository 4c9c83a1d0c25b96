# -*- coding: utf-8 -*-
# Copyright: Intelligent Agent platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""HTTP health checks as plain logic: judging one response, describing transport errors, latency figures,
and the retry loop (consecutive successes, retries with backoff, overall deadline). The loop gets the
function that sends a request and the clock from its caller, so it is unit-tested without a network."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import re
import time

try:
    from urllib.parse import urlsplit, urlunsplit
except ImportError:  # pragma: no cover - Python 2
    from urlparse import urlsplit, urlunsplit

MISSING = object()
MAX_BACKOFF = 30.0
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def json_path_get(data, path):
    """Value at a dot path ('status', 'checks.db.ok', 'items.0.name'); MISSING when absent."""
    value = data
    for part in [p for p in str(path).split(".") if p != ""]:
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and re.match(r"^-?\d+$", part) and -len(value) <= int(part) < len(value):
            value = value[int(part)]
        else:
            return MISSING
    return value


def json_values_equal(actual, expected):
    """Equal as JSON values; a string given for a scalar matches its text ('true', '200', 'up')."""
    if (
        actual == expected
        and type(actual) is type(expected)
        or (
            isinstance(actual, (int, float))
            and not isinstance(actual, bool)
            and isinstance(expected, (int, float))
            and not isinstance(expected, bool)
            and actual == expected
        )
    ):
        return True
    if isinstance(expected, str) and not isinstance(actual, (dict, list)):
        return expected in (json.dumps(actual), str(actual))
    return False


def short(value, limit=80):
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def evaluate_response(check, status, body, latency_ms):
    """None when the response satisfies the check, else the reason it does not, in words."""
    codes = check.get("status_codes") or [200]
    if status not in codes:
        return "status %s, expected %s" % (status, " or ".join(str(c) for c in codes))
    if check.get("body_contains") and check["body_contains"] not in (body or ""):
        return "body does not contain %r" % check["body_contains"]
    if check.get("json_path"):
        try:
            data = json.loads(body or "")
        except ValueError:
            return "body is not JSON (%s)" % short(body or "", 60)
        value = json_path_get(data, check["json_path"])
        if value is MISSING:
            return "JSON path %s not found" % check["json_path"]
        if check.get("json_equals") is not None and not json_values_equal(value, check["json_equals"]):
            return "JSON %s is %s, expected %s" % (check["json_path"], short(value), short(check["json_equals"]))
    if check.get("max_latency_ms") is not None and latency_ms > check["max_latency_ms"]:
        return "too slow: %d ms > %d ms" % (round(latency_ms), check["max_latency_ms"])
    return None


def describe_error(exc, timeout=None):
    """'connection refused', 'timed out after 2.0s', 'TLS error: ...' from a requests/urllib3 exception."""
    name = exc.__class__.__name__
    text = str(exc)
    lowered = text.lower()
    if "Timeout" in name or "timed out" in lowered:
        return "timed out after %ss" % (round(timeout, 1) if timeout is not None else "?")
    if "refused" in lowered:
        return "connection refused"
    if "SSL" in name or "certificate" in lowered or "ssl" in lowered:
        return "TLS error: %s" % short(text, 200)
    if "Name or service not known" in text or "nodename nor servname" in text or "getaddrinfo" in lowered:
        return "host name not resolved"
    if "reset" in lowered:
        return "connection reset"
    return "%s: %s" % (name, short(text, 200))


def redact_url(url):
    """URL with the password of user:password@ replaced, for output."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if parts.password is None:
        return url
    netloc = "%s:********@%s" % (parts.username or "", parts.hostname or "")
    if parts.port:
        netloc += ":%d" % parts.port
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def latency_stats(latencies):
    if not latencies:
        return {"min": None, "avg": None, "max": None, "last": None}
    return {
        "min": round(min(latencies), 1),
        "avg": round(sum(latencies) / len(latencies), 1),
        "max": round(max(latencies), 1),
        "last": round(latencies[-1], 1),
    }


class _State(object):
    def __init__(self, check):
        self.check = check
        self.attempts = 0
        self.failures = 0
        self.streak = 0
        self.latencies = []
        self.last_status = None
        self.reason = None
        self.done = False
        self.ok = False
        self.skipped = False
        self.next_at = 0.0


def run_checks(
    checks,
    send,
    consecutive_successes=1,
    retries=3,
    backoff=1.0,
    interval=1.0,
    deadline=60.0,
    clock=time.monotonic,
    sleep=time.sleep,
    check_mode=False,
):
    """Run every check until it passes ``consecutive_successes`` times in a row, fails more than ``retries``
    times, or the overall ``deadline`` (seconds) is reached. ``send(check, timeout)`` returns
    ``(status, body_text)`` or raises. Checks take turns in one thread; no request outlives the deadline.
    Returns (results, elapsed_s)."""
    start = clock()
    end = start + float(deadline)
    states = [_State(c) for c in checks]
    for state in states:
        if check_mode and str(state.check.get("method") or "GET").upper() not in SAFE_METHODS:
            state.done = state.ok = state.skipped = True
            state.reason = "skipped in check mode (%s is not a read-only method)" % state.check.get("method")
    while True:
        pending = [s for s in states if not s.done]
        if not pending:
            break
        state = min(pending, key=lambda s: s.next_at)
        now = clock()
        if state.next_at >= end or now >= end:
            break
        if state.next_at > now:
            sleep(state.next_at - now)
            continue
        check = state.check
        timeout = max(min(float(check.get("timeout") or 10), end - now), 0.05)
        state.attempts += 1
        sent = clock()
        try:
            status, body = send(check, timeout)
        except Exception as exc:  # pylint: disable=broad-except
            reason = describe_error(exc, timeout)
        else:
            latency = (clock() - sent) * 1000.0
            state.latencies.append(latency)
            state.last_status = status
            reason = evaluate_response(check, status, body, latency)
        if reason is None:
            state.streak += 1
            if state.streak >= consecutive_successes:
                state.done = state.ok = True
                state.reason = None
            else:
                state.next_at = clock() + interval
        else:
            state.failures += 1
            state.streak = 0
            state.reason = reason
            if state.failures > retries:
                state.done = True
            else:
                state.next_at = clock() + min(backoff * (2 ** (state.failures - 1)), MAX_BACKOFF)
    elapsed = clock() - start
    results = []
    for state in states:
        if not state.done:
            state.reason = "deadline of %ss reached%s" % (
                deadline,
                " (last: %s)" % state.reason if state.reason else " before an answer",
            )
        if state.ok and not state.skipped and state.streak < consecutive_successes:
            state.ok = False
        results.append(
            {
                "name": state.check.get("name"),
                "url": redact_url(state.check.get("url", "")),
                "method": str(state.check.get("method") or "GET").upper(),
                "ok": state.ok,
                "skipped": state.skipped,
                "reason": state.reason,
                "attempts": state.attempts,
                "failures": state.failures,
                "consecutive_successes": state.streak,
                "last_status": state.last_status,
                "latency_ms": latency_stats(state.latencies),
            }
        )
    return results, round(elapsed, 2)


def summary(results, consecutive_successes=1):
    """The module's msg: which checks failed and why, or that all passed with their latency."""
    failed = [r for r in results if not r["ok"]]
    if failed:
        return "; ".join(
            "health check %s failed: %s (%s %s, %d attempt%s)"
            % (r["name"], r["reason"], r["method"], r["url"], r["attempts"], "" if r["attempts"] == 1 else "s")
            for r in failed
        )
    passed = [r for r in results if not r["skipped"]]
    text = "%d health check%s passed" % (len(passed), "" if len(passed) == 1 else "s")
    if consecutive_successes > 1:
        text += " (%d consecutive successes each)" % consecutive_successes
    if passed:
        text += ": " + ", ".join("%s %s ms" % (r["name"], r["latency_ms"]["avg"]) for r in passed)
    skipped = [r for r in results if r["skipped"]]
    if skipped:
        text += "; skipped in check mode: %s" % ", ".join(r["name"] for r in skipped)
    return text
