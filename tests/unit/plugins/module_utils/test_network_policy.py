"""external_ip_blocks: NetworkPolicy peers for "outside the cluster" that the API server accepts."""

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.intelligent_agent.platform.plugins.filter.network_policy import FilterModule
from ansible_collections.intelligent_agent.platform.plugins.module_utils.network_policy import (
    NetworkPolicyError,
    external_ip_blocks,
)

PRIVATE = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10"]


def test_the_internet_minus_the_private_ranges():
    assert external_ip_blocks(["0.0.0.0/0"], PRIVATE) == [
        {
            "ipBlock": {
                "cidr": "0.0.0.0/0",
                "except": ["10.0.0.0/8", "100.64.0.0/10", "172.16.0.0/12", "192.168.0.0/16"],
            }
        }
    ]


def test_except_keeps_only_cluster_networks_inside_each_block():
    # The API server rejects an except entry outside its cidr: each block gets only its own.
    peers = external_ip_blocks(["10.0.0.0/8", "203.0.113.0/24"], ["10.96.0.0/12", "10.244.0.0/16", "192.168.0.0/16"])
    assert peers == [
        {"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.96.0.0/12", "10.244.0.0/16"]}},
        {"ipBlock": {"cidr": "203.0.113.0/24"}},
    ]


def test_nested_and_duplicate_cluster_networks_are_excepted_once():
    peers = external_ip_blocks(["0.0.0.0/0", "0.0.0.0/0"], ["10.0.0.0/8", "10.96.0.0/16", " 10.0.0.0/8"])
    assert peers == [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["10.0.0.0/8"]}}]


def test_ipv6_blocks_except_only_ipv6_cluster_networks():
    peers = external_ip_blocks(["0.0.0.0/0", "::/0"], ["10.0.0.0/8", "fd00::/8"])
    assert peers == [
        {"ipBlock": {"cidr": "0.0.0.0/0", "except": ["10.0.0.0/8"]}},
        {"ipBlock": {"cidr": "::/0", "except": ["fd00::/8"]}},
    ]


def test_no_cluster_networks_gives_plain_blocks():
    assert external_ip_blocks(["198.51.100.0/24"], []) == [{"ipBlock": {"cidr": "198.51.100.0/24"}}]


@pytest.mark.parametrize(
    "cidrs, cluster, message",
    [
        (["10.1.0.0/16"], PRIVATE, "allowed CIDRs: 10.1.0.0/16 lies inside 10.0.0.0/8 of cluster CIDRs"),
        (["10.0.0.0/8"], ["10.0.0.0/8"], "10.0.0.0/8 lies inside 10.0.0.0/8 of cluster CIDRs"),
        (["0.0.0.0/0"], ["10.0.0.1/8"], "cluster CIDRs: '10.0.0.1/8' is not a network"),
        (["example.com"], PRIVATE, "allowed CIDRs: 'example.com' is not a network"),
        ([], PRIVATE, "allowed CIDRs: no CIDR given"),
        ("0.0.0.0/0", PRIVATE, "allowed CIDRs: expected a list"),
        (["0.0.0.0/0"], "10.0.0.0/8", "cluster CIDRs: expected a list"),
    ],
)
def test_bad_input_names_the_value(cidrs, cluster, message):
    with pytest.raises(NetworkPolicyError) as info:
        external_ip_blocks(cidrs, cluster)
    assert message in str(info.value)


def test_the_filter_wraps_errors():
    filters = FilterModule().filters()
    assert filters["external_ip_blocks"](["0.0.0.0/0"], ["10.0.0.0/8"])[0]["ipBlock"]["except"] == ["10.0.0.0/8"]
    expected = "external_ip_blocks: egress: 10.1.0.0/16 lies inside 10.0.0.0/8 of cl"
    with pytest.raises(AnsibleFilterError, match=expected):
        filters["external_ip_blocks"](["10.1.0.0/16"], ["10.0.0.0/8"], "egress", "cl")
