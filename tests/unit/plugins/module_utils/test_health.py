import pytest

from ansible_collections.intelligent_agent.platform.plugins.module_utils import health as h


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


def check(**kwargs):
    base = {"name": "api", "url": "http://127.0.0.1:1/health", "method": "GET", "status_codes": [200], "timeout": 5}
    base.update(kwargs)
    return base


@pytest.mark.parametrize(
    "chk, status, body, latency, fragment",
    [
        (check(), 200, "", 1, None),
        (check(), 503, "", 1, "status 503, expected 200"),
        (check(status_codes=[200, 204]), 500, "", 1, "expected 200 or 204"),
        (check(body_contains="ready"), 200, "not yet", 1, "body does not contain 'ready'"),
        (check(body_contains="ready"), 200, "all ready", 1, None),
        (check(json_path="status", json_equals="ok"), 200, '{"status": "ok"}', 1, None),
        (
            check(json_path="status", json_equals="ok"),
            200,
            '{"status": "degraded"}',
            1,
            "JSON status is degraded, expected ok",
        ),
        (check(json_path="checks.db.ok", json_equals=True), 200, '{"checks": {"db": {"ok": true}}}', 1, None),
        (check(json_path="checks.db.ok", json_equals="true"), 200, '{"checks": {"db": {"ok": true}}}', 1, None),
        (check(json_path="items.1.n", json_equals=2), 200, '{"items": [{"n": 1}, {"n": 2}]}', 1, None),
        (check(json_path="items.5.n"), 200, '{"items": []}', 1, "JSON path items.5.n not found"),
        (check(json_path="a"), 200, "<html>", 1, "body is not JSON"),
        (check(json_path="n", json_equals=1), 200, '{"n": true}', 1, "JSON n is true, expected 1"),
        (check(max_latency_ms=100), 200, "", 250.4, "too slow: 250 ms > 100 ms"),
    ],
)
def test_evaluate_response(chk, status, body, latency, fragment):
    reason = h.evaluate_response(chk, status, body, latency)
    if fragment is None:
        assert reason is None
    else:
        assert fragment in reason


class Refused(Exception):
    pass


class ReadTimeout(Exception):
    pass


class SSLError(Exception):
    pass


@pytest.mark.parametrize(
    "exc, text",
    [
        (Refused("HTTPConnectionPool: Max retries exceeded ([Errno 111] Connection refused)"), "connection refused"),
        (ReadTimeout("Read timed out. (read timeout=2.0)"), "timed out after 2.0s"),
        (SSLError("certificate verify failed: self signed certificate"), "TLS error: certificate verify failed"),
        (ValueError("weird"), "ValueError: weird"),
    ],
)
def test_describe_error(exc, text):
    assert h.describe_error(exc, 2.0).startswith(text)


def test_redact_url_and_latency_stats():
    assert h.redact_url("https://user:pa55@host:8443/x?y=1") == "https://user:********@host:8443/x?y=1"
    assert h.redact_url("http://host/x") == "http://host/x"
    assert h.latency_stats([3.0, 1.0, 2.0]) == {"min": 1.0, "avg": 2.0, "max": 3.0, "last": 2.0}
    assert h.latency_stats([])["avg"] is None


def test_consecutive_successes_restart_after_a_failure():
    clock = FakeClock()
    answers = iter([200, 200, 503, 200, 200, 200])

    def send(chk, timeout):
        clock.now += 0.01
        return next(answers), ""

    results, dummy = h.run_checks(
        [check()],
        send,
        consecutive_successes=3,
        retries=3,
        backoff=1,
        interval=1,
        deadline=60,
        clock=clock,
        sleep=clock.sleep,
    )
    assert results[0]["ok"] and results[0]["attempts"] == 6 and results[0]["failures"] == 1
    assert results[0]["latency_ms"]["avg"] == pytest.approx(10.0, abs=0.1)


def test_retries_with_doubling_backoff_then_failure():
    clock = FakeClock()
    sent_at = []

    def send(chk, timeout):
        sent_at.append(clock.now)
        raise Refused("Connection refused")

    results, elapsed = h.run_checks([check()], send, retries=3, backoff=1, deadline=60, clock=clock, sleep=clock.sleep)
    assert [round(t - 100, 1) for t in sent_at] == [0, 1, 3, 7]
    assert not results[0]["ok"] and results[0]["reason"] == "connection refused" and results[0]["attempts"] == 4
    assert results[0]["last_status"] is None and elapsed == 7
    assert h.summary(results).startswith("health check api failed: connection refused (GET http://127.0.0.1:1/health")


def test_deadline_bounds_request_timeouts_and_stops():
    clock = FakeClock()
    timeouts = []

    def send(chk, timeout):
        timeouts.append(timeout)
        clock.now += timeout
        raise ReadTimeout("Read timed out")

    results, elapsed = h.run_checks(
        [check(timeout=10)], send, retries=100, backoff=0.5, deadline=3, clock=clock, sleep=clock.sleep
    )
    assert timeouts[0] == 3 and elapsed <= 3.0
    assert results[0]["reason"].startswith("deadline of 3s reached (last: timed out after 3")


def test_deadline_before_any_answer_and_two_checks_take_turns():
    clock = FakeClock()
    order = []

    def send(chk, timeout):
        order.append(chk["name"])
        clock.now += 0.1
        return (200, "") if chk["name"] == "a" else (500, "")

    results, dummy = h.run_checks(
        [check(name="a"), check(name="b")],
        send,
        consecutive_successes=2,
        retries=1,
        backoff=1,
        interval=1,
        deadline=10,
        clock=clock,
        sleep=clock.sleep,
    )
    assert order[:2] == ["a", "b"]
    assert [r["ok"] for r in results] == [True, False]
    assert results[1]["reason"] == "status 500, expected 200"
    results, dummy = h.run_checks([check()], send, deadline=0, clock=clock, sleep=clock.sleep)
    assert results[0]["reason"] == "deadline of 0s reached before an answer"


def test_check_mode_skips_unsafe_methods():
    clock = FakeClock()
    results, dummy = h.run_checks(
        [check(name="post", method="POST"), check(name="get")],
        lambda c, t: (200, ""),
        clock=clock,
        sleep=clock.sleep,
        check_mode=True,
    )
    assert results[0]["skipped"] and results[0]["attempts"] == 0 and results[1]["attempts"] == 1
    assert h.summary(results) == "1 health check passed: get 0.0 ms; skipped in check mode: post"


def test_json_values_equal():
    assert h.json_values_equal(1, 1.0)
    assert not h.json_values_equal(True, 1)
    assert h.json_values_equal({"a": [1]}, {"a": [1]})
    assert h.json_values_equal(None, "null")
    assert not h.json_values_equal({"a": 1}, '{"a": 1}')
