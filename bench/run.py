"""make bench: set up the peers on the local cluster, run the scenarios, print the table, write the JSON.

Settings (environment):
  BENCH_RUNS=3          runs of scenarios 1 and 2 (per peer)
  BENCH_FAIL_RUNS=2     runs of scenarios 3 and 4 (the four peers at the same time in each run)
  BENCH_LOAD_RUNS=1     runs of scenario 6 (per peer)
  BENCH_SCALE_RUNS=1    runs of scenario 5 (per size)
  BENCH_SCALE_SIZES=10,50,200
  BENCH_SCENARIOS=1,2,3,4,5,6
  BENCH_FAIL_TIMEOUT=60 the timeout given to kubectl, Helm and kubernetes.core in scenarios 3 and 4
  BENCH_HELM_DEFAULT=1  also run helm --rollback-on-failure with its default 5 min timeout, once per
                        failure scenario, in the background from scenario 1 on
  BENCH_PORT_BASE=32100 first NodePort tried for the benchmark's Services (ports in use are skipped)
  BENCH_KEEP=0          1 keeps the bench-* namespaces at the end
"""

from __future__ import annotations

import copy
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import yaml

from bench import scenarios as sc
from bench.cluster import ROOT, VENV_BIN, Kube, Proc, Watcher, cluster_env, digest_reference
from bench.peers import COMPONENTS, DeployPlaybook, Helm, Kubectl, KubernetesCore, by_kind, with_version, write_chart
from bench.stats import compact_table, fmt_duration, format_table, order_rows, rows_json

VERSIONS = {"a": "3.0.0-bench", "b": "3.1.0-bench", "crash": "3.2.0-bench-crash", "missing": "3.9.9-bench-missing"}
PREFIX = "bench-"
SCALE_PREFIX = sc.SCALE_PREFIX
NS = {
    "deploy.yml": "bench-deploy",
    "kubectl": "bench-kubectl",
    "helm": "bench-helm",
    "kubernetes.core": "bench-k8s",
    "helm-default-pull": "bench-helm-default-pull",
    "helm-default-crash": "bench-helm-default-crash",
}


def ours(namespace: str) -> bool:
    """A namespace this benchmark creates (and deletes)."""
    return namespace in NS.values() or namespace.startswith(SCALE_PREFIX)


def setting(name: str, default: str) -> str:
    return os.environ.get(name, default).strip() or default


def inventory() -> dict:
    return yaml.safe_load((ROOT / "inventories/local/group_vars/all/main.yml").read_text()) or {}


def overrides_with_ports(frontend_port: int, backend_port: int) -> dict:
    """The local inventory's component overrides, with the benchmark namespace's NodePorts."""
    out = copy.deepcopy(inventory().get("app_component_overrides") or {})
    for name, port in (("frontend", frontend_port), ("backend", backend_port)):
        out.setdefault(name, {}).setdefault("service", {}).update({"type": "NodePort", "node_port": port})
    return out


def pick_ports(kube: Kube, count: int, base: int) -> list[int]:
    used = kube.used_node_ports()
    ports, port = [], base
    while len(ports) < count:
        if port > 32767:
            raise RuntimeError(f"no {count} free NodePorts from {base}")
        if port not in used:
            ports.append(port)
        port += 1
    return ports


def playbook(ctx: sc.Context, name: str, path: str, variables: dict, what: str) -> Proc:
    varsfile = ctx.logdir / f"{name}-vars.json"
    varsfile.write_text(json.dumps(variables))
    varsfile.chmod(0o600)
    proc = Proc(
        name,
        [str(VENV_BIN / "ansible-playbook"), path, "-i", "inventories/local", "-e", f"@{varsfile}"],
        ctx.kube.env,
        ctx.logdir / f"{name}.log",
    ).wait(timeout=1200)
    if proc.rc != 0:
        raise RuntimeError(f"{what} failed (see {proc.log}):\n{proc.tail(30)}")
    return proc


def build_images(ctx: sc.Context) -> None:
    base = inventory().get("image_component_overrides") or {}
    crash = copy.deepcopy(base)
    crash.setdefault("backend", {}).setdefault("build_args", {})["BROKEN"] = "crash"
    versions = [
        {"version": VERSIONS["a"], "overrides": base},
        {"version": VERSIONS["b"], "overrides": base},
        {"version": VERSIONS["crash"], "overrides": crash},
    ]
    proc = playbook(
        ctx, "setup-images", "bench/playbooks/images.yml", {"bench_image_versions": versions}, "building the images"
    )
    ctx.log(f"images {', '.join(v['version'] for v in versions)} in the local registry ({proc.seconds:.0f} s)")


def learn_digests(ctx: sc.Context) -> None:
    """deploy.yml runs images by digest: the watchers read those as the tags the other peers deploy."""
    tags = {image for version in VERSIONS.values() for images in ctx.images(version).values() for image in images}
    resolved = {tag: digest_reference(tag) for tag in sorted(tags)}
    Watcher.tag_of_digest = {digest: tag for tag, digest in resolved.items() if digest}
    ctx.log(f"digests of {len(Watcher.tag_of_digest)} of {len(tags)} image tags (the missing version has none)")


def render(ctx: sc.Context, targets: dict[str, tuple[int, int]]) -> dict[str, list[dict]]:
    out_dir = ctx.workdir / "manifests"
    out_dir.mkdir(parents=True, exist_ok=True)
    bench_targets = [
        {"namespace": ns, "overrides": overrides_with_ports(*ports), "dest": str(out_dir / f"{ns}.json")}
        for ns, ports in targets.items()
    ]
    proc = playbook(
        ctx,
        "setup-render",
        "bench/playbooks/render.yml",
        {"bench_targets": bench_targets, "platform_version": VERSIONS["a"]},
        "rendering the manifests",
    )
    ctx.log(f"rendered the manifests of {len(targets)} namespaces with the collection's roles ({proc.seconds:.0f} s)")
    return {t["namespace"]: json.loads(Path(t["dest"]).read_text()) for t in bench_targets}


def deploy_vars(ctx: sc.Context, namespace: str, ports: tuple[int, int]) -> dict:
    url = f"http://127.0.0.1:{ports[0]}"
    return {
        "platform_namespace": namespace,
        "app_component_overrides": overrides_with_ports(*ports),
        "image_build": "false",
        "platform_backup_dir": str(ctx.workdir / "backups"),
        "platform_health_checks": [
            {"name": "frontend", "url": f"{url}/health"},
            {"name": "backend-through-frontend", "url": f"{url}/api/version", "json_path": "version"},
        ],
    }


def build_helm(ctx: sc.Context) -> str:
    proc = Proc(
        "build-helm", [str(ROOT / "bench" / "build-helm.sh")], ctx.kube.env, ctx.logdir / "build-helm.log"
    ).wait(1800)
    if proc.rc != 0:
        raise RuntimeError(f"building Helm failed:\n{proc.tail(20)}")
    return proc.lines[-1][1].strip()


def setup(ctx: sc.Context, want_background: bool) -> dict:
    """Everything before the first measured command. Returns the background Helm peers (namespace -> peer)."""
    leftovers = [ns for ns in ctx.kube.namespaces(PREFIX) if ours(ns)]
    if leftovers:
        ctx.log(f"deleting the namespaces a previous run left: {', '.join(leftovers)}")
        left = ctx.kube.delete_namespaces(leftovers, wait_seconds=300)
        if left:
            raise RuntimeError(f"namespaces still terminating after 300 s: {left}")
    helm_bin = build_helm(ctx)
    ctx.log(f"helm: {helm_bin}")
    build_images(ctx)

    namespaces = [NS["deploy.yml"], NS["kubectl"], NS["helm"], NS["kubernetes.core"]]
    if want_background:
        namespaces += [NS["helm-default-pull"], NS["helm-default-crash"]]
    ports = pick_ports(ctx.kube, 2 * len(namespaces), int(setting("BENCH_PORT_BASE", "32100")))
    port_of = {ns: (ports[2 * i], ports[2 * i + 1]) for i, ns in enumerate(namespaces)}
    ctx.frontend_urls = {ns: f"http://127.0.0.1:{p[0]}" for ns, p in port_of.items()}
    ctx.details["namespaces"] = {
        ns: {"frontend_node_port": p[0], "backend_node_port": p[1]} for ns, p in port_of.items()
    }
    ctx.log("namespaces and NodePorts: " + ", ".join(f"{ns} {p[0]}/{p[1]}" for ns, p in port_of.items()))

    rendered = render(ctx, {ns: p for ns, p in port_of.items() if ns != NS["deploy.yml"]})
    template = rendered[NS["kubectl"]]
    ctx.template_images = {
        d["metadata"]["name"]: tuple(c["image"] for c in d["spec"]["template"]["spec"]["containers"])
        for d in template
        if d["kind"] == "Deployment"
    }
    kubectl_images = {name: images[0].replace(VERSIONS["a"], "VERSION") for name, images in ctx.template_images.items()}
    learn_digests(ctx)

    manifests: dict[str, dict[str, Path]] = {}
    for ns, docs in rendered.items():
        manifests[ns] = {}
        for version in VERSIONS.values():
            path = ctx.workdir / "manifests" / f"{ns}-{version}.json"
            path.write_text(json.dumps(by_kind(with_version(docs, VERSIONS["a"], version))))
            path.chmod(0o600)
            manifests[ns][version] = path

    def helm_peer(ns: str) -> Helm:
        chart = ctx.workdir / "charts" / ns
        shutil.rmtree(chart, ignore_errors=True)
        write_chart(chart, rendered[ns], VERSIONS["a"])
        namespace_doc = [d for d in rendered[ns] if d["kind"] == "Namespace"]
        ctx.kube.apply(namespace_doc, field_manager="bench")
        return Helm(ctx.kube, ns, ctx.logdir, helm_bin, chart)

    deploy = DeployPlaybook(
        ctx.kube, NS["deploy.yml"], ctx.logdir, deploy_vars(ctx, NS["deploy.yml"], port_of[NS["deploy.yml"]])
    )
    kubectl = Kubectl(ctx.kube, NS["kubectl"], ctx.logdir, kubectl_images)
    helm = helm_peer(NS["helm"])
    k8s = KubernetesCore(ctx.kube, NS["kubernetes.core"], ctx.logdir, manifests[NS["kubernetes.core"]])
    ctx.peers = [deploy, kubectl, helm, k8s]
    background = {}
    if want_background:
        background = {ns: helm_peer(ns) for ns in (NS["helm-default-pull"], NS["helm-default-crash"])}

    ctx.log(f"first deploy of {VERSIONS['a']} by every peer (at the same time; not measured)")
    started = time.monotonic()
    procs = [
        deploy.setup(VERSIONS["a"]),
        kubectl.setup(with_version(template, VERSIONS["a"], VERSIONS["a"])),
        helm.setup(VERSIONS["a"]),
        k8s.setup(VERSIONS["a"]),
    ] + [peer.setup(VERSIONS["a"]) for peer in background.values()]
    for proc in procs:
        proc.wait(timeout=900)
        if proc.rc != 0:
            raise RuntimeError(f"setup: {proc.name} failed (see {proc.log}):\n{proc.tail(30)}")
    ctx.log(f"every peer serves {VERSIONS['a']} ({time.monotonic() - started:.0f} s)")
    for ns in namespaces:
        ctx.watchers[ns] = Watcher(ctx.kube.kubeconfig, ns)
        ctx.current[ns] = VERSIONS["a"]
        if ctx.watchers[ns].wait_complete(COMPONENTS, ctx.images(VERSIONS["a"]), timeout=120) is None:
            raise RuntimeError(f"{ns} does not serve {VERSIONS['a']} after the setup")
    return background


def start_background(ctx: sc.Context, background: dict) -> dict:
    """helm --rollback-on-failure with its default timeout: once per failure scenario, started now."""
    started = {}
    for ns, peer in background.items():
        bad = VERSIONS["missing"] if ns.endswith("pull") else VERSIONS["crash"]
        watcher = ctx.watchers[ns]
        baseline = watcher.generations()
        started[ns] = (peer, baseline, peer.deploy_failing(bad, None))
    ctx.log(
        "started helm --rollback-on-failure with its default 5 min timeout (unpullable and crashing) in the background"
    )
    return started


def finish_background(ctx: sc.Context, started: dict) -> None:
    for ns, (peer, baseline, proc) in started.items():
        ctx.log(f"waiting for the background {peer.key} in {ns} (default timeout)")
        proc.wait(timeout=900)
        watcher = ctx.watchers[ns]
        changed = watcher.timeline.first_change(proc.started, baseline)
        back = watcher.wait_complete(
            COMPONENTS, ctx.images(VERSIONS["a"]), since=(changed or proc.started) + 0.01, timeout=120
        )
        result = {
            "peer": peer.key,
            "namespace": ns,
            "previous": VERSIONS["a"],
            "timeout": None,
            "rc": proc.rc,
            "command_s": round(proc.seconds, 2),
            "first_change_s": sc._since(changed, proc.started),  # noqa: SLF001 - same module family
            "failure_reported_after_apply_s": sc._since(peer.failure_time(proc), changed),  # noqa: SLF001
            "previous_back_after_apply_s": sc._since(back, changed),  # noqa: SLF001
            "repaired_by_bench": False,
            "log": str(proc.log),
        }
        key, title = ("3", "unpullable image") if ns.endswith("pull") else ("4", "crash-looping release")
        ctx.details.setdefault(key, []).append(result)
        sc.add_failure_rows(
            ctx,
            f"{key} {title}",
            [result],
            {ns: "helm --rollback-on-failure (default 5m)"},
            note="run once, in the background during scenarios 1-4 (its 5 min timeout)",
        )
        ctx.log(
            f"  {ns}: failure reported {result['failure_reported_after_apply_s']} s,"
            f" back {result['previous_back_after_apply_s']} s after apply"
        )


PEER_ORDER = (
    "deploy.yml",
    "rollout_wait",
    "kubectl",
    "helm --rollback-on-failure --timeout",
    "helm",
    "kubernetes.core",
    "(",
)


def deploy_profile(ctx: sc.Context) -> str:
    """Where deploy.yml's time goes in scenario 1: tasks printed, mean per task, the slowest tasks."""
    runs = [d for d in ctx.details.get("1", []) if d["peer"] == "deploy.yml" and d.get("task_profile") and d["rc"] == 0]
    if not runs:
        return ""
    tasks = sorted(d["task_profile"]["tasks"] for d in runs)[len(runs) // 2]
    seconds = sorted(d["task_profile"]["seconds"] for d in runs)[len(runs) // 2]
    slow: dict[str, list[float]] = {}
    for d in runs:
        for item in d["task_profile"]["slowest"]:
            slow.setdefault(item["task"], []).append(item["seconds"])
    top = sorted(slow.items(), key=lambda kv: -sum(kv[1]) / len(runs))[:5]
    ctx.details["deploy_profile"] = {"tasks": tasks, "seconds": seconds, "slowest": {k: v for k, v in top}}
    return (
        f"deploy.yml in scenario 1 (median run): {tasks} tasks in {seconds:.1f} s,"
        f" {seconds / max(tasks, 1):.2f} s per task; slowest: "
        + "; ".join(f"{name.split(' : ')[-1]} {sum(v) / len(runs):.1f} s" for name, v in top)
    )


def machine() -> str:
    load = os.getloadavg()
    return (
        f"{os.cpu_count()} cores, {platform.system()} {platform.release()}, "
        f"load average at the start {load[0]:.1f}/{load[1]:.1f}/{load[2]:.1f}"
    )


def main() -> int:
    started = time.monotonic()
    started_at = datetime.now(UTC)
    wanted = {s.strip() for s in setting("BENCH_SCENARIOS", "1,2,3,4,5,6").split(",")}
    runs = int(setting("BENCH_RUNS", "3"))
    fail_runs = int(setting("BENCH_FAIL_RUNS", "2"))
    load_runs = int(setting("BENCH_LOAD_RUNS", "1"))
    scale_runs = int(setting("BENCH_SCALE_RUNS", "1"))
    sizes = [int(s) for s in setting("BENCH_SCALE_SIZES", "10,50,200").split(",")]
    want_background = setting("BENCH_HELM_DEFAULT", "1") == "1" and bool(wanted & {"3", "4"})

    workdir = ROOT / ".local" / "bench"
    logdir = workdir / "logs" / started_at.strftime("%Y%m%dT%H%M%SZ")
    logdir.mkdir(parents=True, exist_ok=True)
    env_values = cluster_env()
    kube = Kube(env_values, workdir)
    ctx = sc.Context(kube=kube, workdir=workdir, logdir=logdir, versions=VERSIONS, template_images={})
    ctx.fail_timeout = int(setting("BENCH_FAIL_TIMEOUT", "60"))
    ctx.log(f"make bench on {machine()}; logs in {logdir}")
    kube.wait_ready()

    phases: dict[str, float] = {}
    background = {}
    status = 0
    try:
        t = time.monotonic()
        bg_peers = setup(ctx, want_background)
        phases["setup"] = time.monotonic() - t
        if bg_peers:
            background = start_background(ctx, bg_peers)
        steps = [
            ("1", lambda: sc.scenario_new_version(ctx, runs)),
            ("2", lambda: sc.scenario_noop(ctx, runs)),
            ("3", lambda: sc.scenario_failure(ctx, "3", "unpullable image", VERSIONS["missing"], fail_runs)),
            ("4", lambda: sc.scenario_failure(ctx, "4", "crash-looping release", VERSIONS["crash"], fail_runs)),
            ("6", lambda: sc.scenario_load(ctx, ctx.peers[:2], load_runs)),
            ("5", lambda: sc.scenario_scale(ctx, sizes, scale_runs)),
        ]
        for key, step in steps:
            if key == "6" and background:
                finish_background(ctx, background)
                background = {}
            if key in wanted:
                t = time.monotonic()
                step()
                phases[f"scenario {key}"] = time.monotonic() - t
        if background:
            finish_background(ctx, background)
    except Exception as exc:  # noqa: BLE001 - print what was measured, then fail
        ctx.log(f"FAILED: {exc}")
        status = 1
    finally:
        for watcher in ctx.watchers.values():
            watcher.stop()
        if setting("BENCH_KEEP", "0") != "1":
            names = [ns for ns in kube.namespaces(PREFIX) if ours(ns)]
            left = kube.delete_namespaces(names, wait_seconds=20)
            ctx.log(
                f"deleted the namespaces {', '.join(names)}"
                + (f" ({', '.join(left)} still terminating)" if left else "")
            )

    total = time.monotonic() - started
    rows = order_rows(ctx.rows, PEER_ORDER)
    table = format_table(rows)
    summary = (
        f"make bench: {fmt_duration(total)} in all on {machine().split(',')[0]} "
        f"(runs: scenarios 1-2 {runs}, 3-4 {fail_runs}, 5 {scale_runs}, 6 {load_runs}); "
        + ", ".join(f"{k} {fmt_duration(v)}" for k, v in phases.items())
    )
    profile = deploy_profile(ctx)
    compact = compact_table(rows)
    print("\n" + table + "\n\n" + compact + "\n\n" + summary + ("\n" + profile if profile else ""), flush=True)
    result = {
        "started": started_at.isoformat(),
        "total_seconds": round(total, 1),
        "phases_seconds": {k: round(v, 1) for k, v in phases.items()},
        "machine": machine(),
        "versions": VERSIONS,
        "settings": {
            "runs": runs,
            "fail_runs": fail_runs,
            "load_runs": load_runs,
            "scale_runs": scale_runs,
            "scale_sizes": sizes,
            "fail_timeout": ctx.fail_timeout,
            "helm_default": want_background,
        },
        "tools": tool_versions(kube, ctx),
        "rows": rows_json(rows),
        "table": table,
        "compact_table": compact,
        "details": ctx.details,
        "status": "ok" if status == 0 else "failed",
    }
    out = workdir / "results.json"
    out.write_text(json.dumps(result, indent=2))
    (logdir / "results.json").write_text(json.dumps(result, indent=2))
    print(f"results: {out}", flush=True)
    return status


def tool_versions(kube: Kube, ctx: sc.Context) -> dict:
    def first_line(cmd) -> str:
        try:
            out = subprocess.run(cmd, capture_output=True, text=True, env=kube.env, timeout=30, check=False).stdout
            return out.strip().splitlines()[0]
        except (OSError, IndexError, subprocess.SubprocessError):
            return "?"

    import ansible_collections.kubernetes.core as k8s_core  # pylint: disable=import-outside-toplevel

    manifest = Path(list(k8s_core.__path__)[0]) / "MANIFEST.json"
    helm = next((p for p in ctx.peers if isinstance(p, Helm)), None)
    return {
        "kubectl": first_line([kube.kubectl_bin, "version", "--client"]),
        "helm": first_line([helm.helm_bin, "version", "--short"]) if helm else "",
        "ansible-core": first_line([str(VENV_BIN / "ansible"), "--version"]),
        "kubernetes.core": json.loads(manifest.read_text())["collection_info"]["version"],
    }


if __name__ == "__main__":
    sys.exit(main())
