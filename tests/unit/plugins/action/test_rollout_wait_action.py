"""The progress tail of the rollout_wait action plugin prints each complete line once, in order."""

from ansible_collections.intelligent_agent.platform.plugins.action import rollout_wait as action


def test_progress_tail_prints_complete_lines_once(tmp_path, monkeypatch):
    printed = []
    monkeypatch.setattr(action.display, "display", lambda msg, *a, **k: printed.append(msg))
    path = tmp_path / "progress"
    path.write_text("")
    tail = action.ProgressTail(str(path), "rollout_wait [localhost]: ", interval=0.05)
    with open(path, "a") as handle:
        handle.write("backend 1/3 updated, 0/3 available\nbackend 2/3 upd")
    tail.read_new()
    assert printed == ["rollout_wait [localhost]: backend 1/3 updated, 0/3 available"]
    with open(path, "a") as handle:
        handle.write("ated, 1/3 available\n\nbackend complete")
    tail.read_new()
    tail.read_new(final=True)
    assert printed[1:] == [
        "rollout_wait [localhost]: backend 2/3 updated, 1/3 available",
        "rollout_wait [localhost]: backend complete",
    ]


def test_progress_tail_thread_stops_and_tolerates_a_missing_file(tmp_path):
    tail = action.ProgressTail(str(tmp_path / "gone"), "x: ", interval=0.01)
    tail.start()
    tail.finish()
    assert not tail.is_alive()
