"""Every Molecule scenario, one pytest test each, so that the test run counts them.

The steps run one by one (converge with its create and prepare, idempotence, check, verify;
destroy always)
so that this test can assert what Molecule itself does not: the check-mode pass on the converged
hosts reports no change, and `lab down` leaves nothing behind. Each step's output goes to
artifacts/molecule/<scenario>.log; a failure quotes its tail.
"""
import os
import re
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = sorted(p.parent.name for p in (ROOT / "molecule").glob("*/molecule.yml"))
# Scenarios that `make test` (and so CI) leaves to `make test-all`, to keep CI inside its hour on two
# cores, and where in CI what they check is still covered:
#   egress_wireguard: playbooks/egress.yml alone and the WireGuard endpoint fault. Its other tests
#     (molecule/shared/wireguard_tests.py) run in the site scenario on two nodes; egress.yml alone
#     stays in CI through egress_bundle.
#   gpu_bench: playbooks/gpu_bench.yml (not part of site.yml) on the lab's CPU. Its preflight, report
#     and comparison are also tested without a lab (tests/integration/test_gpu_bench_*.py, the unit
#     tests of its report plugin); what only the scenario shows is the benchmark run in its container.
#   reprovision: the jump host's cache (site.yml with hpcdl_cache_host set), a wiped node re-provisioned
#     from it, its faults (about 15 minutes). In CI the cache's modules are tested against loopback
#     servers (tests/unit/plugins/modules/test_cache_fetch.py, test_registry_warm.py), its role's bad
#     input and tags without a lab; `make demo` runs with the cache on.
TEST_ALL_ONLY = {"egress_wireguard", "gpu_bench", "reprovision"}
# Each scenario's wall time, in seconds, in the fresh-clone CI run of 2026-12-01 (one at a time; platforms
# from the two-worker run of 2026-12-02),
# reprovision's, gpu_bench's and egress_wireguard's from their own runs (README, Tests). tests/conftest.py
# starts the longest first; a scenario missing here goes after the others.
SCENARIO_SECONDS = {"site": 741, "platforms": 583, "reprovision": 660, "cuda": 423, "tengine": 385,
                    "dataset": 315,
                    "egress_wireguard": 200, "gpu_bench": 176, "egress_bundle": 215, "docker": 181,
                    "proxy_unset": 108, "cuda_compat": 78, "lab": 61}
LOGS = ROOT / "artifacts" / "molecule"
# The lines that say what stopped a run: a task's failure, an unreachable host, Ansible's own error, the
# hpcdl.gpu.changes callback's "! failed at" per host, a verifier's failed tests. A failure quotes them
# before the output's tail, which (with several hosts) may hold only what changed.
FAILURE = re.compile(r"^\s*(fatal: \[|failed: \[|ERROR!|\[ERROR\]|! failed at|! unreachable at|.*UNREACHABLE!"
                     r"|FAILED [^-\s])")
RECAP = re.compile(r"^(\S+)\s+:\s+ok=\d+\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


class Step:
    def __init__(self, scenario):
        self.scenario = scenario
        LOGS.mkdir(parents=True, exist_ok=True)
        self.log = LOGS / f"{scenario}.log"
        self.log.write_text("")

    def __call__(self, action):
        started = time.monotonic()
        proc = subprocess.run(
            ["molecule", action, "-s", self.scenario],
            cwd=ROOT, capture_output=True, text=True, check=False,
            env=dict(os.environ, PY_COLORS="0", ANSIBLE_FORCE_COLOR="0", ANSIBLE_NOCOLOR="1"),
        )
        elapsed = time.monotonic() - started
        output = proc.stdout + proc.stderr
        with self.log.open("a") as log:
            log.write(f"\n===== molecule {action} -s {self.scenario} ({elapsed:.1f} s, rc={proc.returncode})\n")
            log.write(output)
        if proc.returncode != 0:
            lines = output.splitlines()
            why = [line[:800] for line in lines if FAILURE.match(line)]
            why = ([line for line in why if line.lstrip().startswith("! ")]  # the callback's, per host, first
                   + [line for line in why if not line.lstrip().startswith("! ")])[:20]
            tail = "\n".join(lines[-60:])
            pytest.fail(f"molecule {action} -s {self.scenario} failed (rc={proc.returncode}); "
                        f"full log: {self.log}\nwhat failed:\n" + ("\n".join(why) or "(no failure line found)")
                        + f"\nthe output's last lines:\n{tail}", pytrace=False)
        return output


def leftovers(lab):
    """What a lab left on this machine: containers, networks, host firewall rules, state."""
    found = []
    for kind in (["ps", "-aq"], ["network", "ls", "-q"]):
        out = subprocess.run(["docker", *kind, "--filter", f"label=hpcdl.lab={lab}"],
                             capture_output=True, text=True, check=True).stdout.split()
        found += [f"{kind[0]} {x}" for x in out]
    rules = subprocess.run(["iptables-save"], capture_output=True, text=True, check=True).stdout
    found += [f"rule {line}" for line in rules.splitlines() if f"hpcdl-lab:{lab}\"" in line]
    if (ROOT / ".lab" / lab).exists():
        found.append(f"state folder .lab/{lab}")
    procs = subprocess.run(["pgrep", "-af", f".lab/{lab}/"], capture_output=True, text=True, check=False).stdout
    found += [f"process {line}" for line in procs.splitlines()]
    return found


@pytest.mark.molecule
@pytest.mark.parametrize("scenario", [pytest.param(s, marks=pytest.mark.test_all) if s in TEST_ALL_ONLY else s
                                      for s in SCENARIOS])
def test_scenario(scenario):
    step = Step(scenario)
    lab = f"{os.environ.get('HPCDL_LAB_PREFIX', 'mol')}-{scenario}"  # as .config/molecule/config.yml names it
    step("destroy")
    try:
        step("converge")  # create, prepare, converge
        step("idempotence")
        output = step("check")
        recap = RECAP.findall(output)
        assert recap, "the check-mode pass printed no PLAY RECAP"
        changed = {entry[0]: int(entry[1]) for entry in recap if int(entry[1])}
        assert not changed, f"check mode on the converged hosts reports changes: {changed}"
        step("verify")
    finally:
        step("destroy")
    assert leftovers(lab) == [], f"lab {lab} left things behind"
