"""The pure helpers of plugins/module_utils/live_objects.py: backup manifests and workload summaries."""

from __future__ import annotations

from ansible_collections.intelligent_agent.platform.plugins.module_utils import live_objects as lo


def deployment(name, revision="3", version="1.2.0", ready=2, replicas=3, cause=None):
    annotations = {"deployment.kubernetes.io/revision": revision}
    if cause:
        annotations["kubernetes.io/change-cause"] = cause
    return {
        "kind": "Deployment",
        "metadata": {
            "name": name,
            "annotations": annotations,
            "resourceVersion": "9",
            "uid": "u",
            "managedFields": [{}],
            "creationTimestamp": "t",
            "generation": 4,
            "labels": {"a": "b"},
        },
        "spec": {
            "replicas": replicas,
            "template": {
                "metadata": {"labels": {"app.kubernetes.io/version": version}},
                "spec": {"containers": [{"image": "reg/x@sha256:1"}]},
            },
        },
        "status": {"readyReplicas": ready},
    }


def test_a_backup_manifest_has_no_status_and_no_server_bookkeeping():
    clean = lo.without_server_fields(deployment("backend"))
    assert "status" not in clean
    assert clean["metadata"] == {
        "name": "backend",
        "labels": {"a": "b"},
        "annotations": {"deployment.kubernetes.io/revision": "3"},
    }
    assert clean["spec"]["replicas"] == 3


def test_a_workload_summary_reads_revision_version_images_and_readiness():
    assert lo.workload_summary(deployment("backend", cause="version 1.2.0")) == {
        "revision": 3,
        "version": "1.2.0",
        "images": ["reg/x@sha256:1"],
        "replicas": 3,
        "ready": 2,
        "change_cause": "version 1.2.0",
        "rolled_out": False,
    }


def test_a_new_deployment_without_revision_or_status_reads_as_revision_0_and_nothing_ready():
    bare = {"metadata": {"name": "new"}, "spec": {"template": {"spec": {"containers": []}}}}
    assert lo.workload_summary(bare) == {
        "revision": 0,
        "version": "unknown",
        "images": [],
        "replicas": 1,
        "ready": 0,
        "change_cause": "",
        "rolled_out": False,
    }


def rolled(generation=4, observed=4, replicas=3, updated=3, total=3, available=3):
    return {
        "metadata": {"generation": generation},
        "spec": {"replicas": replicas},
        "status": {
            "observedGeneration": observed,
            "updatedReplicas": updated,
            "replicas": total,
            "availableReplicas": available,
        },
    }


def test_a_rollout_is_complete_only_when_every_replica_runs_the_current_template_and_is_available():
    assert lo.rolled_out(rolled())
    assert not lo.rolled_out(rolled(observed=3))  # the controller has not seen the current spec
    assert not lo.rolled_out(rolled(updated=2, total=4))  # an old replica is still there (surge)
    assert not lo.rolled_out(rolled(updated=3, total=4))  # new ones all there, an old one not gone yet
    assert not lo.rolled_out(rolled(available=2))  # a new replica is not available (crash loop, probes)
    assert lo.rolled_out(rolled(replicas=0, updated=0, total=0, available=0))


def test_a_garbled_revision_counts_as_0():
    assert lo.workload_summary(deployment("x", revision="abc"))["revision"] == 0


def test_workloads_are_restricted_to_the_selected_components():
    deployments = [deployment("backend"), deployment("frontend")]
    assert sorted(lo.workloads_of(deployments)) == ["backend", "frontend"]
    assert sorted(lo.workloads_of(deployments, ["frontend"])) == ["frontend"]


def test_backup_text_is_yaml_documents_with_apiversion_and_kind_first_after_the_header():
    import yaml

    objects = [
        {"metadata": {"name": "web"}, "spec": {"ports": [80]}, "kind": "Service", "apiVersion": "v1"},
        {"metadata": {"name": "conf"}, "data": {"a": "1"}, "kind": "ConfigMap", "apiVersion": "v1"},
    ]
    text = lo.backup_text(["Live manifests of ns", "Restore with: kubectl apply"], objects)
    header = "# Live manifests of ns\n# Restore with: kubectl apply\n"
    assert text.startswith(header + "---\napiVersion: v1\nkind: Service\n")
    assert list(yaml.safe_load_all(text)) == objects


def test_secret_names_text_lists_names_and_never_values():
    text = lo.secret_names_text(["app-secrets-1a", "registry"])
    assert text.splitlines()[1:] == ["app-secrets-1a", "registry"]
    assert text.startswith("# Secrets are not backed up in plain text")
