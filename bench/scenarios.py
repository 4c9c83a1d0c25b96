"""The six scenarios of make bench. Each appends Rows (bench.stats) to the context and returns raw
details for the JSON file. The driver (bench.run) prepares the namespaces, peers and watchers."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.cluster import ROOT, VENV_BIN, Kube, Load, Proc, Watcher
from bench.peers import COMPONENTS, Peer
from bench.stats import Row
from bench.timeline import deploy_timings, task_profile, version_images


@dataclass
class Context:
    kube: Kube
    workdir: Path
    logdir: Path
    versions: dict[str, str]  # a, b, crash, missing
    template_images: dict[str, tuple[str, ...]]  # per component, images of version a
    peers: list[Peer] = field(default_factory=list)  # deploy.yml, kubectl, helm, kubernetes.core
    watchers: dict[str, Watcher] = field(default_factory=dict)  # namespace -> watcher
    current: dict[str, str] = field(default_factory=dict)  # namespace -> version it serves
    rows: list[Row] = field(default_factory=list)
    details: dict = field(default_factory=dict)
    fail_timeout: int = 60
    frontend_urls: dict[str, str] = field(default_factory=dict)  # namespace -> http://127.0.0.1:<port>

    def row(self, scenario: str, peer: str, measure: str, **kwargs) -> Row:
        for row in self.rows:
            if (row.scenario, row.peer, row.measure) == (scenario, peer, measure):
                return row
        row = Row(scenario, peer, measure, **kwargs)
        self.rows.append(row)
        return row

    def images(self, version: str) -> dict[str, tuple[str, ...]]:
        return version_images(self.template_images, self.versions["a"], version)

    def log(self, message: str) -> None:
        print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)

    def cluster_ready(self) -> None:
        """Before a measured run: the shared cluster answers (another engineer may restart it)."""
        waited = self.kube.wait_ready()
        if waited > 1:
            self.log(f"  waited {waited:.0f} s for the apiserver (restarted by someone else?)")
            self.details.setdefault("apiserver_waits_s", []).append(round(waited, 1))

    def disturbed(self, since: float) -> bool:
        """After a run: True when the apiserver was unreachable at some point since `since` (someone restarted
        the shared cluster) or is now; the run is then repeated once the apiserver is back."""
        errors = [t for w in self.watchers.values() for t in w.errors if t >= since]
        if not errors and self.kube.ready():
            return False
        self.log("  the apiserver was unreachable during the run (restarted by someone else?): repeating the run")
        self.details.setdefault("runs_repeated_after_apiserver_outage", 0)
        self.details["runs_repeated_after_apiserver_outage"] += 1
        self.cluster_ready()
        time.sleep(5)  # let the watchers and controllers catch up
        self.free_deploy_lock()
        return True

    def free_deploy_lock(self) -> None:
        """deploy.yml runs one at a time here: a deploy lock still held between runs was left by a run the
        apiserver outage interrupted (it could not free it). Recorded, then deleted."""
        for peer in self.peers:
            if peer.key != "deploy.yml":
                continue
            lease = self.kube.run(
                "-n",
                peer.namespace,
                "get",
                "lease",
                "intelligent-agent-deploy-lock",
                "-o",
                "jsonpath={.spec.holderIdentity}",
                check=False,
            )
            if lease.returncode == 0 and lease.stdout.strip():
                self.log(
                    f"  deleting the deploy lock an interrupted run left in {peer.namespace}"
                    f" (holder {lease.stdout.strip()})"
                )
                self.details.setdefault("deploy_locks_left_by_interrupted_runs", []).append(lease.stdout.strip())
                self.kube.run("-n", peer.namespace, "delete", "lease", "intelligent-agent-deploy-lock", check=False)


def _since(value: float | None, origin: float | None) -> float | None:
    if value is None or origin is None:
        return None
    return round(value - origin, 2)


def _other(ctx: Context, namespace: str) -> str:
    return ctx.versions["b"] if ctx.current[namespace] == ctx.versions["a"] else ctx.versions["a"]


def successful_deploy(
    ctx: Context, peer: Peer, version: str, scenario: str, runs_detail: list, load_url: str = ""
) -> dict:
    """Run one deploy of `version` with `peer` and measure it (optionally under HTTP load); repeated once
    when it failed because the apiserver went away."""
    ctx.cluster_ready()
    started = time.monotonic()
    detail = _deploy_once(ctx, peer, version, load_url)
    if ctx.disturbed(started):
        detail = _deploy_once(ctx, peer, version, load_url)
        detail["repeated_after_apiserver_outage"] = True
    if detail["rc"] != 0:
        ctx.log(f"  {peer.key}: FAILED (rc {detail['rc']}), see {detail['log']}")
    ctx.current[peer.namespace] = version
    runs_detail.append(detail)
    return detail


def _deploy_once(ctx: Context, peer: Peer, version: str, load_url: str) -> dict:
    watcher = ctx.watchers[peer.namespace]
    load = None
    if load_url:
        load = Load(load_url)
        load.start()
        time.sleep(3)
    baseline = watcher.generations()
    proc: Proc = peer.deploy(version).wait()
    changed = watcher.timeline.first_change(proc.started, baseline)
    done = watcher.wait_complete(
        COMPONENTS, ctx.images(version), since=proc.started, timeout=120 if proc.rc == 0 else 5
    )
    detail = {
        "peer": peer.key,
        "namespace": peer.namespace,
        "version": version,
        "rc": proc.rc,
        "command_s": round(proc.seconds, 2),
        "first_change_s": _since(changed, proc.started),
        "rollout_complete_s": _since(done, proc.started),
        "log": str(proc.log),
    }
    if peer.key == "deploy.yml":
        detail["deploy_timings"] = deploy_timings(proc.lines)
        detail["task_profile"] = task_profile(proc.lines, proc.ended)
    if load:
        # Keep the load on past the end of the command: terminating pods drain during their preStop.
        time.sleep(8)
        load.stop()
        detail.update(
            requests=load.total, failed=len(load.failures), failures=load.failures[:10], versions=load.versions
        )
    if proc.rc != 0:
        ctx.log(proc.tail(15))
    return detail


def scenario_new_version(ctx: Context, runs: int) -> None:
    ctx.log(f"scenario 1: new version, images present, both components ({runs} runs per peer)")
    details = ctx.details.setdefault("1", [])
    for run in range(runs):
        for peer in ctx.peers:
            version = _other(ctx, peer.namespace)
            d = successful_deploy(ctx, peer, version, "1", details)
            ok = d["rc"] == 0
            ctx.row("1 new version", peer.key, "command").add(d["command_s"] if ok else None)
            rollout = None
            if ok and d["first_change_s"] is not None and d["rollout_complete_s"] is not None:
                rollout = round(d["rollout_complete_s"] - d["first_change_s"], 2)
            ctx.row("1 new version", peer.key, "apply -> rollout complete").add(rollout)
            ctx.log(
                f"  run {run + 1} {peer.key:16s} -> {version}: {d['command_s']:.1f} s (rollout {rollout} s after apply)"
            )


def scenario_noop(ctx: Context, runs: int) -> None:
    ctx.log(f"scenario 2: no-op redeploy of the serving version ({runs} runs per peer)")
    details = ctx.details.setdefault("2", [])
    for run in range(runs):
        for peer in ctx.peers:
            version = ctx.current[peer.namespace]
            d = successful_deploy(ctx, peer, version, "2", details)
            ctx.row("2 no-op redeploy", peer.key, "command").add(d["command_s"] if d["rc"] == 0 else None)
            ctx.log(f"  run {run + 1} {peer.key:16s} -> {version}: {d['command_s']:.1f} s")


def _failing_run(ctx: Context, peers: list[Peer], bad_version: str, timeout: int | None) -> list[dict]:
    """Start a failing deploy with every peer at once (each in its own namespace), wait for all, and
    measure when each reported the failure and when its previous version was back."""
    starts = []
    for peer in peers:
        watcher = ctx.watchers[peer.namespace]
        previous = ctx.current[peer.namespace]
        baseline = watcher.generations()
        proc = peer.deploy_failing(bad_version, timeout)
        starts.append((peer, previous, baseline, proc))
    for _, _, _, proc in starts:
        proc.wait(timeout=900)
    out = []
    for peer, previous, baseline, proc in starts:
        watcher = ctx.watchers[peer.namespace]
        changed = watcher.timeline.first_change(proc.started, baseline)
        reported = peer.failure_time(proc)
        # Back on the previous version: both Deployments complete again with the previous images. Every peer
        # has done its own rollback when its command ends; 20 s more is plenty for the pods to follow.
        patience = max(1.0, (proc.ended or time.monotonic()) + 20 - time.monotonic())
        back = watcher.wait_complete(
            COMPONENTS, ctx.images(previous), since=(changed or proc.started) + 0.01, timeout=patience
        )
        repaired = False
        if back is None:
            repaired = True
            ctx.log(f"  {peer.key} in {peer.namespace} is not back on {previous}: setting the images back")
            for name in COMPONENTS:
                ctx.kube.run(
                    "-n",
                    peer.namespace,
                    "set",
                    "image",
                    f"deployment/{name}",
                    f"{name}={ctx.images(previous)[name][0]}",
                    check=False,
                )
            watcher.wait_complete(COMPONENTS, ctx.images(previous), timeout=180)
        out.append(
            {
                "peer": peer.key,
                "namespace": peer.namespace,
                "version": bad_version,
                "previous": previous,
                "timeout": timeout,
                "rc": proc.rc,
                "command_s": round(proc.seconds, 2),
                "first_change_s": _since(changed, proc.started),
                "failure_reported_after_apply_s": _since(reported, changed),
                "previous_back_after_apply_s": None if repaired else _since(back, changed),
                "repaired_by_bench": repaired,
                "log": str(proc.log),
            }
        )
        if proc.rc == 0:
            ctx.log(f"  {peer.key}: the failing release SUCCEEDED?! see {proc.log}")
    return out


def _label(peer: Peer, timeout: int | None) -> str:
    if peer.key == "deploy.yml":
        return "deploy.yml (automatic rollback)"
    if peer.key == "helm":
        return (
            f"helm --rollback-on-failure --timeout {timeout}s" if timeout else "helm --rollback-on-failure (default 5m)"
        )
    if peer.key == "kubectl":
        return f"kubectl rollout status --timeout {timeout}s + undo"
    return f"kubernetes.core k8s wait_timeout {timeout} + k8s_rollback"


def add_failure_rows(ctx: Context, scenario: str, results: list[dict], labels: dict[str, str], note: str = "") -> None:
    for r in results:
        peer = labels[r["namespace"]]
        ok = r["rc"] != 0
        ctx.row(scenario, peer, "failure reported, s after apply", note=note).add(
            r["failure_reported_after_apply_s"] if ok else None
        )
        back = ctx.row(scenario, peer, "previous version back, s after apply", note=note)
        back.add(r["previous_back_after_apply_s"] if ok else None)
        repaired = sum(
            1
            for x in ctx.details.get(scenario.split()[0], [])
            if x["namespace"] == r["namespace"] and x["repaired_by_bench"]
        )
        if repaired:
            back.note = f"not back by itself in {repaired} of {len(back.values)} runs (the bench set the images back)"
        ctx.row(scenario, peer, "whole command", note=note).add(r["command_s"])


def scenario_failure(ctx: Context, key: str, title: str, bad_version: str, runs: int) -> None:
    ctx.log(f"scenario {key}: {title} ({runs} runs; the four peers run at the same time, each in its namespace)")
    details = ctx.details.setdefault(key, [])
    labels = {peer.namespace: _label(peer, ctx.fail_timeout) for peer in ctx.peers}
    for run in range(runs):
        ctx.cluster_ready()
        started = time.monotonic()
        results = _failing_run(ctx, ctx.peers, bad_version, ctx.fail_timeout)
        if ctx.disturbed(started):
            results = _failing_run(ctx, ctx.peers, bad_version, ctx.fail_timeout)
        details.extend(results)
        add_failure_rows(ctx, f"{key} {title}", results, labels)
        for r in results:
            ctx.log(
                f"  run {run + 1} {r['peer']:16s}: failure reported {r['failure_reported_after_apply_s']} s, "
                f"back {r['previous_back_after_apply_s']} s after apply; command {r['command_s']:.1f} s"
            )


def scenario_load(ctx: Context, peers: list[Peer], runs: int) -> None:
    ctx.log(f"scenario 6: requests failed during a rolling update under ~20 requests/s ({runs} runs per peer)")
    details = ctx.details.setdefault("6", [])
    for run in range(runs):
        for peer in peers:
            url = ctx.frontend_urls[peer.namespace] + "/api/version"
            version = _other(ctx, peer.namespace)
            d = successful_deploy(ctx, peer, version, "6", details, load_url=url)
            row = ctx.row("6 rolling update under load", peer.key, "requests failed", unit="", compare=False)
            row.add(d["failed"] if d["rc"] == 0 else None)
            totals = [x["requests"] for x in details if x["peer"] == peer.key]
            failed = [x["failed"] for x in details if x["peer"] == peer.key]
            row.note = f"{sum(failed)} of {sum(totals)} requests failed in all runs"
            row.text = f"{sum(failed)} of {sum(totals)}"
            ctx.log(f"  run {run + 1} {peer.key:16s} -> {version}: {d['failed']} of {d['requests']} requests failed")


SCALE_PREFIX = "bench-scale-"


def _scale_docs(count: int, revision: str) -> list[dict]:
    docs = []
    for index in range(count):
        name = f"scale-{index:03d}"
        docs.append(
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": name, "labels": {"app.kubernetes.io/part-of": "bench-scale"}},
                "spec": {
                    "replicas": 1,
                    "selector": {"matchLabels": {"app": name}},
                    "template": {
                        "metadata": {"labels": {"app": name}, "annotations": {"bench/revision": revision}},
                        "spec": {
                            # The simulated (kwok) nodes: no container really runs.
                            "nodeSelector": {"type": "kwok"},
                            "tolerations": [
                                {"key": "kwok.x-k8s.io/node", "operator": "Exists", "effect": "NoSchedule"}
                            ],
                            "containers": [{"name": "app", "image": "127.0.0.1:5000/pause:3.10"}],
                        },
                    },
                },
            }
        )
    return docs


def scenario_scale(ctx: Context, sizes: list[int], runs: int) -> None:
    ctx.log(f"scenario 5: N Deployments on the kwok nodes, N in {sizes}; the three waiters run at the same time")
    details = ctx.details.setdefault("5", [])
    for size in sizes:
        for run in range(runs):
            namespace = f"{SCALE_PREFIX}{size}-{run + 1}"
            ctx.cluster_ready()
            ctx.kube.run("create", "namespace", namespace)
            watcher = Watcher(ctx.kube.kubeconfig, namespace)
            ctx.watchers[namespace] = watcher
            docs = _scale_docs(size, "1")
            names = [d["metadata"]["name"] for d in docs]
            for doc in docs:
                doc["metadata"]["namespace"] = namespace
            manifest = ctx.logdir / f"{namespace}.json"
            manifest.write_text(json.dumps(docs))
            kubectl = f"{ctx.kube.kubectl_bin} -n {namespace}"
            names_text = " ".join(names)
            applied = time.monotonic()
            ctx.kube.apply(docs, field_manager="bench-scale", namespace=namespace)
            apply_s = time.monotonic() - applied
            log = ctx.logdir / f"{namespace}"
            waiters = {
                "rollout_wait (one call)": Proc(
                    "rollout_wait",
                    [
                        str(VENV_BIN / "ansible-playbook"),
                        str(ROOT / "bench/playbooks/rollout_wait.yml"),
                        "-e",
                        json.dumps({"bench_namespace": namespace, "bench_names": names}),
                    ],
                    ctx.kube.env,
                    Path(f"{log}-rollout_wait.log"),
                ),
                "kubectl rollout status (each)": Proc(
                    "kubectl",
                    [
                        "bash",
                        "-c",
                        f"set -e; for n in {names_text};"
                        f" do {kubectl} rollout status deployment/$n --timeout=600s >/dev/null; done",
                    ],
                    ctx.kube.env,
                    Path(f"{log}-kubectl.log"),
                ),
                "kubernetes.core k8s wait": Proc(
                    "kubernetes.core",
                    [
                        str(VENV_BIN / "ansible-playbook"),
                        str(ROOT / "bench/playbooks/k8s_deploy.yml"),
                        "-e",
                        json.dumps(
                            {
                                "bench_manifest_file": str(manifest),
                                "bench_namespace": namespace,
                                "bench_wait_timeout": 600,
                            }
                        ),
                    ],
                    ctx.kube.env,
                    Path(f"{log}-k8s.log"),
                ),
            }
            for proc in waiters.values():
                proc.wait(timeout=900)
            completed = watcher.timeline.completion_times(names, applied)
            last = max(completed.values()) if len(completed) == len(names) else None
            scenario = f"5 scale N={size}"
            ctx.row(scenario, "(cluster: last rollout complete)", "s after apply", compare=False).add(
                _since(last, applied)
            )
            entry = {
                "size": size,
                "run": run + 1,
                "apply_s": round(apply_s, 2),
                "last_complete_s": _since(last, applied),
                "waiters": {},
            }
            for label, proc in waiters.items():
                ok = proc.rc == 0
                ctx.row(scenario, label, "wait returned, s after apply").add(
                    _since(proc.ended, applied) if ok else None
                )
                ctx.row(scenario, label, "overhead after last rollout complete").add(
                    _since(proc.ended, last) if ok else None
                )
                entry["waiters"][label] = {
                    "rc": proc.rc,
                    "returned_s": _since(proc.ended, applied),
                    "log": str(proc.log),
                }
                if not ok:
                    ctx.log(f"  {label}: FAILED (rc {proc.rc}), see {proc.log}\n{proc.tail(10)}")
            details.append(entry)
            ctx.log(
                f"  N={size} run {run + 1}: last rollout complete {entry['last_complete_s']} s after apply; "
                + ", ".join(f"{k} {v['returned_s']} s" for k, v in entry["waiters"].items())
            )
            watcher.stop()
