"""playbooks/summary.yml on localhost, and the example inventories against the roles' contracts.

The summary runs with both groups on this machine (`ansible_connection: local`): a fake `docker`
first on PATH answers for the notebook container, a small HTTP server on loopback plays Jupyter
behind "Tengine" (a stand-in nginx binary in a temporary prefix), and hpcdl.gpu.cuda_compat reads
this machine's real driver state (none here: it says so). It must print the URL, the container,
the verdict and where the token comes from, never the token, and report no change, in check mode
too. The lab (lab/lab.py) runs the same playbook over SSH through the jump host.
"""
import http.server
import json
import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
TOKEN = "hpcdl-summary-token-never-printed"
CONTAINER = "hpcdl-test-notebook"
RECAP = re.compile(r"^(\S+)\s+:\s+ok=\d+\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)

INSPECT = json.dumps({"status": "running",
                      "image": "quay.io/jupyter/pytorch-notebook:cuda12-2026-08-24",
                      "ports": {"8888/tcp": [{"HostIp": "127.0.0.1", "HostPort": "80"}]}})
FAKE_DOCKER = f"""#!/bin/sh
# `docker inspect --type container --format ... NAME`, as the summary asks it
for last; do :; done
if [ "$last" = "{CONTAINER}" ]; then
  echo '{INSPECT}'
  exit 0
fi
echo "Error: No such container: $last" >&2
exit 1
"""


class FakeJupyter(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server's name)
        body = json.dumps({"version": "2.99.0"}).encode()
        # Jupyter under its base_url: the summary asks /<node>/api through "Tengine".
        self.send_response(200 if self.path.endswith("/api") else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def jupyter_port():
    server = http.server.HTTPServer(("127.0.0.1", 0), FakeJupyter)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()


def write_inventory(tmp_path, port, gpu_vars, more_gpus=()):
    prefix = tmp_path / "nginx"
    (prefix / "sbin").mkdir(parents=True)
    (prefix / "sbin" / "nginx").write_text("#!/bin/sh\n")
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "docker").write_text(FAKE_DOCKER)
    (bindir / "docker").chmod(0o755)
    inventory = {"all": {
        "vars": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable},
        "children": {
            "jump_hosts": {"hosts": {"jump": {
                "ansible_host": "127.0.0.1", "tengine_prefix": str(prefix),
                "tengine_listen_port": port}}},
            "gpu_nodes": {"hosts": {"gpu1": {"ansible_host": "127.0.0.1", **gpu_vars},
                                    **{name: {"ansible_host": "127.0.0.1", **gpu_vars} for name in more_gpus}}},
        }}}
    (tmp_path / "inventory.yml").write_text(yaml.safe_dump(inventory))
    return bindir


def run_summary(tmp_path, bindir, *extra, playbook=ROOT / "playbooks" / "summary.yml", recap=None, rc=0):
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0",
               ANSIBLE_LOCALHOST_WARNING="false", ANSIBLE_DEPRECATION_WARNINGS="false",
               ANSIBLE_STDOUT_CALLBACK="default", ANSIBLE_CALLBACK_RESULT_FORMAT="json",
               ANSIBLE_CALLBACKS_ENABLED="hpcdl.gpu.changes",
               # what sshd would set: the summary names the path each host was reached by
               SSH_CONNECTION="127.0.0.1 40000 127.0.0.1 22",
               PATH=f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}")
    proc = subprocess.run(
        [str(BIN / "ansible-playbook"), "-i", "inventory.yml", str(playbook),
         *extra], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == rc, proc.stdout + proc.stderr
    found = {host: (int(changed), int(unreachable), int(failed))
             for host, changed, unreachable, failed in RECAP.findall(proc.stdout)}
    assert found == (recap or {"jump": (0, 0, 0), "gpu1": (0, 0, 0)}), proc.stdout
    return proc.stdout


def summary_lines(stdout, host, task="Print the summary"):
    section = stdout[stdout.index(f"TASK [{task}]"):]
    match = re.search(rf'^ok: \[{host}\] => (\{{.*?^\}})', section, re.M | re.S)
    assert match, stdout
    return json.loads(match.group(1))["msg"]


@pytest.mark.parametrize("check", [False, True], ids=["run", "check_mode"])
def test_summary_names_the_url_the_container_and_the_verdict(tmp_path, jupyter_port, check):
    bindir = write_inventory(tmp_path, jupyter_port, {
        "jupyter_token": TOKEN, "jupyter_container_name": CONTAINER, "cuda_version": "12.2"})
    stdout = run_summary(tmp_path, bindir, *(["--check"] if check else []))
    jump = summary_lines(stdout, "jump")
    base = f"http://127.0.0.1:{jupyter_port}"
    assert jump[3:] == [
        f"Tengine publishes 1 notebook on {base}/, each under its own path, each with its own login:",
        f"gpu1: Jupyter 2.99.0 answers at {base}/gpu1/ (Tengine -> 127.0.0.1:80); log in with the token in "
        "gpu1's jupyter_token (not printed here)",
        f"every other path ({base}/ included) is redirected to the same path under {base}/gpu1/ (gpu1's notebook)",
    ], jump
    gpu = summary_lines(stdout, "gpu1")
    assert (f"notebook container {CONTAINER}: running, image quay.io/jupyter/pytorch-notebook:cuda12-2026-08-24, "
            "published on 127.0.0.1:80->8888/tcp") in gpu
    assert any(line.startswith("GPU (hpcdl.gpu.cuda_compat, CUDA 12.2): ") for line in gpu), gpu
    assert TOKEN not in stdout
    title = "What would change in this run (check mode)" if check else "What changed in this run"
    assert title in stdout
    assert "gpu1: nothing" in stdout.split(title)[1]


def test_summary_without_tengine_docker_container_or_token(tmp_path, jupyter_port):
    bindir = write_inventory(tmp_path, jupyter_port, {})
    (tmp_path / "nginx" / "sbin" / "nginx").unlink()
    stdout = run_summary(tmp_path, bindir, "--check")
    jump = summary_lines(stdout, "jump")
    assert any(line.startswith("no reverse proxy on this host") for line in jump), jump
    assert not [line for line in jump if "answers at" in line]
    gpu = summary_lines(stdout, "gpu1")
    assert ("notebook container hpcdl-jupyter: not there (Docker runs, but no container of that name)"
            in gpu)
    assert any(line.startswith("GPU (hpcdl.gpu.cuda_compat, no cuda_version set: facts only): ")
               for line in gpu), gpu


def test_summary_names_every_node_and_a_node_that_failed_with_its_error(tmp_path, jupyter_port):
    """A node that failed earlier in the run: the summary goes on for the others and names it with its error
    (recorded by the hpcdl.gpu.changes callback); the run still ends failed."""
    bindir = write_inventory(tmp_path, jupyter_port, {"jupyter_token": TOKEN, "jupyter_container_name": CONTAINER},
                             more_gpus=["gpu2"])
    (tmp_path / "run.yml").write_text(f"""\
- name: Fail on gpu2 as a stage of the flow would (gpu1 goes on)
  hosts: gpu_nodes
  gather_facts: false
  tasks:
    - name: Install the Docker packages
      ansible.builtin.fail:
        msg: No package matching 'docker-ce' is available
      when: inventory_hostname == 'gpu2'

- name: Summarise
  ansible.builtin.import_playbook: {ROOT / "playbooks" / "summary.yml"}
""")
    stdout = run_summary(tmp_path, bindir, playbook=tmp_path / "run.yml", rc=2,
                         recap={"jump": (0, 0, 0), "gpu1": (0, 0, 0), "gpu2": (0, 0, 1)})
    base = f"http://127.0.0.1:{jupyter_port}"
    jump = summary_lines(stdout, "jump")
    assert f"gpu2: Jupyter 2.99.0 answers at {base}/gpu2/ (Tengine -> 127.0.0.1:80); log in with the token in " \
           "gpu2's jupyter_token (not printed here) (gpu2 failed in this run: see below)" in jump, jump
    assert any(line.startswith(f"gpu1: Jupyter 2.99.0 answers at {base}/gpu1/ ") for line in jump), jump
    assert "ok: [gpu2]" not in stdout
    # gpu1 asked its own route (every node at once); the jump host asked only the failed node's
    assert "(item=gpu2: " in stdout and "(item=gpu1: " not in stdout, stdout
    failed = summary_lines(stdout, "jump", task="Name the hosts that failed in this run, with their errors")
    assert failed == ["gpu2: FAILED in this run (a task failed) at Install the Docker packages: "
                      "No package matching 'docker-ce' is available"], failed
    assert TOKEN not in stdout


def test_a_run_limited_to_a_node_names_its_url_through_the_jump_host(tmp_path, jupyter_port):
    """`reprovision.yml -l gpu1` runs no play on the jump host: the node's own summary asks its route
    through the jump host's Tengine, from the controller, and names the URL; a node whose notebook does
    not answer there is said to be unreachable, with the answer it got."""
    bindir = write_inventory(tmp_path, jupyter_port, {"jupyter_token": TOKEN, "jupyter_container_name": CONTAINER},
                             more_gpus=["gpu2"])
    base = f"http://127.0.0.1:{jupyter_port}"
    stdout = run_summary(tmp_path, bindir, "-l", "gpu1", recap={"gpu1": (0, 0, 0)})
    gpu = summary_lines(stdout, "gpu1")
    assert (f"gpu1: Jupyter 2.99.0 answers at {base}/gpu1/ (through the jump host's Tengine); log in with the "
            "token in gpu1's jupyter_token (not printed here)") in gpu, gpu
    assert TOKEN not in stdout
    # The same route asked of a port where nothing listens: named, with why.
    inventory = yaml.safe_load((tmp_path / "inventory.yml").read_text())
    inventory["all"]["children"]["jump_hosts"]["hosts"]["jump"]["tengine_listen_port"] = 9
    (tmp_path / "inventory.yml").write_text(yaml.safe_dump(inventory))
    gpu = summary_lines(run_summary(tmp_path, bindir, "-l", "gpu2", recap={"gpu2": (0, 0, 0)}), "gpu2")
    refused = "gpu2: no notebook answers at http://127.0.0.1:9/gpu2/ through the jump host's Tengine ("
    assert any(line.startswith(refused) for line in gpu), gpu
    print(*[line for line in gpu if "Tengine" in line], sep="\n")
    # With the jump host in the run, its summary says it, and the node's does not repeat it.
    stdout = run_summary(tmp_path, bindir, "-l", "jump:gpu1")
    assert not [line for line in summary_lines(stdout, "gpu1") if "through the jump host's Tengine" in line]


def test_summary_says_when_the_token_is_missing(tmp_path, jupyter_port):
    bindir = write_inventory(tmp_path, jupyter_port, {"jupyter_container_name": CONTAINER})
    jump = summary_lines(run_summary(tmp_path, bindir), "jump")
    assert any("neither jupyter_token nor jupyter_password_hash is set for gpu1" in line
               for line in jump), jump


# --- the example inventories ------------------------------------------------------------------

EXAMPLES = ["aliyun_hpc", "aws_p2"]
ROLES = sorted(p.parent.parent.name for p in ROOT.glob("roles/*/meta/argument_specs.yml"))
# Variables of the inventories themselves (wiring read by group_vars), not of a role.
OWN_VARIABLES = {"jump_private_ip", "bastion_private_ip"}
# The collection-wide settings of the jump host's cache, read by the roles' defaults (README, "The cache").
COLLECTION_VARIABLES = {"hpcdl_cache_host", "hpcdl_cache_port", "hpcdl_cache_fallback", "hpcdl_cache_registries",
                        "hpcdl_cache_jump_host"}


def site_roles():
    """The roles playbooks/site.yml runs: in its own plays and through the playbooks it imports."""
    text = (ROOT / "playbooks" / "site.yml").read_text()
    for play in yaml.safe_load(text):
        imported = play.get("ansible.builtin.import_playbook")
        if imported:
            text += (ROOT / "playbooks" / imported).read_text()
    return set(re.findall(r"^\s*-?\s*role:\s*hpcdl\.gpu\.(\w+)", text, re.M))


def example_variables(example):
    """Every variable an example sets: group_vars files and the vars in hosts.yml."""
    found = {}
    base = ROOT / "inventories" / example
    for path in sorted((base / "group_vars").glob("*.yml")):
        found.update(dict.fromkeys(yaml.safe_load(path.read_text()) or {}, path.name))

    def walk(group):
        found.update(dict.fromkeys(group.get("vars", {}), "hosts.yml"))
        for host_vars in (group.get("hosts") or {}).values():
            found.update(dict.fromkeys(host_vars or {}, "hosts.yml"))
        for child in (group.get("children") or {}).values():
            walk(child or {})

    walk(yaml.safe_load((base / "hosts.yml").read_text())["all"])
    return found


def role_options(role):
    specs = yaml.safe_load((ROOT / "roles" / role / "meta" / "argument_specs.yml").read_text())
    return specs["argument_specs"]["main"]["options"]


@pytest.mark.parametrize("example", EXAMPLES)
def test_example_sets_only_variables_the_roles_know(example):
    unknown = []
    for name, where in example_variables(example).items():
        if name.startswith("ansible_") or name in OWN_VARIABLES | COLLECTION_VARIABLES:
            continue
        role = next((r for r in sorted(ROLES, key=len, reverse=True) if name.startswith(r + "_")), None)
        if role is None or name not in role_options(role):
            unknown.append(f"{where}: {name}")
    assert unknown == [], f"inventories/{example} sets variables no role knows: {unknown}"


@pytest.mark.parametrize("example", EXAMPLES)
def test_example_configures_every_role_of_site_yml(example):
    names = example_variables(example)
    missing = [role for role in sorted(site_roles()) if not any(n.startswith(role + "_") for n in names)]
    assert missing == [], f"inventories/{example} has no settings for {missing}"


@pytest.mark.parametrize("example", EXAMPLES)
def test_example_parses_and_wires_the_gpu_nodes_through_the_jump_host(example):
    env = dict(os.environ, ANSIBLE_NOCOLOR="1")
    proc = subprocess.run([str(BIN / "ansible-inventory"), "-i", str(ROOT / "inventories" / example),
                           "--list", "--export"],
                          env=env, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    data = json.loads(proc.stdout)
    assert data["jump_hosts"]["hosts"] and data["gpu_nodes"]["hosts"]
    assert "ProxyCommand" in data["gpu_nodes"]["vars"]["ansible_ssh_common_args"]


@pytest.mark.parametrize("example", EXAMPLES)
def test_example_holds_no_secret_in_plain_text(example):
    """Tokens come from the environment or ansible-vault; checksums and keys are CHANGE-ME."""
    gpu = yaml.safe_load((ROOT / "inventories" / example / "group_vars" / "gpu_nodes.yml").read_text())
    assert gpu["jupyter_token"].startswith("{{ lookup('ansible.builtin.env', ")
    for path in (ROOT / "inventories" / example).rglob("*.yml"):
        assert not re.search(r"\b[0-9a-fA-F]{40,64}\b", path.read_text()), f"{path}: a checksum or key?"


def test_the_collection_wide_cache_settings_are_documented_and_the_examples_use_the_cache():
    readme = (ROOT / "README.md").read_text()
    assert [name for name in sorted(COLLECTION_VARIABLES) if f"`{name}`" not in readme] == []
    for example in EXAMPLES:
        assert "hpcdl_cache_host" in example_variables(example), f"inventories/{example} does not use the cache"
