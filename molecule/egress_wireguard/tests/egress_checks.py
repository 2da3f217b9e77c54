"""What both egress scenarios verify on the lab (imported by each scenario's test file).

After converge: the gpu node fetches the probe page through the tunnel (the route to the internet
host goes through the tunnel's interface), apt works through it (names resolve through the lab's
DNS on the internet host, reachable only through the tunnel), and the SSH management path from
jump's private address still works. The fault test (last) stops jump's end of the tunnel, runs
the scenario's converge and expects hpc_vpn to fail naming the jump endpoint, then starts it and
expects a rerun to converge.
"""
import json
import os
import re
import subprocess
import tempfile
from pathlib import Path

import testinfra
from testinfra.utils.ansible_runner import AnsibleRunner

INVENTORY = Path(os.environ["MOLECULE_INVENTORY_FILE"]).parent
SCENARIO_DIR = Path(os.environ["MOLECULE_SCENARIO_DIRECTORY"])
PROJECT = Path(os.environ["MOLECULE_PROJECT_DIRECTORY"])
RUNNER = AnsibleRunner(str(INVENTORY))
GPUS = RUNNER.get_hosts("gpu_nodes")
LAB_VARS = RUNNER.get_variables("jump")
INTERNET_IP = LAB_VARS["hpcdl_lab_internet_ip"]
JUMP_PRIVATE_IP = LAB_VARS["hpcdl_lab_jump_private_ip"]
PROBE_URL = f"http://{INTERNET_IP}/probe.html"
TOKEN = LAB_VARS["hpcdl_lab_probe_token"]
LOG = PROJECT / "artifacts" / "molecule" / f"{SCENARIO_DIR.name}.log"


def host(name):
    return testinfra.get_host(f"ansible://{name}?ansible_inventory={INVENTORY}")


def ansible_playbook(*args):
    """The scenario's converge against Molecule's inventory, as Molecule runs it."""
    proc = subprocess.run(
        ["ansible-playbook", "-i", str(INVENTORY), str(SCENARIO_DIR / "converge.yml"), *args],
        capture_output=True, text=True, check=False, cwd=PROJECT,
        env=dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0", ANSIBLE_CALLBACK_RESULT_FORMAT="json"),
    )
    return proc.returncode, proc.stdout + proc.stderr


def journal(name, unit):
    return host(name).run(f"journalctl -u {unit} -n 30 --no-pager").stdout


def check_probe_through_tunnel(gpu, tunnel_pattern):
    node = host(gpu)
    route = node.check_output(f"ip -4 -o route get {INTERNET_IP}")
    assert re.search(rf"\bdev {tunnel_pattern}\b", route), f"route to the internet host: {route}"
    result = node.run(f"curl --noproxy '*' -sS -m 10 {PROBE_URL}")
    assert result.rc == 0, result.stderr
    assert TOKEN in result.stdout


def check_apt_through_tunnel(gpu):
    result = host(gpu).run("timeout 240 apt-get update -q")
    assert result.rc == 0, result.stdout + result.stderr
    problems = [line for line in (result.stdout + result.stderr).splitlines()
                if line.startswith(("Err:", "W:", "E:"))]
    assert not problems, "\n".join(problems)


def check_management_path(gpu):
    """A new SSH session (own control path, no reused master) still comes from jump's private address."""
    with tempfile.TemporaryDirectory() as cp_dir:
        env = dict(os.environ, ANSIBLE_LOAD_CALLBACK_PLUGINS="1", ANSIBLE_STDOUT_CALLBACK="json")
        proc = subprocess.run(
            ["ansible", gpu, "-i", str(INVENTORY), "-e", f"ansible_control_path_dir={cp_dir}",
             "-m", "ansible.builtin.command", "-a", "printenv SSH_CONNECTION"],
            capture_output=True, text=True, env=env, check=False,
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
        result = json.loads(proc.stdout)["plays"][0]["tasks"][0]["hosts"][gpu]
        assert result["stdout"].split()[0] == JUMP_PRIVATE_IP
    route = host(gpu).check_output(f"ip -4 -o route get {JUMP_PRIVATE_IP}")
    assert " dev eth0 " in route, route


def check_secret_not_logged(secrets, what):
    """No private key (or other secret) in anything Ansible printed for this scenario."""
    if not LOG.exists():
        return
    text = LOG.read_text(errors="replace")
    leaked = [name for name, secret in secrets.items() if secret and secret in text]
    assert not leaked, f"{what} of {', '.join(leaked)} found in {LOG}"
