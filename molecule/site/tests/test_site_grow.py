"""The fleet grows and shrinks: a third gpu node added to the inventory gets its route on the next run
of site.yml and nothing else changes; removed again, its route goes on the next run of the proxy's
playbook, and the other routes stay as they were.

It runs after test_site.py (pytest takes the files in name order) and changes the lab: `lab up
--gpus 3` adds gpu3 (a bare node: the scenario's prepare.yml plants the stale proxy on it alone) and
rewrites Molecule's inventory; at the end `lab up --gpus 2` removes gpu3 and writes the two-node
inventory back, and the scenario's destroy takes the lab down. Everything is judged from the
controller: Tengine on jump:8888 and the per-host list of the hpcdl.gpu.changes callback.
"""
import re
import subprocess
import sys
from pathlib import Path

import pytest
from jupyter_probe import Jupyter
from labhosts import INVENTORY, JUMP_IP, LAB_VARS, PROJECT, SCENARIO_DIR, ansible_playbook, host
from testinfra.utils.ansible_runner import AnsibleRunner

LAB = LAB_VARS["hpcdl_lab_name"]
LAB_STATE = Path(LAB_VARS["ansible_control_path_dir"]).parent
LAB_INVENTORY = INVENTORY / "lab_hosts.yml"  # where molecule/shared/create.yml has `lab up` write it
PORT = 8888
BLOCK = "/usr/local/nginx/conf/hpcdl.d/reverse_proxy.conf"
NEW = "gpu3"


def lab_up(gpus):
    proc = subprocess.run([sys.executable, str(PROJECT / "lab" / "lab.py"), "up", "--name", LAB, "--gpus", str(gpus),
                           "--inventory", str(LAB_INVENTORY)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, f"lab up --gpus {gpus} failed: {proc.stdout[-2000:]}{proc.stderr[-2000:]}"


def token(node):
    return (LAB_STATE / "jupyter_tokens" / node).read_text().split()[0]


def changes(output):
    """The hpcdl.gpu.changes callback's block: {host: [task names that changed]}."""
    block = output[output.rindex("What changed in this run"):]
    found, current = {}, None
    for line in block.splitlines()[1:]:
        head = re.match(r"^(\S+): (nothing changed|\d+ tasks? changed)", line)
        if head:
            current = head.group(1)
            found[current] = []
        elif current and line.startswith("  - "):
            found[current].append(line[4:].strip())
        elif current and line.startswith("  ! "):
            found[current].append(line.strip())
    return found


def started_at(node):
    return host(node).check_output("docker inspect --format '{{.State.StartedAt}}' hpcdl-jupyter")


def locations(block):
    """{path: the location block's text}, in the order of the server block."""
    return {m.group(2): m.group(1)
            for m in re.finditer(r"^(\s*location\s+(\S+)\s*\{.*?^\s*\})", block, re.M | re.S)}


TENGINE_CHANGES = {"hpcdl.gpu.tengine : Write the reverse-proxy server block (tested inside the whole "
                   "configuration before it goes live)", "(handler) hpcdl.gpu.tengine : Reload Tengine"}


@pytest.fixture(scope="module")
def grown():
    """gpu3 added to the lab and the inventory, prepared as a bare node, then site.yml run on all three."""
    jump = host("jump")
    before = {"block": jump.file(BLOCK).content_string,
              "started": {node: started_at(node) for node in ("gpu1", "gpu2")}}
    lab_up(3)
    assert AnsibleRunner(str(INVENTORY)).get_hosts("gpu_nodes") == ["gpu1", "gpu2", NEW], "gpu3 is not in the inventory"
    rc, output = ansible_playbook("--limit", NEW, playbook=SCENARIO_DIR / "prepare.yml")
    assert rc == 0, f"prepare.yml on {NEW} failed:\n{output[-3000:]}"
    rc, output = ansible_playbook()  # the scenario's converge.yml: playbooks/site.yml, as the user runs it
    assert rc == 0, f"site.yml with {NEW} added failed:\n{output[-5000:]}"
    yield before, output


def test_the_new_node_gets_its_route_and_nothing_else_changes(grown):
    before, output = grown
    found = changes(output)
    assert found.get("gpu1") == [] and found.get("gpu2") == [], f"the run changed the other nodes: {found}"
    assert set(found.get("jump", [])) == TENGINE_CHANGES, \
        f"on jump, only the server block (and its reload) should change: {found.get('jump')}"
    assert found.get(NEW), f"{NEW} was not converged: {found}"
    after = host("jump").file(BLOCK).content_string
    old, new = locations(before["block"]), locations(after)
    assert list(new) == ["/gpu1/", "/gpu2/", f"/{NEW}/", "/"], f"the locations are now {list(new)}"
    assert {path: new[path] for path in old} == old, "the routes of gpu1 and gpu2 (or the redirect) changed"
    assert {node: started_at(node) for node in ("gpu1", "gpu2")} == before["started"], \
        "a notebook container of gpu1 or gpu2 was restarted"


def test_the_new_node_answers_under_its_route_with_its_own_token(grown):
    client = Jupyter(JUMP_IP, PORT, token(NEW), prefix=f"/{NEW}/")
    resp, chain = Jupyter(JUMP_IP, PORT, prefix=f"/{NEW}/").get_following("/")
    assert resp.status == 200 and chain[-1].startswith(f"/{NEW}/login"), f"{chain}: {resp}"
    assert Jupyter(JUMP_IP, PORT, prefix=f"/{NEW}/").request("GET", "/api/kernels", auth=False).status == 403
    assert Jupyter(JUMP_IP, PORT, token("gpu1"), prefix=f"/{NEW}/").request("GET", "/api/kernels").status == 403, \
        f"gpu1's token opened {NEW}'s notebook"
    kernel = client.start_kernel()
    try:
        with client.channels(kernel) as channels:
            channels.wait_ready()
            run = channels.execute("print(6 * 7)")
            assert run.stdout == "42\n", f"print(6 * 7) on {NEW}: {run}"
    finally:
        client.delete_kernel(kernel)
    for node in ("gpu1", "gpu2"):
        assert Jupyter(JUMP_IP, PORT, token(node), prefix=f"/{node}/").request("GET", "/api/status").status == 200, \
            f"{node}'s notebook does not answer any more"


def test_a_removed_node_loses_its_route_and_the_others_stay(grown):
    before_block = host("jump").file(BLOCK).content_string
    lab_up(2)
    assert AnsibleRunner(str(INVENTORY)).get_hosts("gpu_nodes") == ["gpu1", "gpu2"], "gpu3 is still in the inventory"
    rc, output = ansible_playbook(playbook=PROJECT / "playbooks" / "reverse_proxy.yml")
    assert rc == 0, f"reverse_proxy.yml without {NEW} failed:\n{output[-5000:]}"
    assert set(changes(output).get("jump", [])) == TENGINE_CHANGES, changes(output)
    after = locations(host("jump").file(BLOCK).content_string)
    assert list(after) == ["/gpu1/", "/gpu2/", "/"], f"the locations are now {list(after)}"
    old = locations(before_block)
    assert {path: old[path] for path in after} == after, "the routes of gpu1 and gpu2 (or the redirect) changed"
    # /gpu3/ is now outside every route: redirected under the first node's path like any other.
    gone = Jupyter(JUMP_IP, PORT).request("GET", f"/{NEW}/api/status")
    assert gone.status == 307 and gone.headers.get("location", "").endswith(f"/gpu1/{NEW}/api/status"), gone
