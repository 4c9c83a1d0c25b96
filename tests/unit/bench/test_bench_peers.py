"""make bench's peers get the same rendered manifests: the version substitution, the kind order for the
kubernetes.core peer, and the Helm chart made from them."""

from __future__ import annotations

import json

import pytest

from bench.peers import by_kind, with_version, write_chart

VERSION = "3.0.0-bench"


def rendered():
    labels = {"app.kubernetes.io/name": "frontend", "app.kubernetes.io/version": VERSION}
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "bench-x"}},
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "frontend", "namespace": "bench-x", "labels": labels},
            "spec": {
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {"containers": [{"name": "frontend", "image": f"reg/frontend:{VERSION}"}]},
                }
            },
        },
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "frontend", "namespace": "bench-x"}},
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "config", "namespace": "bench-x"},
            "data": {"A": "1"},
        },
        {"apiVersion": "example.io/v1", "kind": "Widget", "metadata": {"name": "w", "namespace": "bench-x"}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "backend", "namespace": "bench-x"}},
    ]


def test_with_version_changes_image_tags_and_version_labels_only():
    docs = rendered()
    out = with_version(docs, VERSION, "3.1.0-bench")
    deployment = out[1]
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == "reg/frontend:3.1.0-bench"
    assert deployment["metadata"]["labels"]["app.kubernetes.io/version"] == "3.1.0-bench"
    assert deployment["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/version"] == "3.1.0-bench"
    assert out[2:] == docs[2:]
    # The input is not modified.
    assert docs[1]["metadata"]["labels"]["app.kubernetes.io/version"] == VERSION


def test_by_kind_puts_services_and_config_before_workloads():
    kinds = [(d["kind"], d["metadata"]["name"]) for d in by_kind(rendered())]
    assert kinds == [
        ("Namespace", "bench-x"),
        ("ConfigMap", "config"),
        ("Service", "frontend"),
        ("Service", "backend"),
        ("Deployment", "frontend"),
        ("Widget", "w"),
    ]


def test_chart_is_the_rendered_manifests_with_the_version_as_a_value(tmp_path):
    write_chart(tmp_path, rendered(), VERSION)
    assert "apiVersion: v2" in (tmp_path / "Chart.yaml").read_text()
    assert (tmp_path / "values.yaml").read_text() == f'version: "{VERSION}"\n'
    template = (tmp_path / "templates" / "platform.yaml").read_text()
    assert VERSION not in template
    assert template.count("{{ .Values.version }}") == 3
    docs = template.split("\n---\n")
    # The release namespace is Helm's -n: the Namespace object is not in the chart.
    assert [json.loads(d.replace("{{ .Values.version }}", "X"))["kind"] for d in docs] == [
        "Deployment",
        "Service",
        "ConfigMap",
        "Widget",
        "Service",
    ]


def test_chart_refuses_manifests_that_look_like_templates(tmp_path):
    docs = rendered()
    docs[3]["data"]["A"] = "{{ not a template }}"
    with pytest.raises(ValueError, match="Helm template"):
        write_chart(tmp_path, docs, VERSION)
