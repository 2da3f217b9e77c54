"""The cuda role's driver/library mismatch policies, each branch run for real on a simulated result.

The role's tasks/mismatch.yml takes what hpcdl.gpu.cuda_compat returned (``__cuda_compat_result``).
Here that result is the module's own verdict (``judge``) for the seed's situation: kernel module
352.93 still loaded, library 375.26 installed with CUDA 8. The play runs against localhost with
`-c local --check`, so nothing on this machine changes: the reload branch runs modprobe with
--dry-run (here a fake modprobe that answers as kmod does and logs its arguments), reads a fake
/proc/modules and a fake docker; the reboot branch does not reboot in check mode.
"""
import re

import pytest
from ansible_collections.hpcdl.gpu.plugins.module_utils.cuda_compat import judge
from check_play import run_check_play, shown

PLAY = """\
- name: Apply the mismatch policy to a simulated cuda_compat result
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Include the role's mismatch tasks
      ansible.builtin.include_role:
        name: hpcdl.gpu.cuda
        tasks_from: mismatch.yml
"""
TASK = re.compile(r"^TASK \[hpcdl\.gpu\.cuda : (.+?)\] \**$", re.M)
STATUS = re.compile(r"^(ok|changed|skipping|fatal|included):", re.M)
PROC_MODULES = """\
nvidia_uvm 1384448 0 - Live 0x0000000000000000 (POE)
nvidia_drm 77824 0 - Live 0x0000000000000000 (POE)
nvidia_modeset 1298432 1 nvidia_drm, Live 0x0000000000000000 (POE)
drm_kms_helper 311296 1 nvidia_drm, Live 0x0000000000000000
nvidia 56188928 2 nvidia_uvm,nvidia_modeset, Live 0x0000000000000000 (POE)
"""
FAKE_MODPROBE = """\
#!/bin/sh
# Answers as kmod's modprobe does: "-r" of a module in use fails (also with --dry-run).
echo "$*" >> "$(dirname "$0")/modprobe.log"
if [ "$1" = "-r" ] && [ -e "$(dirname "$0")/busy" ]; then
  echo "modprobe: FATAL: Module nvidia is in use." >&2
  exit 1
fi
exit 0
"""
FAKE_DOCKER = """\
#!/bin/sh
echo "$*" >> "$(dirname "$0")/docker.log"
case "$1" in
  ps) printf '%s\\n' 4f1e5c0ffee0 9a8b7c6d5e4f ;;
  inspect) printf '%s\\n' '4f1e5c0ffee0 /jupyter nvidia null' '9a8b7c6d5e4f /tengine runc null' ;;
esac
"""


def seed_result():
    """What cuda_compat returns on the seed's node after `yum install cuda` (CUDA 8)."""
    facts = {"driver_version": "352.93", "driver_loaded": True, "library_version": "375.26",
             "library_mismatch": True, "cuda_driver_version": "7.5"}
    result = judge(facts, requirement={"cuda": "8.0", "source": "cuda_version", "lenient": False})
    result.pop("failure", None)
    result["changed"] = False
    assert result["library_mismatch"] is True and result["remediation"]
    return result


def run_policy(tmp_path, policy, busy=False):
    fake = tmp_path / "fake"
    fake.mkdir()
    for name, text in (("modprobe", FAKE_MODPROBE), ("docker", FAKE_DOCKER)):
        (fake / name).write_text(text)
        (fake / name).chmod(0o755)
    (fake / "modules").write_text(PROC_MODULES)
    if busy:
        (fake / "busy").write_text("")
    variables = {
        "cuda_mismatch_policy": policy,
        "cuda_version": "8.0",
        "__cuda_compat_result": seed_result(),
        "__cuda_modprobe": str(fake / "modprobe"),
        "__cuda_docker": str(fake / "docker"),
        "__cuda_proc_modules": str(fake / "modules"),
    }
    proc = run_check_play(tmp_path, PLAY, variables)
    log = (fake / "modprobe.log").read_text().splitlines() if (fake / "modprobe.log").exists() else []
    docker_log = (fake / "docker.log").read_text().splitlines() if (fake / "docker.log").exists() else []
    return proc, task_statuses(proc.stdout), log, docker_log


def task_statuses(stdout):
    """{task name: first status printed for it (ok, changed, skipping, fatal)} of the role's tasks."""
    statuses = {}
    headers = list(TASK.finditer(stdout))
    for header, after in zip(headers, headers[1:] + [None], strict=True):
        block = stdout[header.end():after.start() if after else len(stdout)]
        status = STATUS.search(block)
        statuses[header.group(1)] = status.group(1) if status else None
    return statuses


def test_fail_stops_with_the_modules_fix(tmp_path):
    proc, tasks, log, _docker_log = run_policy(tmp_path, "fail")
    output = proc.stdout + proc.stderr
    assert proc.returncode == 2, output
    assert tasks["Stop with the fix (cuda_mismatch_policy fail)"] == "fatal", tasks
    result = seed_result()
    assert shown(result["messages"][0]) in output
    assert shown("Fix: " + result["remediation"]) in output
    assert "Reload the NVIDIA kernel modules (cuda_mismatch_policy reload)" not in tasks
    assert log == []
    print(next(line for line in output.splitlines() if '"msg"' in line and "Fix:" in line).strip())


def test_reload_with_busy_modules_stops_with_the_exact_fix(tmp_path):
    proc, tasks, log, docker_log = run_policy(tmp_path, "reload", busy=True)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 2, output
    assert tasks["Stop with the exact fix when the modules stay busy"] == "fatal", tasks
    # The real task logic ran: the loaded modules in the order modprobe -r needs, dry run only.
    assert log == ["-r --dry-run nvidia_uvm nvidia_drm nvidia_modeset nvidia"]
    assert "modprobe: FATAL: Module nvidia is in use." in output
    assert 'modprobe -r nvidia_uvm nvidia_drm nvidia_modeset nvidia && modprobe nvidia' in output
    assert 'fuser -v /dev/nvidia*' in output
    assert "Would stop first: /jupyter." in output  # the GPU container, not the runc one
    assert tasks["Stop the containers that use the GPU"] == "skipping"  # check mode
    assert not any(line.startswith("stop") for line in docker_log)
    assert "Load the NVIDIA kernel module that matches the library" not in tasks
    print(next(line for line in output.splitlines() if "still in use" in line).strip())


def test_reload_with_free_modules_would_unload_and_load(tmp_path):
    proc, tasks, log, _docker_log = run_policy(tmp_path, "reload")
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    assert log == ["-r --dry-run nvidia_uvm nvidia_drm nvidia_modeset nvidia", "--dry-run nvidia"]
    assert tasks["Unload the NVIDIA kernel modules"] == "changed"
    assert tasks["Load the NVIDIA kernel module that matches the library"] == "changed"
    assert ("Check mode: would stop /jupyter, unload nvidia_uvm nvidia_drm nvidia_modeset nvidia and load nvidia"
            in output)


def test_reboot_is_chosen_and_skipped_in_check_mode(tmp_path):
    proc, tasks, log, _docker_log = run_policy(tmp_path, "reboot")
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    assert tasks["Reboot to load the NVIDIA kernel module that matches the library"] == "skipping"
    assert "Check mode: would reboot localhost (cuda_mismatch_policy reboot), then check the driver again." in output
    assert "Unload the NVIDIA kernel modules" not in tasks
    assert log == []


@pytest.mark.parametrize("policy", ["fail", "reload", "reboot"])
def test_each_branch_shows_the_mismatch_first(tmp_path, policy):
    proc, tasks, _log, _docker_log = run_policy(tmp_path, policy)
    assert tasks["Show the mismatch"] == "ok"
    assert ("Driver/library mismatch on localhost: kernel module 352.93, library 375.26; "
            f"cuda_mismatch_policy is {policy}.") in proc.stdout
