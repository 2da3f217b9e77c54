"""A rerun of site.yml on a converged fleet skips every role in one step per role, and drift still gets
corrected: what a role manages, changed behind its back, makes that role (and only that role) run every
task again on that node, and the user's outcome comes back.

It runs after test_site_grow.py (pytest takes the files in name order), on the two-node lab that file
leaves. Each run is site.yml as the user runs it, with -v so that each hpcdl.gpu.converged result (its
`converged` and `reasons`) is in the output; the outcome is judged from the controller through the jump
host (the notebook answers under its route with its token) and on the nodes (daemon.json).
"""
import json
import os
import re

import pytest
from jupyter_probe import Jupyter
from labhosts import GPUS, JUMP_IP, ansible_playbook, host
from test_site_grow import changes, token

# Every role site.yml skips when converged, per host group; the jump host's cache and its client on the
# gpu nodes run only with the lab's cache on (Molecule's base config turns it off: HPCDL_LAB_CACHE=no).
CACHE_ON = os.environ.get("HPCDL_LAB_CACHE", "yes").strip().lower() in ("yes", "y", "true", "1", "on")
JUMP_ROLES = {"jump_vpn", "tools", "tengine"} | ({"jump_cache"} if CACHE_ON else set())
GPU_ROLES = ({"hpc_vpn", "proxy_unset", "docker", "nvidia_docker", "cuda", "jupyter", "tools"}
             | ({"jump_cache_client"} if CACHE_ON else set()))
RESULT = re.compile(r"^(?:ok|changed): \[([^\]]+)\] => (\{.*\})\s*$", re.M)
DAEMON_JSON = "/etc/docker/daemon.json"
SKIPPED_ROLE_STEPS = ("Validating arguments against arg spec", "Ask whether the", "Converge the role",
                      "Point the package manager at the cache", "Keep what the role's last run set")


def converged_results(output):
    """{host: {role: result}} of every hpcdl.gpu.converged check in the run's -v output."""
    found = {}
    for name, text in RESULT.findall(output):
        try:
            result = json.loads(text)
        except ValueError:
            continue
        if result.get("state") == "check" and "converged" in result and str(result.get("record", "")).endswith(".json"):
            role = result["record"].rsplit("/", 1)[-1][:-len(".json")]
            found.setdefault(name, {})[role] = result
    return found


def run_site():
    rc, output = ansible_playbook("-v")
    assert rc == 0, f"site.yml failed:\n{output[-5000:]}"
    return output, converged_results(output)


def expected_roles(name):
    return JUMP_ROLES if name == "jump" else GPU_ROLES


def test_a_rerun_skips_every_role_and_changes_nothing():
    output, results = run_site()
    found = changes(output)
    assert set(found) == {"jump", *GPUS} and not any(found.values()), f"the rerun changed something: {found}"
    for name in ["jump", *GPUS]:
        assert set(results.get(name, {})) == expected_roles(name), \
            f"{name}: converged checks for {sorted(results.get(name, {}))}, expected {sorted(expected_roles(name))}"
        pending = {role: r["reasons"] for role, r in results[name].items() if not r["converged"]}
        assert not pending, f"{name}: roles not converged on a rerun with nothing changed: {pending}"
    # A skipped role runs none of its steps: only its argument check, the question and the skipped include.
    for role in sorted((JUMP_ROLES | GPU_ROLES) - {"jump_cache_client"}):
        ran = set(re.findall(rf"^TASK \[hpcdl\.gpu\.{role} : (.+?)\] \**$", output, re.M))
        extra = {name for name in ran if not name.startswith(SKIPPED_ROLE_STEPS)}
        assert not extra, f"{role} ran steps on a rerun with nothing changed: {sorted(extra)}"
    # And the summary still names every node's URL (jupyter_published kept from the last run).
    for node in GPUS:
        assert re.search(rf"{node}: Jupyter \S+ answers at http://{re.escape(JUMP_IP)}:8888/{node}/", output), \
            f"the summary does not say that {node}'s notebook answers"


@pytest.fixture(scope="module")
def drifted():
    """On gpu1 the nvidia runtime is taken out of daemon.json; on gpu2 the notebook container is stopped."""
    gpu1, gpu2 = host(GPUS[0]), host(GPUS[1])
    config = json.loads(gpu1.file(DAEMON_JSON).content_string)
    config.pop("runtimes", None)
    gpu1.run_expect([0], f"printf '%s\\n' '{json.dumps(config)}' > {DAEMON_JSON}")
    gpu2.run_expect([0], "docker stop hpcdl-jupyter")
    assert Jupyter(JUMP_IP, 8888, token(GPUS[1]), prefix=f"/{GPUS[1]}/").request("GET", "/api/status").status >= 500
    output, results = run_site()
    return output, results


def test_drift_runs_only_the_roles_that_manage_it(drifted):
    output, results = drifted
    gpu1, gpu2 = GPUS[0], GPUS[1]
    pending = {name: {role: r["reasons"] for role, r in roles.items() if not r["converged"]}
               for name, roles in results.items()}
    # docker writes daemon.json too, but watches only the keys it sets: the runtimes are nvidia_docker's.
    assert set(pending[gpu1]) == {"nvidia_docker"}, f"{gpu1}: only nvidia_docker should run again, not {pending[gpu1]}"
    assert any(DAEMON_JSON in reason for reason in pending[gpu1]["nvidia_docker"]), pending[gpu1]
    assert set(pending[gpu2]) == {"jupyter"}, f"{gpu2}: only jupyter should run again, not {pending[gpu2]}"
    assert any("container:hpcdl-jupyter" in reason for reason in pending[gpu2]["jupyter"]), pending[gpu2]
    assert not pending["jump"], f"jump: nothing changed there, yet {pending['jump']}"
    print({name: reasons for name, reasons in pending.items() if reasons})


def test_drift_is_corrected(drifted):
    """daemon.json has the runtime again, Docker runs with it, and both notebooks answer through Tengine."""
    config = json.loads(host(GPUS[0]).file(DAEMON_JSON).content_string)
    assert "nvidia" in config.get("runtimes", {}), f"the nvidia runtime is not back in daemon.json: {config}"
    assert "nvidia" in host(GPUS[0]).check_output("docker info --format '{{json .Runtimes}}'")
    for node in GPUS:
        status = Jupyter(JUMP_IP, 8888, token(node), prefix=f"/{node}/").request("GET", "/api/status").status
        assert status == 200, f"{node}'s notebook does not answer through Tengine after the rerun (HTTP {status})"


def test_after_the_correction_the_next_run_skips_again(drifted):
    output, results = run_site()
    pending = {name: [role for role, r in roles.items() if not r["converged"]] for name, roles in results.items()}
    assert not any(pending.values()), f"roles still not converged after the correcting run: {pending}"


def test_the_record_keeps_no_value(drifted):
    """The records are root's only and hold digests: the node's notebook token appears in none of them."""
    node = host(GPUS[0])
    listing = node.check_output("stat -c '%a %U %n' /var/lib/hpcdl/converged /var/lib/hpcdl/converged/*.json")
    assert all(line.startswith(("700 root", "600 root")) for line in listing.splitlines()), listing
    assert node.run(f"grep -rlF {token(GPUS[0])} /var/lib/hpcdl/converged").rc == 1, "a record holds the token"
