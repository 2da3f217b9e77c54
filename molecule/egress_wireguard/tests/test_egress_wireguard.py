"""Egress through WireGuard (wireguard-go) from the gpu node through jump: the shared WireGuard tests
(molecule/shared/wireguard_tests.py, also run by the site scenario), then the fault test."""
from egress_checks import check_probe_through_tunnel, journal
from labhosts import GPUS, JUMP_PRIVATE_IP, ansible_playbook, host
from wireguard_tests import (
    test_apt_update_through_the_tunnel,
    test_management_path_still_works,
    test_nat_rules_persist_in_a_unit,
    test_one_peer_per_node,
    test_private_keys_stay_on_their_hosts,
    test_probe_page_through_the_tunnel,
    test_the_nat_unit_puts_the_rules_back,
)

# Imported so that pytest collects them here (and named here, so that linters count them used).
__all__ = [
    "test_apt_update_through_the_tunnel",
    "test_management_path_still_works",
    "test_nat_rules_persist_in_a_unit",
    "test_one_peer_per_node",
    "test_private_keys_stay_on_their_hosts",
    "test_probe_page_through_the_tunnel",
    "test_the_nat_unit_puts_the_rules_back",
    "test_fault_jump_endpoint_stopped_then_started",
]


def test_fault_jump_endpoint_stopped_then_started():
    """Last: jump's endpoint down -> hpc_vpn fails naming it; up again -> a rerun converges."""
    jump = host("jump")
    jump.check_output("systemctl stop wg-quick@wg0")
    try:
        rc, out = ansible_playbook("--limit", "gpu_nodes")
        assert rc != 0, out
        assert "The WireGuard endpoint on the jump host jump" in out, out[-3000:]
        assert f"{JUMP_PRIVATE_IP}:51820" in out
    finally:
        jump.check_output("systemctl start wg-quick@wg0")
    rc, out = ansible_playbook()
    assert rc == 0, out[-4000:] + journal("jump", "wg-quick@wg0")
    for gpu in GPUS:
        check_probe_through_tunnel(gpu, "wg0")
