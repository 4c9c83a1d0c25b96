"""The release history (plugins/module_utils/release_history.py): tolerant reading and compare-and-swap
appends, over an in-memory ConfigMap store that enforces resourceVersion like the API server."""

from __future__ import annotations

import copy
import json

import pytest

from ansible_collections.intelligent_agent.platform.plugins.module_utils import release_history as rh


class MemoryHistoryApi:
    """One ConfigMap; create fails if it exists, replace fails (409) unless the resourceVersion matches."""

    namespace, name = "production", "intelligent-agent-release-history"

    def __init__(self, data=None):
        self.version = 0
        self.configmap = None
        self.writes = 0
        self.before_write = []  # hooks that simulate a concurrent writer, one per write attempt
        if data is not None:
            self._store(rh.history_body(self.name, self.namespace, data, {}))

    def read(self):
        return copy.deepcopy(self.configmap)

    def _store(self, body):
        self.version += 1
        body = copy.deepcopy(body)
        body["metadata"]["resourceVersion"] = str(self.version)
        self.configmap = body
        return copy.deepcopy(body)

    def _concurrent_writer(self):
        if self.before_write:
            self.before_write.pop(0)()

    def create(self, body):
        self._concurrent_writer()
        if self.configmap is not None:
            raise rh.HistoryConflict("exists")
        self.writes += 1
        return self._store(body)

    def replace(self, body):
        self._concurrent_writer()
        if body["metadata"].get("resourceVersion") != self.configmap["metadata"]["resourceVersion"]:
            raise rh.HistoryConflict("conflict")
        self.writes += 1
        return self._store(body)

    def records(self):
        return json.loads(self.configmap["data"][rh.RECORDS_KEY])


def test_the_first_record_creates_the_history_with_id_1_and_the_labels():
    api = MemoryHistoryApi()
    stored, problems, records = rh.append(
        api,
        {"kind": "deploy", "version": "1.0.0", "result": "succeeded"},
        30,
        {"app.kubernetes.io/part-of": "intelligent-agent"},
    )
    assert stored["id"] == 1 and problems == [] and records == [stored]
    labels = api.configmap["metadata"]["labels"]
    assert labels["app.kubernetes.io/part-of"] == "intelligent-agent"
    assert labels["app.kubernetes.io/component"] == "release-history"
    assert api.configmap["data"]["latest"].startswith("#1 deploy 1.0.0 succeeded")


def test_appending_keeps_the_newest_records_and_counts_ids_from_the_highest():
    api = MemoryHistoryApi()
    for number in range(5):
        rh.append(api, {"version": "1.0.%d" % number}, keep=3)
    assert [r["id"] for r in api.records()] == [3, 4, 5]
    assert [r["version"] for r in api.records()] == ["1.0.2", "1.0.3", "1.0.4"]


def test_a_given_id_is_replaced_by_the_next_free_one():
    api = MemoryHistoryApi({rh.RECORDS_KEY: json.dumps([{"id": 7, "version": "1"}])})
    stored, _problems, _records = rh.append(api, {"id": 1, "version": "2"}, 30)
    assert stored["id"] == 8


def test_a_concurrent_writer_is_never_overwritten():
    """Two runs read the same history; the second write loses the race, reads again and appends after."""
    api = MemoryHistoryApi({rh.RECORDS_KEY: json.dumps([{"id": 1, "version": "1.0.0"}])})

    def other_run_records():
        rh.append(MemoryHistoryApiView(api), {"version": "other"}, 30)

    api.before_write.append(other_run_records)
    stored, _problems, records = rh.append(api, {"version": "mine"}, 30)
    assert [(r["id"], r["version"]) for r in records] == [(1, "1.0.0"), (2, "other"), (3, "mine")]
    assert stored["id"] == 3 and api.records() == records


class MemoryHistoryApiView:
    """A second client of the same store, without the race hooks (the concurrent run)."""

    def __init__(self, store):
        self.store = store
        self.namespace, self.name = store.namespace, store.name

    def read(self):
        return self.store.read()

    def create(self, body):
        return self.store._store(body)

    def replace(self, body):
        assert body["metadata"]["resourceVersion"] == self.store.configmap["metadata"]["resourceVersion"]
        return self.store._store(body)


def test_a_history_that_keeps_changing_fails_with_a_clear_error_not_a_lost_record():
    api = MemoryHistoryApi({rh.RECORDS_KEY: "[]"})
    api.before_write = [lambda: api._store(api.read())] * 5
    with pytest.raises(rh.HistoryError, match="changed under this run 5 times"):
        rh.append(api, {"version": "x"}, 30)


def test_a_first_write_that_races_another_first_write_appends_after_it():
    api = MemoryHistoryApi()
    api.before_write.append(
        lambda: api._store(
            rh.history_body(api.name, api.namespace, {rh.RECORDS_KEY: json.dumps([{"id": 1, "version": "first"}])}, {})
        )
    )
    stored, _problems, records = rh.append(api, {"version": "second"}, 30)
    assert stored["id"] == 2 and [r["version"] for r in records] == ["first", "second"]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("{not json", "is not valid JSON"),
        ('{"id": 1}', "holds a dict, not a list"),
    ],
)
def test_an_unreadable_history_is_a_problem_not_an_error(text, problem):
    records, problems = rh.parse_records(text)
    assert records == [] and len(problems) == 1 and problem in problems[0]


def test_records_that_are_not_objects_are_left_out_and_named():
    records, problems = rh.parse_records(json.dumps([{"id": 1, "version": "a"}, "garbage", 3, {"id": 2}]))
    assert [r["id"] for r in records] == [1, 2]
    assert problems == [
        "record 2 of releases.json is a str, not an object: left out",
        "record 3 of releases.json is a int, not an object: left out",
    ]


def test_a_record_without_a_usable_id_gets_the_next_free_one():
    records, problems = rh.parse_records(json.dumps([{"id": "4", "version": "a"}, {"id": "x", "version": "b"}, {}]))
    assert [r["id"] for r in records] == [4, 5, 6]
    assert len(problems) == 2 and "version b" in problems[0]


def test_appending_to_a_corrupt_history_keeps_the_old_text_aside_and_starts_again():
    api = MemoryHistoryApi({rh.RECORDS_KEY: "[{truncated", "latest": "#9 deploy 1.0.0"})
    stored, problems, records = rh.append(api, {"version": "2.0.0"}, 30)
    assert stored["id"] == 1 and records == [stored] and "not valid JSON" in problems[0]
    assert api.configmap["data"][rh.CORRUPT_KEY] == "[{truncated"


def test_appending_after_a_damaged_record_keeps_the_good_ones_and_nothing_aside():
    api = MemoryHistoryApi({rh.RECORDS_KEY: json.dumps([{"id": 1}, "bad", {"id": 2}])})
    stored, problems, records = rh.append(api, {"version": "3"}, 30)
    assert [r["id"] for r in records] == [1, 2, 3] and len(problems) == 1
    assert rh.CORRUPT_KEY not in api.configmap["data"]


def test_no_history_reads_as_empty():
    assert rh.history_of(None) == ([], [], "", "")
    assert rh.parse_records("") == ([], [])


def test_the_release_to_restore_is_the_newest_succeeded_deploy_that_ran_the_versions():
    records = [
        {
            "id": 1,
            "kind": "deploy",
            "result": "succeeded",
            "versions": {"backend": "1.0", "frontend": "1.0"},
            "objects": "a",
        },
        {
            "id": 2,
            "kind": "deploy",
            "result": "succeeded",
            "versions": {"backend": "1.0", "frontend": "1.0"},
            "objects": "b",
        },
        {"id": 3, "kind": "deploy", "result": "rolled-back", "versions": {"backend": "1.0"}, "objects": "c"},
        {"id": 4, "kind": "rollback", "result": "rolled-back", "versions": {"backend": "1.0"}, "objects": "d"},
        {
            "id": 5,
            "kind": "deploy",
            "result": "succeeded",
            "versions": {"backend": "2.0", "frontend": "2.0"},
            "objects": "e",
        },
        {"id": 6, "kind": "deploy", "result": "succeeded", "versions": {"backend": "3.0"}},
    ]
    assert rh.find_release(records, {"backend": "1.0"})["id"] == 2
    assert rh.find_release(records, {"backend": "2.0", "frontend": "2.0"})["id"] == 5
    assert rh.find_release(records, {"backend": "3.0"}) is None  # recorded without objects
    assert rh.find_release(records, {"backend": "1.0", "frontend": "2.0"}) is None


def test_release_objects_are_named_by_content_and_read_back():
    objects = [{"kind": "Service", "metadata": {"name": "backend"}, "spec": {"ports": [{"port": 5000}]}}]
    name = rh.objects_name("ia-release-history", objects)
    assert name.startswith("ia-release-history-objects-") and len(name.rsplit("-", 1)[1]) == 10
    assert name == rh.objects_name("ia-release-history", json.loads(json.dumps(objects)))
    assert name != rh.objects_name("ia-release-history", [dict(objects[0], spec={"ports": [{"port": 5099}]})])
    body = rh.objects_body(name, "ns", objects, {"app.kubernetes.io/part-of": "ia"})
    assert body["immutable"] is True and body["metadata"]["labels"]["app.kubernetes.io/component"] == "release-objects"
    assert rh.objects_of(body) == objects
    assert rh.objects_of(None) == [] and rh.objects_of({"data": {rh.OBJECTS_KEY: "{broken"}}) == []


class ObjectsStore:
    """The release-objects ConfigMaps of a namespace, for pruning: lists names, deletes, or refuses to."""

    name = "hist"

    def __init__(self, names, forbid_delete=False):
        self.names = list(names)
        self.forbid_delete = forbid_delete

    def objects_names(self):
        return list(self.names)

    def delete_objects(self, name):
        if self.forbid_delete:
            raise rh.HistoryError("cannot delete the release-objects ConfigMap ns/%s: HTTP 403 Forbidden" % name)
        self.names.remove(name)
        return True


def test_release_objects_no_kept_record_names_are_pruned_and_only_those():
    records = [{"id": 4, "objects": "hist-objects-bbb"}, {"id": 5}, {"id": 6, "objects": "hist-objects-ccc"}]
    store = ObjectsStore(["hist-objects-aaa", "hist-objects-bbb", "hist-objects-ccc", "other-objects-zzz"])
    assert rh.orphaned_objects("hist", store.names, records) == ["hist-objects-aaa"]
    assert rh.prune_orphaned_objects(store, records) == (["hist-objects-aaa"], None)
    # Another history's objects in the same namespace are not this history's to prune.
    assert store.names == ["hist-objects-bbb", "hist-objects-ccc", "other-objects-zzz"]


def test_a_failed_prune_of_release_objects_is_a_problem_not_an_error():
    store = ObjectsStore(["hist-objects-aaa"], forbid_delete=True)
    deleted, problem = rh.prune_orphaned_objects(store, [])
    assert deleted == [] and problem.startswith("release objects not pruned: cannot delete")
    assert store.names == ["hist-objects-aaa"]
