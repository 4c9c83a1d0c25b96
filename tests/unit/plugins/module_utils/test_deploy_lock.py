"""The deploy lock's decisions (plugins/module_utils/deploy_lock.py), over an in-memory Lease store that
enforces resourceVersion like the API server."""

from __future__ import annotations

import copy

import pytest

from ansible_collections.intelligent_agent.platform.plugins.module_utils import deploy_lock as dl


class Clock:
    def __init__(self, now=1_800_000_000.0):
        self.now = now

    def __call__(self):
        return self.now


class MemoryLeaseApi:
    """One Lease; create fails if it exists, replace fails (409) unless the resourceVersion matches."""

    namespace, name = "production", "intelligent-agent-deploy-lock"

    def __init__(self):
        self.lease = None
        self.version = 0
        self.before_write = None  # a hook to simulate a concurrent writer

    def read(self):
        return copy.deepcopy(self.lease)

    def _store(self, body):
        if self.before_write:
            hook, self.before_write = self.before_write, None
            hook()
        self.version += 1
        body = copy.deepcopy(body)
        body["metadata"]["resourceVersion"] = str(self.version)
        self.lease = body
        return copy.deepcopy(body)

    def create(self, body):
        if self.lease is not None:
            raise dl.LockConflict("exists")
        return self._store(body)

    def replace(self, body):
        if self.before_write:
            hook, self.before_write = self.before_write, None
            hook()
        if self.lease is None or body["metadata"].get("resourceVersion") != self.lease["metadata"]["resourceVersion"]:
            raise dl.LockConflict("conflict")
        return self._store(body)


def test_times_round_trip_in_microtime():
    stamp = dl.format_time(1_800_000_000.25)
    assert stamp == "2027-01-15T08:00:00.250000Z"
    assert dl.parse_time(stamp) == pytest.approx(1_800_000_000.25)
    assert dl.parse_time("2027-01-15T08:00:00Z") == 1_800_000_000
    assert dl.parse_time(None) is None


def test_a_free_lock_is_created_then_a_second_run_is_refused_naming_the_first():
    api, clock = MemoryLeaseApi(), Clock()
    lease, before, action = dl.acquire(api, "alice@ci/1", 60, {"version": "1.2.0"}, clock=clock)
    assert action == "create" and not before["exists"]
    assert lease["spec"]["holderIdentity"] == "alice@ci/1"
    clock.now += 30
    with pytest.raises(dl.LockHeld) as held:
        dl.acquire(api, "bob@ci/2", 60, clock=clock)
    message = str(held.value)
    assert "alice@ci/1" in message and "1.2.0" in message and "unlock.yml" in message
    assert held.value.view["expires_in"] == 30


def test_a_renewed_lock_stays_held_across_three_lease_durations():
    api, clock = MemoryLeaseApi(), Clock()
    dl.acquire(api, "alice", 60, clock=clock)
    for _renewal in range(9):  # renewals every 20 s for 180 s
        clock.now += 20
        held, _view = dl.renew(api, "alice", clock=clock)
        assert held
        with pytest.raises(dl.LockHeld):
            dl.acquire(api, "bob", 60, clock=clock)


def test_a_dead_runs_lock_expires_after_one_duration_and_is_taken_over():
    api, clock = MemoryLeaseApi(), Clock()
    dl.acquire(api, "killed-run", 60, clock=clock)
    clock.now += 61  # nobody renewed it
    lease, before, action = dl.acquire(api, "next-run", 60, clock=clock)
    assert action == "take" and before["holder"] == "killed-run" and before["expired"]
    assert lease["spec"]["holderIdentity"] == "next-run"
    # The killed run's renewer, had it survived, now learns it lost the lock (fencing).
    held, view = dl.renew(api, "killed-run", clock=clock)
    assert not held and view["holder"] == "next-run"


def test_of_two_runs_racing_for_an_expired_lock_exactly_one_wins():
    api, clock = MemoryLeaseApi(), Clock()
    dl.acquire(api, "old", 60, clock=clock)
    clock.now += 100

    def bob_sneaks_in():
        dl.acquire(api, "bob", 60, clock=clock)

    api.before_write = bob_sneaks_in
    with pytest.raises(dl.LockHeld) as held:
        dl.acquire(api, "alice", 60, clock=clock)
    assert held.value.view["holder"] == "bob"
    assert api.lease["spec"]["holderIdentity"] == "bob"


def test_release_frees_only_our_own_lock_and_keeps_who_had_it():
    api, clock = MemoryLeaseApi(), Clock()
    dl.acquire(api, "alice", 60, {"version": "2.0.0"}, clock=clock)
    released, _view = dl.release(api, "bob", clock=clock)
    assert not released and api.lease["spec"]["holderIdentity"] == "alice"
    released, _view = dl.release(api, "alice", "succeeded", clock=clock)
    assert released and "holderIdentity" not in api.lease["spec"]
    annotations = api.lease["metadata"]["annotations"]
    assert annotations["intelligent-agent.platform/last-holder"] == "alice"
    assert annotations["intelligent-agent.platform/last-result"] == "succeeded"
    # A freed lock is taken at once.
    _lease, _before, action = dl.acquire(api, "bob", 60, clock=clock)
    assert action == "take"


def test_break_frees_a_live_lock_and_reports_its_holder():
    api, clock = MemoryLeaseApi(), Clock()
    dl.acquire(api, "stuck", 60, {"version": "3.0.0"}, clock=clock)
    view = dl.break_lock(api, clock=clock)
    assert view["holder"] == "stuck" and view["version"] == "3.0.0"
    assert dl.lease_view(api.lease, clock())["holder"] == ""


def test_an_api_error_is_an_error_not_a_free_lock():
    class Forbidden(MemoryLeaseApi):
        def read(self):
            raise dl.LockError("cannot read Lease production/x: HTTP 403 Forbidden")

    with pytest.raises(dl.LockError, match="403"):
        dl.acquire(Forbidden(), "alice", 60)


# ---- the renewer (module_utils/lease_renewer.py) -----------------------------------------------------------
from ansible_collections.intelligent_agent.platform.plugins.module_utils import lease_renewer as lr  # noqa: E402


def test_the_fence_lets_a_fresh_holder_write_and_stops_a_lost_or_stale_one():
    assert lr.fence({"status": "held", "renewed": 100.0}, 60, 130.0) is None
    assert "lost the deploy lock to bob" in lr.fence({"status": "lost", "holder_now": "bob"}, 60, 101.0)
    assert "not renewed for 70 s" in lr.fence({"status": "held", "renewed": 100.0, "error": "HTTP 503"}, 60, 170.0)
    assert "no state" in lr.fence(None, 60, 0.0)


def test_the_renewer_renews_while_its_run_lives_and_stops_when_it_dies(tmp_path):
    api, clock = MemoryLeaseApi(), Clock()
    dl.acquire(api, "alice", 30, clock=clock)
    lives = {"ticks": 40}

    def alive(_pid):
        lives["ticks"] -= 1
        return lives["ticks"] > 0

    def sleep(seconds):
        clock.now += seconds

    state = tmp_path / "state.json"
    assert lr.renew_while_alive(api, "alice", 30, 1, str(state), clock=clock, sleep=sleep, alive=alive) == 0
    view = dl.lease_view(api.lease, clock())
    assert view["holder"] == "alice" and view["age"] <= 10  # renewed every 10 s until the run died
    assert lr.read_state(str(state))["status"] == "orphaned"


def test_the_renewer_records_a_lost_lock_and_exits(tmp_path):
    api, clock = MemoryLeaseApi(), Clock()
    dl.acquire(api, "alice", 30, clock=clock)

    def sleep(seconds):
        clock.now += seconds
        if clock.now > 1_800_000_015:  # an operator breaks the lock and bob takes it
            if dl.lease_view(api.lease, clock())["holder"] == "alice":
                dl.break_lock(api, clock=clock)
                dl.acquire(api, "bob", 30, clock=clock)

    state = tmp_path / "state.json"
    assert lr.renew_while_alive(api, "alice", 30, 1, str(state), clock=clock, sleep=sleep, alive=lambda _p: True) == 1
    assert lr.read_state(str(state))["holder_now"] == "bob"


def test_the_renewer_frees_the_lock_with_the_runs_result_when_asked(tmp_path):
    api, clock = MemoryLeaseApi(), Clock()
    dl.acquire(api, "alice", 30, clock=clock)
    state = tmp_path / "state.json"
    with open(lr.request_path(str(state)), "w") as handle:
        handle.write('{"result": "succeeded"}')
    assert lr.release_as_requested(api, "alice", str(state)) == 0
    recorded = lr.read_state(str(state))
    assert (recorded["status"], recorded["released"], recorded["lock"]["holder"]) == ("released", True, "alice")
    assert dl.lease_view(api.lease, clock())["holder"] == ""
    assert "succeeded" in str(api.lease["metadata"].get("annotations"))


def test_a_renewer_asked_to_free_a_lock_it_lost_leaves_the_new_holders_lock(tmp_path):
    api, clock = MemoryLeaseApi(), Clock()
    dl.acquire(api, "alice", 30, clock=clock)
    dl.break_lock(api, clock=clock)
    dl.acquire(api, "bob", 30, clock=clock)
    state = tmp_path / "state.json"
    assert lr.release_as_requested(api, "alice", str(state)) == 0  # no request file: an empty result
    recorded = lr.read_state(str(state))
    assert (recorded["released"], recorded["lock"]["holder"]) == (False, "bob")
    assert dl.lease_view(api.lease, clock())["holder"] == "bob"
