"""End to end: playbooks/deploy.yml, rollback.yml and history.yml against the real local cluster.

One module-scoped sequence (each deploy costs tens of seconds on this machine), in its own namespace
and NodePorts (31080 frontend, 31500 backend; the demo uses 30080/30500):
  1.0.0 first deploy (build, apply, verify, record)       -> test_first_deploy
  1.0.0 again                                             -> test_second_deploy_changes_nothing
  1.0.0 -> 2.0.0 under 20 req/s, a stale lock taken over,
  a concurrent deploy refused                             -> test_rolling_update_lock_and_concurrency
  rollback.yml -e revision="1"                            -> test_rollback_to_revision_restores_version_and_config
  2.1.0 with a crashing backend                           -> test_crashing_release_is_rolled_back
  9.9.9 whose images do not exist (-vvv)                  -> test_unpullable_release_is_rolled_back
  history.yml                                             -> test_history_lists_every_release
"""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime, timedelta

import pytest

from pipeline_helpers import (
    Load,
    Runner,
    Webhook,
    image_vars,
    local_inventory_vars,
    merged_overrides,
    record_figure,
    vault_secret_values,
    wait_for_version,
)

NAMESPACE = "ia-pipeline-test"
FRONTEND_PORT, BACKEND_PORT = 31080, 31500
URL = f"http://127.0.0.1:{FRONTEND_PORT}"
VERSION_URL = f"{URL}/api/version"
HISTORY_CM = "intelligent-agent-release-history"
LOCK = "intelligent-agent-deploy-lock"


@pytest.fixture(scope="module")
def pipe(cluster, tmp_path_factory):
    """Shared state of the sequence: runner, webhook, kubectl, and facts earlier steps learned."""
    workdir = tmp_path_factory.mktemp("pipeline")
    webhook = Webhook()
    inventory = local_inventory_vars()
    config = dict(inventory.get("config_overrides") or {})
    base_vars = {
        **image_vars(),
        "platform_namespace": NAMESPACE,
        "app_component_overrides": merged_overrides(FRONTEND_PORT, BACKEND_PORT),
        "config_overrides": config,
        "platform_health_checks": [
            {"name": "frontend", "url": f"{URL}/health"},
            {
                "name": "backend-through-frontend",
                "url": VERSION_URL,
                "json_path": "version",
            },
        ],
        "platform_webhook_url": webhook.url,
        "platform_backup_dir": str(workdir / "backups"),
    }

    def kubectl(*args, check=True):
        return cluster.kubectl_run(*args, check=check)

    def kjson(*args):
        return cluster.kubectl_json(*args)

    kubectl(
        "delete",
        "namespace",
        NAMESPACE,
        "--ignore-not-found",
        "--wait=true",
        "--timeout=180s",
        check=False,
    )
    state = {
        "runner": Runner(workdir, base_vars),
        "webhook": webhook,
        "kubectl": kubectl,
        "kjson": kjson,
        "workdir": workdir,
        "config": config,
        "failed": [],
        "secrets": vault_secret_values(),
    }
    yield state
    webhook.close()
    kubectl(
        "delete",
        "namespace",
        NAMESPACE,
        "--ignore-not-found",
        "--wait=false",
        check=False,
    )


@pytest.fixture(autouse=True)
def _sequence(request, pipe):
    """Later steps need the earlier ones: name the failed prerequisite instead of a confusing error."""
    if pipe["failed"] and request.node.name not in (
        "test_preflight_requires_platform_version",
        "test_production_requires_confirmation",
    ):
        pytest.fail(f"an earlier step of the deploy sequence failed: {pipe['failed']}")


def _history(pipe) -> list[dict]:
    cm = pipe["kjson"]("-n", NAMESPACE, "get", "configmap", HISTORY_CM)
    return json.loads(cm["data"]["releases.json"])


def _deployment(pipe, name: str) -> dict:
    return pipe["kjson"]("-n", NAMESPACE, "get", "deployment", name)


def _no_secret_in(pipe, text: str, where: str) -> None:
    leaked = [f"{value[:3]}...({len(value)} chars)" for value in pipe["secrets"] if value in text]
    assert not leaked, f"secret values found in {where}: {leaked}"


def _mark(pipe, name: str) -> None:
    pipe["failed"].append(name)


def test_preflight_requires_platform_version(pipe):
    result = pipe["runner"].run("deploy.yml", {"platform_version": ""})
    assert result.rc != 0
    assert "platform_version is required" in result.output, result.tail()
    # It fails before any cluster call: the first task that talks to Kubernetes never ran.
    assert "Check that the cluster answers" not in result.output


def test_production_requires_confirmation(pipe):
    result = pipe["runner"].run(
        "deploy.yml",
        {
            "platform_version": "1.0.0",
            "platform_environment": "production",
            "deploy_confirm": "no",
        },
    )
    assert result.rc != 0
    assert "requires an explicit confirmation" in result.output, result.tail()
    assert "deploy_confirm=true" in result.output


def test_first_deploy(pipe):
    try:
        result = pipe["runner"].run("deploy.yml", {"platform_version": "1.0.0"}, ["-vvv"])
        record_figure(
            "first deploy of 1.0.0 (build, apply, wait, verify)",
            f"{result.seconds:.1f} s",
        )
        assert result.rc == 0, result.tail()
        assert wait_for_version(VERSION_URL, "1.0.0") == "1.0.0"

        history = _history(pipe)
        assert len(history) == 1
        record = history[0]
        assert record["version"] == "1.0.0" and record["result"] == "succeeded"
        assert record["commit"] and record["who"] and record["started"] and record["finished"]
        assert float(record["duration_seconds"]) > 0 and "wait" in record["timings"]

        backend = _deployment(pipe, "backend")
        assert "version 1.0.0" in backend["metadata"]["annotations"]["kubernetes.io/change-cause"]
        env_from = backend["spec"]["template"]["spec"]["containers"][0].get("envFrom", [])
        pipe["config_v1"] = [e["configMapRef"]["name"] for e in env_from if "configMapRef" in e]
        assert pipe["config_v1"], "the backend does not read the content-hashed ConfigMap"

        events = [e["event"] for e in pipe["webhook"].events]
        assert events == ["success"], events
        assert pipe["webhook"].events[0]["version"] == "1.0.0"

        _no_secret_in(pipe, result.output, "the -vvv output of the first deploy")
        for path in (pipe["workdir"] / "backups").rglob("*"):
            if path.is_file():
                _no_secret_in(pipe, path.read_text(errors="replace"), str(path))
        record_figure(
            "secret values checked absent from -vvv output and backups",
            str(len(pipe["secrets"])),
        )
    except BaseException:
        _mark(pipe, "test_first_deploy")
        raise


def test_second_deploy_changes_nothing(pipe):
    try:
        result = pipe["runner"].run("deploy.yml", {"platform_version": "1.0.0"})
        record_figure("second deploy of 1.0.0 (nothing to change)", f"{result.seconds:.1f} s")
        assert result.rc == 0, result.tail()
        changed = result.changed_tasks()
        record_figure("second deploy: tasks reported changed", json.dumps(changed))
        # The image role rebuilding an unchanged version is the image role's own issue (it gives new
        # digests, so the app's pod template changes with it); every other step must change nothing.
        rebuilt = any(name.startswith("intelligent_agent.platform.image") for name in changed)
        allowed = ("intelligent_agent.platform.image", "intelligent_agent.platform.app") if rebuilt else ()
        unexpected = [name for name in changed if not name.startswith(allowed)] if allowed else changed
        assert unexpected == [], f"tasks reported changed: {changed}"
        if not rebuilt:
            # Nothing released: no second record, and the summary says why.
            assert [r["version"] for r in _history(pipe)] == ["1.0.0"], _history(pipe)
            assert "Nothing changed: 1.0.0 already serves" in result.output, result.tail()
        assert _history(pipe)[-1]["result"] == "succeeded"
    except BaseException:
        _mark(pipe, "test_second_deploy_changes_nothing")
        raise


def test_rolling_update_lock_and_concurrency(pipe):
    """1.0.0 -> 2.0.0 under load, taking over a stale lock, while a concurrent deploy is refused."""
    try:
        # A lock left by a killed run: renewed two hours ago, 60 s lease.
        stale = (datetime.now(UTC) - timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%S.000000Z")
        pipe["kubectl"](
            "-n",
            NAMESPACE,
            "patch",
            "lease",
            LOCK,
            "--type=merge",
            "-p",
            json.dumps(
                {
                    "spec": {
                        "holderIdentity": "killed-run@ci/0",
                        "leaseDurationSeconds": 60,
                        "acquireTime": stale,
                        "renewTime": stale,
                    }
                }
            ),
        )

        config_v2 = dict(pipe["config"], LOG_LEVEL="warning")
        load = Load(VERSION_URL, rate=20)
        load.start()
        first = pipe["runner"].start("deploy.yml", {"platform_version": "2.0.0", "config_overrides": config_v2})

        holder, deadline = "", time.monotonic() + 240
        while time.monotonic() < deadline and first[0].poll() is None:
            lease = pipe["kjson"]("-n", NAMESPACE, "get", "lease", LOCK)
            holder = lease["spec"].get("holderIdentity") or ""
            if holder and holder != "killed-run@ci/0":
                break
            time.sleep(0.5)
        assert holder and holder != "killed-run@ci/0", "the first deploy never took over the stale lock"

        # A concurrent deploy of images that are in the registry (1.0.0: 2.0.0's are still being built by the first
        # run, and a tag that does not resolve is refused before the lock is even asked for).
        second = pipe["runner"].run("deploy.yml", {"platform_version": "1.0.0", "image_build": "false"})
        first_still_running = first[0].poll() is None
        result = pipe["runner"].finish(first)
        # The old pods keep answering while they drain (preStop) and until every proxy on the path has dropped
        # them: the load goes on until the new version answers, so that it sees the whole switch.
        switched = load.wait_for_version("2.0.0", timeout=30)
        load.stop()
        record_figure("new version answering through the frontend, s after the deploy returned", f"{switched:.1f} s")

        record_figure("concurrent deploy refused after", f"{second.seconds:.1f} s")
        assert second.rc != 0
        assert "Another deploy holds the lock" in second.output and holder in second.output, second.tail()
        assert first_still_running, "the refused deploy waited for the first one instead of failing fast"

        record_figure(
            "rolling update 1.0.0 -> 2.0.0 (build, apply, wait, verify)",
            f"{result.seconds:.1f} s",
        )
        assert result.rc == 0, result.tail()
        assert "killed-run@ci/0" in result.output and "taking it over" in result.output

        total = load.ok + len(load.failures)
        record_figure(
            "requests during the rolling update (failed / total)",
            f"{len(load.failures)} / {total}",
        )
        record_figure("versions answered during the rolling update", json.dumps(load.versions))
        assert total > 100
        assert load.failures == [], load.failures[:10]
        assert load.versions.get("1.0.0") and load.versions.get("2.0.0"), load.versions
        assert wait_for_version(VERSION_URL, "2.0.0") == "2.0.0"
        backend = _deployment(pipe, "backend")
        env_from = backend["spec"]["template"]["spec"]["containers"][0].get("envFrom", [])
        assert [e["configMapRef"]["name"] for e in env_from if "configMapRef" in e] != pipe["config_v1"]
    except BaseException:
        _mark(pipe, "test_rolling_update_lock_and_concurrency")
        raise


def test_rollback_to_revision_restores_version_and_config(pipe):
    try:
        revisions = {}
        for rs in pipe["kjson"]("-n", NAMESPACE, "get", "replicasets")["items"]:
            labels = rs["spec"]["template"]["metadata"].get("labels", {})
            if labels.get("app.kubernetes.io/name") == "backend" and labels.get("app.kubernetes.io/version") == "1.0.0":
                revisions["backend"] = rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"]
        assert revisions.get("backend"), "no backend revision of 1.0.0"

        result = pipe["runner"].run(
            "rollback.yml",
            {"revision": str(revisions["backend"]), "components": "backend"},
        )
        record_figure("rollback.yml to a given revision (backend)", f"{result.seconds:.1f} s")
        assert result.rc == 0, result.tail()
        assert "Release history" in result.output and "revision" in result.output
        # The frontend is the 2.0.0 nginx; the version comes from the backend behind it.
        assert wait_for_version(VERSION_URL, "1.0.0") == "1.0.0"

        backend = _deployment(pipe, "backend")
        env_from = backend["spec"]["template"]["spec"]["containers"][0].get("envFrom", [])
        names = [e["configMapRef"]["name"] for e in env_from if "configMapRef" in e]
        assert names == pipe["config_v1"], "the rollback did not bring the 1.0.0 configuration back"
        cm = pipe["kjson"]("-n", NAMESPACE, "get", "configmap", names[0])
        assert cm["data"].get("LOG_LEVEL") == pipe["config"].get("LOG_LEVEL")
        assert _history(pipe)[-1]["kind"] == "rollback"
    except BaseException:
        _mark(pipe, "test_rollback_to_revision_restores_version_and_config")
        raise


def _assert_rolled_back(pipe, result, reasons: tuple[str, ...], label: str) -> None:
    assert result.rc != 0, result.tail()
    assert "ROLLED-BACK" in result.output, result.tail()
    assert any(reason in result.output for reason in reasons), result.tail()
    assert wait_for_version(VERSION_URL, "1.0.0", timeout=30) == "1.0.0"
    record = _history(pipe)[-1]
    assert record["result"] == "rolled-back", record
    assert any(reason in record["cause"] for reason in reasons), record["cause"]
    recovery = float(record["rollback"]["recovery_seconds"])
    record_figure(
        f"{label}: failure detected (start of the failed rollout -> wait failed)",
        f"{float(record['failure']['detected_seconds']):.1f} s",
    )
    record_figure(
        f"{label}: start of the failed rollout -> previous version verified healthy (target < 60 s)",
        f"{recovery:.1f} s",
    )
    record_figure(
        f"{label}: whole failed deploy incl. build and rollback",
        f"{result.seconds:.1f} s",
    )
    assert recovery < 180, f"recovery took {recovery} s"


def test_crashing_release_is_rolled_back(pipe):
    try:
        extra = {
            "platform_version": "2.1.0",
            "image_component_overrides": {"backend": {"build_args": {"BROKEN": "crash"}}},
        }
        extra["image_component_overrides"] = _image_overrides_with(extra["image_component_overrides"])
        result = pipe["runner"].run("deploy.yml", extra)
        _assert_rolled_back(
            pipe,
            result,
            ("CrashLoopBackOff", "restarted", "Error"),
            "crashing backend 2.1.0",
        )
        # The crashing backend printed its whole environment, Secret included (BROKEN=crash): the log tail
        # is reported, redacted, and no secret value reaches the output, the history or the webhook.
        assert "backend: env " in result.output, result.tail()
        # The tail holds the last lines of the dump (alphabetical): REDIS_PASSWORD, REDIS_URL, SENDGRID_API_KEY...
        assert re.search(r"backend: env [A-Z_]*(PASSWORD|SECRET|KEY)=\*{8}", result.output), result.tail()
        _no_secret_in(pipe, result.output, "the output of the crashed deploy")
        _no_secret_in(pipe, json.dumps(_history(pipe)), "the release history")
        _no_secret_in(pipe, json.dumps(pipe["webhook"].events), "the webhook notifications")
    except BaseException:
        _mark(pipe, "test_crashing_release_is_rolled_back")
        raise


def test_unpullable_release_is_rolled_back(pipe):
    try:
        result = pipe["runner"].run(
            "deploy.yml",
            {
                "platform_version": "9.9.9-missing",
                "image_build": "false",
                # A missing tag is refused before any write; a digest is deployed as given (as CI's are).
                "platform_images": {
                    name: f"127.0.0.1:5000/unpullable/{name}@sha256:{'0' * 64}" for name in ("frontend", "backend")
                },
            },
            ["-vvv"],
        )
        _assert_rolled_back(
            pipe,
            result,
            ("ImagePullBackOff", "ErrImagePull"),
            "unpullable 9.9.9-missing",
        )
        _no_secret_in(pipe, result.output, "the -vvv output of the failed deploy")
        events = [e["event"] for e in pipe["webhook"].events]
        assert events[-1] == "rollback", events
        assert "ImagePull" in json.dumps(pipe["webhook"].events[-1]), pipe["webhook"].events[-1]
    except BaseException:
        _mark(pipe, "test_unpullable_release_is_rolled_back")
        raise


def test_history_lists_every_release(pipe):
    result = pipe["runner"].run("history.yml", {"history_limit": "20"})
    assert result.rc == 0, result.tail()
    records = _history(pipe)
    summary = [(r.get("kind", "deploy"), r["version"], r["result"]) for r in records]
    # The second deploy of 1.0.0 changed nothing and is not recorded (unless the image role rebuilt it).
    summary = [entry for index, entry in enumerate(summary) if index == 0 or entry != summary[index - 1]]
    assert summary == [
        ("deploy", "1.0.0", "succeeded"),
        ("deploy", "2.0.0", "succeeded"),
        ("rollback", "1.0.0", "rolled-back"),
        ("deploy", "2.1.0", "rolled-back"),
        ("deploy", "9.9.9-missing", "rolled-back"),
    ], summary
    for version in ("1.0.0", "2.0.0", "2.1.0", "9.9.9-missing"):
        assert version in result.output
    assert "rolled-back" in result.output and "succeeded" in result.output


def _image_overrides_with(extra: dict) -> dict:
    """The inventory's image_component_overrides (base images) deep-merged with the test's."""
    merged = json.loads(json.dumps(local_inventory_vars().get("image_component_overrides") or {}))
    for name, fields in extra.items():
        target = merged.setdefault(name, {})
        for key, value in fields.items():
            if isinstance(value, dict):
                target.setdefault(key, {}).update(value)
            else:
                target[key] = value
    return merged


def test_cleanup_leaves_no_lock(pipe):
    lease = pipe["kjson"]("-n", NAMESPACE, "get", "lease", LOCK)
    assert not lease["spec"].get("holderIdentity"), lease["spec"]
