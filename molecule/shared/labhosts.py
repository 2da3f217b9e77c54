"""The lab of the scenario under test, as every verifier in molecule/<scenario>/tests/ sees it.

Molecule's testinfra verifier runs pytest with MOLECULE_INVENTORY_FILE, MOLECULE_SCENARIO_DIRECTORY
and MOLECULE_PROJECT_DIRECTORY set; molecule/conftest.py puts this folder on sys.path, so a verifier
says `from labhosts import GPUS, host, ...`. Importing reads the inventory only (ansible-inventory
on the controller): nothing here connects to a host until a test asks for one.

- INVENTORY, SCENARIO_DIR, PROJECT: Molecule's inventory folder, the scenario's folder, the checkout.
- RUNNER (testinfra's view of the inventory), GPUS (the gpu_nodes), LAB_VARS (jump's variables,
  which hold the lab's own: hpcdl_lab_*), JUMP_IP, JUMP_PRIVATE_IP, INTERNET_IP, PROBE_TOKEN,
  PROBE_URL (the internet host's probe page).
- LOG: artifacts/molecule/<scenario>.log, where tests/test_molecule.py writes each Molecule step.
- host(name): testinfra's host, reached the way Ansible reaches it (gpu nodes through jump).
- ansible_playbook(...): a playbook (the scenario's converge.yml unless told) run as Molecule runs
  it, logged to LOG; ansible_module(...) and ansible_json(...): one module, or any ansible command,
  with the json stdout callback, for tests that read a result rather than text.
"""
import json
import os
import subprocess
from pathlib import Path

import testinfra
from testinfra.utils.ansible_runner import AnsibleRunner

INVENTORY = Path(os.environ["MOLECULE_INVENTORY_FILE"]).parent
SCENARIO_DIR = Path(os.environ["MOLECULE_SCENARIO_DIRECTORY"])
PROJECT = Path(os.environ["MOLECULE_PROJECT_DIRECTORY"])
RUNNER = AnsibleRunner(str(INVENTORY))
GPUS = RUNNER.get_hosts("gpu_nodes")
LAB_VARS = RUNNER.get_variables("jump")
JUMP_IP = LAB_VARS["ansible_host"]
JUMP_PRIVATE_IP = LAB_VARS["hpcdl_lab_jump_private_ip"]
INTERNET_IP = LAB_VARS["hpcdl_lab_internet_ip"]
PROBE_TOKEN = LAB_VARS["hpcdl_lab_probe_token"]
PROBE_URL = f"http://{INTERNET_IP}/probe.html"
LOG = PROJECT / "artifacts" / "molecule" / f"{SCENARIO_DIR.name}.log"
# No colour codes in what the tests search.
PLAIN_ENV = {"ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0"}


def host(name):
    return testinfra.get_host(f"ansible://{name}?ansible_inventory={INVENTORY}")


def ansible_playbook(*args, playbook=None, extra=None, cwd=PROJECT):
    """playbook (default: the scenario's converge.yml) against Molecule's inventory, as Molecule runs
    it, with args (--limit, -e ...) and extra vars (a dict, passed as JSON). The output goes to LOG
    too, in a "===== verify: ..." section. Returns (rc, stdout + stderr)."""
    playbook = Path(playbook) if playbook else SCENARIO_DIR / "converge.yml"
    if extra is not None:
        args = (*args, "-e", json.dumps(extra))
    proc = subprocess.run(
        ["ansible-playbook", "-i", str(INVENTORY), str(playbook), *args],
        capture_output=True, text=True, check=False, cwd=cwd,
        # One line per result, so that a message can be found whole.
        env=dict(os.environ, **PLAIN_ENV, ANSIBLE_CALLBACK_RESULT_FORMAT="json"),
    )
    output = proc.stdout + proc.stderr
    command = " ".join(["ansible-playbook", playbook.name, *map(str, args)])
    LOG.parent.mkdir(parents=True, exist_ok=True)
    with LOG.open("a") as log:
        log.write(f"\n===== verify: {command} (rc={proc.returncode})\n{output}")
    return proc.returncode, output


def ansible_json(command, cwd=PROJECT):
    """An ansible or ansible-playbook command line (its inventory added) with the json stdout callback:
    (rc, the callback's document: {"plays": [{"tasks": [{"task": ..., "hosts": {name: result}}]}]})."""
    proc = subprocess.run(
        [command[0], "-i", str(INVENTORY), *command[1:]],
        capture_output=True, text=True, check=False, cwd=cwd,
        env=dict(os.environ, **PLAIN_ENV, ANSIBLE_LOAD_CALLBACK_PLUGINS="1", ANSIBLE_STDOUT_CALLBACK="json"),
    )
    # Callbacks enabled besides it print around the document (ansible.posix.profile_tasks a line
    # before it, hpcdl.gpu.changes a block after it): read the document from its first line on.
    start = 0 if proc.stdout.startswith("{") else proc.stdout.find("\n{\n") + 1
    try:
        return proc.returncode, json.JSONDecoder().raw_decode(proc.stdout, start)[0]
    except ValueError:
        raise AssertionError(f"{' '.join(map(str, command))} printed no JSON (rc={proc.returncode}):\n"
                             f"{proc.stdout[-3000:]}{proc.stderr[-3000:]}") from None


def ansible_module(pattern, module, args, extra=()):
    """One module on the hosts matching pattern, run by `ansible` as a user would run it, with extra
    command-line arguments (e.g. -e var=value): (rc, {host: its result})."""
    rc, document = ansible_json(["ansible", pattern, *extra, "-m", module, "-a", args])
    return rc, document["plays"][0]["tasks"][0]["hosts"]
