"""Every role's tags work alone: `--tags install` and `--skip-tags preflight` find every variable.

Every role opens with the same step (the internal role hpcdl.gpu.set_vars, tagged always: the facts
it needs and its values for this OS), so a stage run alone must never stop on an undefined variable,
as docker's `--tags install` once did; and an OS a role has no values for stops there. Each role
runs on localhost with `-c local --check` (check_play.py) with valid settings whose every URL is a
closed port on loopback: a stage may stop where it would download (connection refused) or where this
machine lacks systemd, never on a name it cannot resolve. Each run must also have run a task of the
stage the tags select.
"""
import re
from pathlib import Path

import pytest
import yaml
from check_play import ARGSPEC_TASK, FIRST_STEP, fact_cache, role_play, run_check_play, task_names

ROLES = ["cuda", "dataset", "docker", "gpu_bench", "hpc_vpn", "jump_cache", "jump_vpn", "jupyter", "nvidia_docker",
         "proxy_unset", "tengine", "tools"]
DEAD = "http://127.0.0.1:9"  # the discard port: nothing listens there
FPR = "0123456789ABCDEF0123456789ABCDEF01234567"
SETTINGS = {
    "cuda": {"cuda_repo_mirror": f"{DEAD}/cuda", "cuda_repo_key_fingerprint": FPR},
    "dataset": {"dataset_relay_host": "localhost", "dataset_root": "{{ playbook_dir }}/datasets",
                "dataset_relay_dir": "{{ playbook_dir }}/relay", "dataset_state_dir": "{{ playbook_dir }}/state",
                "dataset_items": [{"name": "x", "url": f"{DEAD}/x.bin", "sha256": "0" * 64}]},
    "docker": {"docker_repo_mirror": f"{DEAD}/docker", "docker_repo_gpg_fingerprint": FPR},
    "gpu_bench": {"gpu_bench_image": "hpcdl-test/no-such-image:0", "gpu_bench_runtime": "", "gpu_bench_gpus": "",
                  "gpu_bench_report_dir": "{{ playbook_dir }}/gpu-bench-report"},
    "hpc_vpn": {"hpc_vpn_jump_host": "localhost", "hpc_vpn_jump_address": "127.0.0.1",
                "hpc_vpn_probe_url": f"{DEAD}/probe.html", "hpc_vpn_probe_retries": 1,
                "hpc_vpn_controller_cache_dir": "{{ playbook_dir }}/vpn-cache",
                "hpc_vpn_wireguard_install_from": "repository"},
    "jump_cache": {"jump_cache_address": "127.0.0.1", "jump_cache_allowed_sources": ["127.0.0.0/8"],
                   "jump_cache_registries": [{"name": "quay.io", "upstream": "http://127.0.0.1:9", "port": 5001}]},
    "jump_vpn": {"jump_vpn_public_interface": "lo"},
    "jupyter": {"jupyter_token": "hpcdl-test-token-0123456789abcdef", "jupyter_bind_address": "127.0.0.1",
                "jupyter_runtime": "", "jupyter_image": "hpcdl-test/no-such-image:0", "jupyter_image_pull": True},
    "nvidia_docker": {"nvidia_docker_repo_mirror": f"{DEAD}/nvidia", "nvidia_docker_repo_gpg_fingerprint": FPR,
                      "nvidia_docker_gpu_present": False},
    "proxy_unset": {},
    "tengine": {"tengine_upstream_host": "127.0.0.1", "tengine_source_url": f"{DEAD}/tengine-3.1.0.tar.gz",
                "tengine_source_sha256": "0" * 64, "tengine_allowed_sources": ["127.0.0.1"]},
    "tools": {},
}
# What a stage may stop on here, on purpose: the closed loopback port, a machine without systemd.
EXPECTED_STOPS = (r"Connection refused|127\.0\.0\.1:9|Service is in unknown state"
                  r"|System has not been booted with systemd")
# And, per role, where a check-mode run on a host the role never converged stops (check mode does
# not create what a later task reads; the scenarios' check passes run on converged hosts):
NOT_CONVERGED = {
    "hpc_vpn": r"cannot open /etc/wireguard/wg0\.key",  # the key the first real run generates
    "jupyter": r"Cannot find image with name hpcdl-test/no-such-image:0, and pull=never",  # not pulled in check mode
}
UNDEFINED = re.compile(r"is undefined|undefined variable|has no attribute|AnsibleUndefined", re.I)
MODES = {"install": ["--tags", "install"], "skip_preflight": ["--skip-tags", "preflight"]}


ROOT = Path(__file__).resolve().parents[2]


def preflight_tasks(role):
    path = ROOT / "roles" / role / "tasks" / "preflight.yml"
    return {task["name"] for task in yaml.safe_load(path.read_text()) or []} if path.exists() else set()


def has_install_stage(role):
    steps = [ROOT / "roles" / role / "tasks" / name for name in ("main.yml", "converge.yml")]
    tasks = [task for path in steps if path.exists() for task in yaml.safe_load(path.read_text()) or []]
    return any("install" in (task.get("tags") or []) for task in tasks)


def stage_tasks(role, stdout):
    return [n for n in task_names(role, stdout) if not n.startswith(ARGSPEC_TASK) and n not in FIRST_STEP]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("role", ROLES)
def test_a_stage_run_alone_finds_every_variable(tmp_path, role, mode):
    proc = run_check_play(tmp_path, role_play(role), SETTINGS[role], args=MODES[mode])
    output = proc.stdout + proc.stderr
    assert not UNDEFINED.search(output), output[-4000:]
    ran = stage_tasks(role, proc.stdout)
    if mode != "install" or has_install_stage(role):
        assert ran, f"no task of hpcdl.gpu.{role} ran with {MODES[mode]}:\n{output[-3000:]}"
    assert not preflight_tasks(role) & set(ran), f"preflight tasks ran with {MODES[mode]}: {ran}"
    if proc.returncode != 0:
        fatal = [line for line in proc.stdout.splitlines() if line.startswith(("fatal:", "failed:"))]
        expected = re.compile("|".join(filter(None, [EXPECTED_STOPS, NOT_CONVERGED.get(role)])))
        assert fatal and all(expected.search(line) for line in fatal), output[-4000:]
    print(f"{role} {' '.join(MODES[mode])}: {len(ran)} tasks, last {ran[-1] if ran else None!r}, rc={proc.returncode}")


def test_an_os_without_values_is_refused_by_the_first_step(tmp_path):
    """Arch Linux facts (from a fact cache: this machine is Debian): docker has values for the Debian
    and the RedHat families only, so its first step stops, naming them, with any tag, before a step of
    the role runs."""
    facts = {"ansible_distribution": "Archlinux", "ansible_distribution_version": "rolling",
             "ansible_distribution_major_version": "rolling", "ansible_distribution_release": "rolling",
             "ansible_os_family": "Archlinux", "ansible_architecture": "x86_64", "module_setup": True}
    env = fact_cache(tmp_path, facts)
    proc = run_check_play(tmp_path, role_play("docker"), SETTINGS["docker"], extra_env=env,
                          args=["--tags", "install"])
    output = proc.stdout + proc.stderr
    assert proc.returncode == 2, output
    assert ("Archlinux rolling (Archlinux family) is not supported by hpcdl.gpu.docker: it has values for "
            "Debian, Debian-13, RedHat, RedHat-7 (roles/docker/vars/).") in output, output
    assert stage_tasks("docker", proc.stdout) == [], "a step of the role ran"
