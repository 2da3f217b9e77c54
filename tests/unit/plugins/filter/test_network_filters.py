"""The interfaces_matching filter, on interface facts and on real `ip -o link show` lines."""
from pathlib import Path

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.hpcdl.gpu.plugins.filter.network import FilterModule, interfaces_matching

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "network"
# `ip -o link show` on the egress_bundle lab's gpu node after run.sh (see the fixtures' README).
IP_O_LINK = (FIXTURES / "ip-o-link_egress_bundle_gpu1.txt").read_text().splitlines()
FACTS = ["eth0", "lo", "vpn_vpn0", "vpn_vpn1", "wg0", "docker0", "br-2654e288c689"]


def test_registered():
    assert FilterModule().filters() == {"interfaces_matching": interfaces_matching}


@pytest.mark.parametrize("pattern, found", [
    ("vpn_*", ["vpn_vpn0", "vpn_vpn1"]),
    ("vpn_vpn?", ["vpn_vpn0", "vpn_vpn1"]),
    ("vpn_vpn[1-9]", ["vpn_vpn1"]),
    ("wg0", ["wg0"]),
    ("br-*", ["br-2654e288c689"]),
    ("VPN_*", []),
    ("tun*", []),
])
def test_shell_style_patterns_over_interface_facts(pattern, found):
    assert interfaces_matching(FACTS, pattern) == found


def test_ip_o_link_lines_give_names_without_the_link_suffix():
    assert interfaces_matching(IP_O_LINK, "*") == ["lo", "vpn_vpn0", "eth0"]
    assert interfaces_matching(IP_O_LINK, "vpn_*") == ["vpn_vpn0"]
    assert interfaces_matching(IP_O_LINK, "eth0") == ["eth0"]


def test_a_dot_in_the_pattern_is_not_a_wildcard():
    """The role's earlier regex translation escaped everything but '*'; fnmatch keeps that for '.'."""
    assert interfaces_matching(["eth0.100", "eth0x100"], "eth0.100") == ["eth0.100"]


def test_each_name_once_in_input_order():
    assert interfaces_matching(["vpn_b", "vpn_a", "vpn_b"], "vpn_*") == ["vpn_b", "vpn_a"]


@pytest.mark.parametrize("value, pattern, message", [
    ("vpn_vpn0", "vpn_*", "give a list of interface names"),
    (None, "vpn_*", "give a list of interface names"),
    (FACTS, "", "the pattern must be a non-empty string"),
    (FACTS, None, "the pattern must be a non-empty string"),
])
def test_bad_input_is_a_filter_error(value, pattern, message):
    with pytest.raises(AnsibleFilterError, match=message):
        interfaces_matching(value, pattern)
