# -*- coding: utf-8 -*-
# Copyright: Intelligent Agent platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""NetworkPolicy peers for "outside the cluster": ipBlocks that leave out the cluster's own networks.

Kubernetes accepts an ``ipBlock.except`` entry only when it lies strictly inside ``ipBlock.cidr``
(the API server rejects the policy otherwise), so the ``except`` list of each allowed block is
computed here: the cluster networks inside the block, and an error when a whole block lies inside
a cluster network (a rule for "outside the cluster" that could only ever reach the cluster).
Plain functions, no Ansible imports: used by the filters and the unit tests.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress


class NetworkPolicyError(ValueError):
    """A CIDR is malformed or an allowed block lies inside the cluster; the message names the value."""


def _network(value, what):
    try:
        return ipaddress.ip_network(str(value).strip(), strict=True)
    except ValueError as exc:
        raise NetworkPolicyError("%s: %r is not a network in CIDR notation (%s)" % (what, value, exc))


def external_ip_blocks(cidrs, cluster_cidrs, cidrs_name="allowed CIDRs", cluster_name="cluster CIDRs"):
    """NetworkPolicy peers ``[{"ipBlock": {"cidr": ..., "except": [...]}}]`` for CIDRS minus CLUSTER_CIDRS.

    Each allowed CIDR becomes one ipBlock whose ``except`` lists the cluster CIDRs strictly inside it
    (sorted, without duplicates or CIDRs already inside another listed one); cluster CIDRs outside it
    or of the other IP version are left out. A CIDR that lies inside a cluster CIDR (or equals one)
    raises NetworkPolicyError. Host bits set (``10.0.0.1/8``) are an error, as the API server's.
    CIDRS_NAME and CLUSTER_NAME (the variables the lists come from) name them in the errors.
    """
    for value, name in ((cidrs, cidrs_name), (cluster_cidrs, cluster_name)):
        if isinstance(value, (str, bytes)):
            raise NetworkPolicyError("%s: expected a list of CIDRs, got the string %r" % (name, value))
    if not cidrs:
        raise NetworkPolicyError("%s: no CIDR given (an empty list would allow nothing)" % cidrs_name)
    cluster = [_network(c, cluster_name) for c in cluster_cidrs or []]
    # Drop cluster networks inside another one: the outer one already excepts them.
    cluster = sorted(
        {n for n in cluster if not any(o != n and o.version == n.version and n.subnet_of(o) for o in cluster)},
        key=lambda n: (n.version, n.network_address, n.prefixlen),
    )
    peers, seen = [], set()
    for value in cidrs:
        block = _network(value, cidrs_name)
        if block in seen:
            continue
        seen.add(block)
        covering = [n for n in cluster if n.version == block.version and block.subnet_of(n)]
        if covering:
            raise NetworkPolicyError(
                "%s: %s lies inside %s of %s, so it could only reach the cluster: allow networks outside the"
                " cluster, or set %s to the cluster's real pod and Service CIDRs"
                % (cidrs_name, block, covering[0], cluster_name, cluster_name)
            )
        inside = [str(n) for n in cluster if n.version == block.version and n.subnet_of(block)]
        ip_block = {"cidr": str(block)}
        if inside:
            ip_block["except"] = inside
        peers.append({"ipBlock": ip_block})
    return peers
