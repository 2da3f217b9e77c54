"""The lab plays the seed's world honestly: only jump reaches the internet, and the gpu node is
reachable only through jump, by people and by Ansible alike."""
import socket

import pytest
from labhosts import GPUS, JUMP_PRIVATE_IP, PROBE_TOKEN, PROBE_URL, RUNNER, ansible_module, host


def fetch_probe(name):
    # Every proxy off: the test is about the route, not about proxies.
    return host(name).run(f"curl --noproxy '*' -sS -m 5 {PROBE_URL}")


def test_jump_reaches_the_internet_probe_page():
    result = fetch_probe("jump")
    assert result.rc == 0, result.stderr
    assert PROBE_TOKEN in result.stdout


@pytest.mark.parametrize("gpu", GPUS)
def test_gpu_node_has_no_egress_before_the_vpn(gpu):
    result = fetch_probe(gpu)
    assert result.rc != 0
    assert PROBE_TOKEN not in result.stdout


@pytest.mark.parametrize("gpu", GPUS)
def test_controller_cannot_connect_to_gpu_node_directly(gpu):
    address = RUNNER.get_variables(gpu)["ansible_host"]
    with pytest.raises(OSError):
        socket.create_connection((address, 22), timeout=3).close()


@pytest.mark.parametrize("gpu", GPUS)
def test_ansible_reaches_gpu_node_through_jump(gpu):
    """The SSH session Ansible opens on the gpu node comes from jump's private address."""
    rc, results = ansible_module(gpu, "ansible.builtin.command", "printenv SSH_CONNECTION")
    assert rc == 0, results
    client_address = results[gpu]["stdout"].split()[0]
    assert client_address == JUMP_PRIVATE_IP
    jump_addresses = host("jump").interface("eth1").addresses
    assert client_address in jump_addresses


@pytest.mark.parametrize("gpu", GPUS)
def test_gpu_node_has_only_its_private_address(gpu):
    out = host(gpu).check_output("ip -4 -o addr show scope global")
    addresses = [line.split()[3].split("/")[0] for line in out.splitlines()]
    assert addresses == [RUNNER.get_variables(gpu)["ansible_host"]]
