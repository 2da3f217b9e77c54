"""Egress through WireGuard (wireguard-go) from the gpu node through jump."""
import pytest
from egress_checks import (
    check_apt_through_tunnel,
    check_management_path,
    check_nat_unit_restores_egress,
    check_probe_through_tunnel,
    check_secret_not_logged,
    journal,
)
from labhosts import GPUS, JUMP_PRIVATE_IP, ansible_playbook, host


@pytest.mark.parametrize("gpu", GPUS)
def test_probe_page_through_the_tunnel(gpu):
    check_probe_through_tunnel(gpu, "wg0")


@pytest.mark.parametrize("gpu", GPUS)
def test_apt_update_through_the_tunnel(gpu):
    check_apt_through_tunnel(gpu)


@pytest.mark.parametrize("gpu", GPUS)
def test_management_path_still_works(gpu):
    check_management_path(gpu)


def test_one_peer_per_node():
    jump = host("jump")
    peers = dict(line.split("\t") for line in jump.check_output("wg show wg0 allowed-ips").splitlines())
    node_keys = {gpu: host(gpu).check_output("wg show wg0 public-key").strip() for gpu in GPUS}
    assert set(peers) == set(node_keys.values())
    addresses = [peers[key] for key in node_keys.values()]
    assert len(set(addresses)) == len(GPUS)
    assert all(a.endswith("/32") for a in addresses)


def test_private_keys_stay_on_their_hosts():
    keys = {}
    for name in ["jump", *GPUS]:
        node = host(name)
        key_file = node.file("/etc/wireguard/wg0.key")
        assert key_file.mode == 0o600
        assert "PrivateKey" not in node.file("/etc/wireguard/wg0.conf").content_string
        keys[name] = node.check_output("cat /etc/wireguard/wg0.key").strip()
    check_secret_not_logged(keys, "the WireGuard private key")


def test_nat_rules_persist_in_a_unit():
    jump = host("jump")
    assert jump.service("hpcdl-vpn-nat.service").is_enabled
    assert jump.service("wg-quick@wg0").is_enabled
    assert jump.check_output("sysctl -n net.ipv4.ip_forward").strip() == "1"


def test_the_nat_unit_puts_the_rules_back():
    check_nat_unit_restores_egress(GPUS[0], "wg0")


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
