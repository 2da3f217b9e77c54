"""Egress through the vendor bundle's tunnel (the lab's TEST VPN.tar.gz) from the gpu node through jump."""
import pytest
from egress_checks import (
    check_apt_through_tunnel,
    check_management_path,
    check_nat_unit_restores_egress,
    check_probe_through_tunnel,
    journal,
)
from labhosts import GPUS, INTERNET_IP, JUMP_PRIVATE_IP, ansible_playbook, host

SERVER_UNIT = "hpcdl-test-vpn-server.service"


@pytest.mark.parametrize("gpu", GPUS)
def test_probe_page_through_the_tunnel(gpu):
    check_probe_through_tunnel(gpu, "vpn_vpn0")


@pytest.mark.parametrize("gpu", GPUS)
def test_apt_update_through_the_tunnel(gpu):
    check_apt_through_tunnel(gpu)


@pytest.mark.parametrize("gpu", GPUS)
def test_management_path_still_works(gpu):
    check_management_path(gpu)


def test_bundle_ran_the_script_chosen_for_this_os():
    jump = host("jump")
    assert jump.interface("vpn_vpn0").exists
    assert jump.service(SERVER_UNIT).is_running
    for gpu in GPUS:
        assert host(gpu).interface("vpn_vpn0").exists


def test_corrupt_bundle_is_refused_before_unpacking():
    jump = host("jump")
    started = jump.check_output(f"systemctl show -p ActiveEnterTimestampMonotonic {SERVER_UNIT}")
    rc, out = ansible_playbook(
        "--limit", "jump_hosts",
        "-e", f"jump_vpn_bundle_url=http://{INTERNET_IP}/vpn/VPN-corrupt.tar.gz",
        "-e", "jump_vpn_bundle_dir=/opt/hpcdl-vpn-corrupt-test",
    )
    assert rc != 0, out[-3000:]
    assert "not jump_vpn_bundle_sha256" in out, out[-3000:]
    assert "Nothing was unpacked or run" in out
    leftovers = jump.check_output("find /opt/hpcdl-vpn-corrupt-test -mindepth 1")
    assert leftovers.strip() == "", leftovers
    assert jump.check_output(f"systemctl show -p ActiveEnterTimestampMonotonic {SERVER_UNIT}") == started
    jump.check_output("rm -rf /opt/hpcdl-vpn-corrupt-test")


def test_the_nat_unit_puts_the_rules_back():
    check_nat_unit_restores_egress(GPUS[0], "vpn_vpn0")


def test_fault_jump_endpoint_stopped_then_started():
    """Last: jump's end of the tunnel down -> hpc_vpn fails naming it; up again -> a rerun converges."""
    jump = host("jump")
    jump.check_output(f"systemctl stop {SERVER_UNIT}")
    try:
        rc, out = ansible_playbook("--limit", "gpu_nodes")
        assert rc != 0, out
        assert f"has no egress through the tunnel to the jump host jump ({JUMP_PRIVATE_IP}, bundle)" in out, \
            out[-3000:]
    finally:
        jump.check_output(f"systemctl start {SERVER_UNIT}")
    rc, out = ansible_playbook()
    assert rc == 0, out[-4000:] + journal("jump", SERVER_UNIT)
    for gpu in GPUS:
        check_probe_through_tunnel(gpu, "vpn_vpn0")
