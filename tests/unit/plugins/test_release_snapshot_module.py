"""release_snapshot's reference to an object: what a prune plan reads of it, nothing of its content."""

from ansible_collections.intelligent_agent.platform.plugins.modules import release_snapshot


def test_an_object_reference_keeps_kind_name_and_labels_only():
    configmap = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "config-0a1b", "labels": {"app.kubernetes.io/name": "config"}, "uid": "u-1"},
        "data": {"LOG_LEVEL": "info"},
    }
    assert release_snapshot.object_reference(configmap) == {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "config-0a1b", "labels": {"app.kubernetes.io/name": "config"}},
    }


def test_an_object_without_labels_gets_empty_labels():
    reference = release_snapshot.object_reference({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"}})
    assert reference["metadata"] == {"name": "web", "labels": {}}
