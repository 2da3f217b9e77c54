"""The lab plays the seed's world honestly: only jump reaches the internet, and the gpu node is
reachable only through jump, by people and by Ansible alike."""
import json
import os
import socket
import subprocess
from pathlib import Path

import pytest
import testinfra
from testinfra.utils.ansible_runner import AnsibleRunner

INVENTORY = Path(os.environ["MOLECULE_INVENTORY_FILE"]).parent
RUNNER = AnsibleRunner(str(INVENTORY))
LAB_VARS = RUNNER.get_variables("jump")
PROBE_URL = "http://{}/probe.html".format(LAB_VARS["hpcdl_lab_internet_ip"])
TOKEN = LAB_VARS["hpcdl_lab_probe_token"]


def host(name):
    return testinfra.get_host(f"ansible://{name}?ansible_inventory={INVENTORY}")


def fetch_probe(name):
    # Every proxy off: the test is about the route, not about proxies.
    return host(name).run(f"curl --noproxy '*' -sS -m 5 {PROBE_URL}")


def test_jump_reaches_the_internet_probe_page():
    result = fetch_probe("jump")
    assert result.rc == 0, result.stderr
    assert TOKEN in result.stdout


@pytest.mark.parametrize("gpu", RUNNER.get_hosts("gpu_nodes"))
def test_gpu_node_has_no_egress_before_the_vpn(gpu):
    result = fetch_probe(gpu)
    assert result.rc != 0
    assert TOKEN not in result.stdout


@pytest.mark.parametrize("gpu", RUNNER.get_hosts("gpu_nodes"))
def test_controller_cannot_connect_to_gpu_node_directly(gpu):
    address = RUNNER.get_variables(gpu)["ansible_host"]
    with pytest.raises(OSError):
        socket.create_connection((address, 22), timeout=3).close()


@pytest.mark.parametrize("gpu", RUNNER.get_hosts("gpu_nodes"))
def test_ansible_reaches_gpu_node_through_jump(gpu):
    """The SSH session Ansible opens on the gpu node comes from jump's private address."""
    env = dict(os.environ, ANSIBLE_LOAD_CALLBACK_PLUGINS="1", ANSIBLE_STDOUT_CALLBACK="json")
    proc = subprocess.run(
        ["ansible", gpu, "-i", str(INVENTORY), "-m", "ansible.builtin.command",
         "-a", "printenv SSH_CONNECTION"],
        capture_output=True, text=True, env=env, check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads(proc.stdout)["plays"][0]["tasks"][0]["hosts"][gpu]
    client_address = result["stdout"].split()[0]
    assert client_address == LAB_VARS["hpcdl_lab_jump_private_ip"]
    jump_addresses = host("jump").interface("eth1").addresses
    assert client_address in jump_addresses


@pytest.mark.parametrize("gpu", RUNNER.get_hosts("gpu_nodes"))
def test_gpu_node_has_only_its_private_address(gpu):
    out = host(gpu).check_output("ip -4 -o addr show scope global")
    addresses = [line.split()[3].split("/")[0] for line in out.splitlines()]
    assert addresses == [RUNNER.get_variables(gpu)["ansible_host"]]
