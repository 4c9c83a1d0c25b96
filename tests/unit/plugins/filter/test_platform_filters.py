import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.intelligent_agent.platform.plugins.filter.platform import FilterModule

FILTERS = FilterModule().filters()


def test_every_filter_is_registered():
    assert set(FILTERS) == {
        "content_hash",
        "hpa_replica_plan",
        "image_ref",
        "parse_image_ref",
        "platform_status",
        "prune_pending",
        "redact",
        "rollout_summary",
    }


def test_filters_turn_bad_input_into_filter_errors():
    with pytest.raises(AnsibleFilterError, match="image_ref"):
        FILTERS["image_ref"]("nginx:1", "2")
    with pytest.raises(AnsibleFilterError, match="parse_image_ref"):
        FILTERS["parse_image_ref"]("")
    with pytest.raises(AnsibleFilterError, match="prune_pending"):
        FILTERS["prune_pending"]([{"kind": "ConfigMap"}], [], {}, [{"kind": "ConfigMap"}])
    with pytest.raises(AnsibleFilterError, match="content_hash"):
        FILTERS["content_hash"]({}, 0)
    with pytest.raises(AnsibleFilterError, match="rollout_summary"):
        FILTERS["rollout_summary"]("nope")


def test_rollout_summary_accepts_the_whole_result():
    result = {"workloads": [{"name": "frontend", "state": "complete", "durations": {"complete_s": 12.34}}]}
    assert FILTERS["rollout_summary"](result) == "frontend: complete in 12.3s"
