"""The cuda role on planted GPU hosts: its flavour choice, its refusal of a branch, flavour or CUDA
version the GPUs cannot run, and cuda_compat's Fabric Manager verdict, before anything is installed.

Each run plants a recorded host (tests/unit/fixtures/cuda_compat/hosts/<name>: an M40, a K80, an
HGX H200 with NVSwitch and no Fabric Manager, a B200) at the paths the module's probes really read:
ansible-playbook runs in a private mount namespace (`unshare -m`) where the host's sysfs PCI devices
are bind-mounted over /sys/bus/pci/devices and its /proc/driver over /proc/driver. Nothing outside
that namespace sees them. The role runs on localhost with `-c local --check --tags preflight`
(its first steps, the GPU probe, and the preflight): check mode changes nothing, and every task that
ran is a read-only one (assert_refused checks that for each refusal).
"""
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from check_play import BIN, FIRST_STEP, LAST_STEPS, assert_refused, role_play, run_check_play, task_names

ROOT = Path(__file__).resolve().parents[2]
HOSTS = ROOT / "tests" / "unit" / "fixtures" / "cuda_compat" / "hosts"
PCI_ADDRESS = re.compile(r"^[0-9a-f]{4}_[0-9a-f]{2}_[0-9a-f]{2}\.[0-7]$")
PLAY = role_play("cuda")
SETTINGS = {"cuda_repo_mirror": "http://127.0.0.1:9/cuda",
            "cuda_repo_key_fingerprint": "0123456789ABCDEF0123456789ABCDEF01234567"}
READ_ONLY = {task["name"] for name in ("gpus.yml", "cache.yml", "preflight.yml")
             for task in yaml.safe_load((ROOT / "roles" / "cuda" / "tasks" / name).read_text())}
MOUNT = ("mount --bind \"$1/sys/bus/pci/devices\" /sys/bus/pci/devices && "
         "mount --bind \"$1/proc/driver\" /proc/driver && shift && exec \"$@\"")


def planted(tmp_path, name):
    """The recorded host copied with the kernel's spelling of PCI addresses (0000:18:00.0)."""
    root = tmp_path / "host"
    if name is not None:
        for path in sorted((HOSTS / name).rglob("*")):
            relative = Path(*[part.replace("_", ":") if PCI_ADDRESS.match(part) else part
                              for part in path.relative_to(HOSTS / name).parts])
            if path.is_dir():
                (root / relative).mkdir(parents=True, exist_ok=True)
            else:
                (root / relative).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, root / relative)
    (root / "sys" / "bus" / "pci" / "devices").mkdir(parents=True, exist_ok=True)
    (root / "proc" / "driver").mkdir(parents=True, exist_ok=True)
    return root


@pytest.fixture(scope="module", autouse=True)
def mount_namespace_works(tmp_path_factory):
    root = planted(tmp_path_factory.mktemp("probe"), None)
    if not shutil.which("unshare"):
        pytest.skip("unshare (util-linux) is needed to plant a host")
    proc = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", MOUNT, "sh", str(root), "true"],
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        pytest.skip(f"no private mount namespace here (root and CAP_SYS_ADMIN are needed): {proc.stderr.strip()}")


def run_on(tmp_path, host, **variables):
    root = planted(tmp_path, host)
    prefix = ("unshare", "-m", "--propagation", "private", "sh", "-c", MOUNT, "sh", str(root))
    return run_check_play(tmp_path, PLAY, dict(SETTINGS, **variables), args=("--tags", "preflight"), prefix=prefix)


def debug_lines(stdout, task):
    """What a debug task printed (its msg: a string, or the lines of a list)."""
    block = stdout.split(f"TASK [hpcdl.gpu.cuda : {task}]", 1)[1].split("\nTASK [", 1)[0]
    found = re.search(r'"msg": (\[.*?\]|".*?")\n', block, re.S)
    return yaml.safe_load(found.group(1)) if found else None


def refused(proc, message):
    return assert_refused(proc, "cuda", message, READ_ONLY)


# --- The flavour the role picks ----------------------------------------------------------------

def test_h200_gets_the_open_module_and_the_fabric_manager_verdict(tmp_path):
    proc = run_on(tmp_path, "h200_hgx_no_fm", cuda_install_driver=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    found = debug_lines(proc.stdout, "Show the GPUs found")
    assert found == [
        "NVIDIA GPUs: 8 x H200 SXM 141GB (GH100, Hopper, compute capability 9.0). NVSwitch: 4 devices.",
        "NVSwitch present (4 NVSwitch devices), Fabric Manager not running (nv-fabricmanager is not installed): "
        "CUDA fails with error 802 (cudaErrorSystemNotReady, \"system not yet initialized\") although nvidia-smi "
        "lists every GPU, until Fabric Manager of exactly the driver's version runs.",
        "Fabric Manager: the role installs and starts the driver's version (cuda_fabricmanager).",
    ]
    plan = debug_lines(proc.stdout, "Say what the driver plan is")
    assert plan == ("Driver: nvidia-open, open kernel module (cuda_kernel_module auto: NVIDIA recommends the open "
                    "kernel module from Turing on, as for H200 SXM 141GB (GH100, Hopper, compute capability 9.0)), "
                    "the newest branch of the repository.")
    print(*found, plan, sep="\n")
    assert set(task_names("cuda", proc.stdout)) - {"Validating arguments against arg spec 'main' - Install or "
                                                   "upgrade CUDA from NVIDIA's repository (or a mirror) and act on a "
                                                   "driver/library mismatch"} <= READ_ONLY | FIRST_STEP | LAST_STEPS


def test_m40_gets_the_proprietary_module_on_r580(tmp_path):
    proc = run_on(tmp_path, "m40_aliyun", cuda_install_driver=True, cuda_driver_branch="580")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    plan = debug_lines(proc.stdout, "Say what the driver plan is")
    assert plan == ("Driver: cuda-drivers-580, proprietary kernel module (cuda_kernel_module auto: Tesla M40 (GM200, "
                    "Maxwell, compute capability 5.2) runs only with the proprietary kernel module (the open one "
                    "supports Turing and later)), branch R580 (cuda_driver_branch).")
    print(plan)


def test_b200_gets_the_open_module(tmp_path):
    proc = run_on(tmp_path, "b200_proprietary", cuda_install_driver=True, cuda_version="12.8",
                  cuda_driver_branch="580")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert debug_lines(proc.stdout, "Say what the driver plan is").startswith(
        "Driver: nvidia-open-580, open kernel module (cuda_kernel_module auto: B200 (GB100, Blackwell, compute "
        "capability 10.0) needs the open kernel module), branch R580")


def test_k80_on_the_branch_cuda_driver_package_names(tmp_path):
    """inventories/aws_p2: cuda-drivers-470 and CUDA 11.4."""
    proc = run_on(tmp_path, "k80_aws_p2", cuda_install_driver=True, cuda_driver_package="cuda-drivers-470",
                  cuda_version="11.4")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert debug_lines(proc.stdout, "Say what the driver plan is").endswith(
        "branch R470 (cuda_driver_package).")


def test_no_gpu_and_no_driver_to_install_keeps_the_lab_as_it_was(tmp_path):
    """The lab: no NVIDIA device, cuda_install_driver false (cuda_kernel_module stays auto)."""
    proc = run_on(tmp_path, None)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert debug_lines(proc.stdout, "Show the GPUs found") == ["No NVIDIA GPU in sysfs."]
    assert re.search(r"localhost\s+:.*changed=0 .*failed=0", proc.stdout)


# --- What the role refuses, before anything is installed ----------------------------------------

REFUSALS = {
    "m40_newest_branch": (
        "m40_aliyun", {"cuda_install_driver": True},
        "cuda_driver_branch is empty and cuda-drivers names no branch, so the role would install the newest driver "
        "branch in the repository, and NVIDIA's branches after R580 drop 2 x Tesla M40 (GM200, Maxwell, compute "
        "capability 5.2): set cuda_driver_branch: \"580\" (the -580 branch packages keep the driver on it)."),
    "m40_branch_590": (
        "m40_aliyun", {"cuda_install_driver": True, "cuda_driver_branch": "590"},
        "cuda_driver_branch (branch R590): R590 does not support 2 x Tesla M40 (GM200, Maxwell, compute capability "
        "5.2): NVIDIA's last driver branch for Maxwell GPUs is R580, so the kernel module finds no GPU it can drive. "
        "Set cuda_driver_branch: \"580\"."),
    "m40_open_module": (
        "m40_aliyun", {"cuda_install_driver": True, "cuda_driver_branch": "580",
                       "cuda_kernel_module": "open"},
        "cuda_kernel_module is open, but Tesla M40 (GM200, Maxwell, compute capability 5.2) runs only with the "
        "proprietary kernel module (the open one supports Turing and later): the GPUs here run only with the "
        "proprietary kernel module. Set cuda_kernel_module to proprietary (or auto)."),
    "m40_cuda_13": (
        "m40_aliyun", {"cuda_version": "13.0"},
        "cuda_version 13.0: CUDA 13.0 does not build code for 2 x Tesla M40 (GM200, Maxwell, compute capability 5.2): "
        "CUDA 12 is the last major release that supports compute capability 5.2, so a CUDA 13.0 program has no "
        "kernel that runs on it. Set cuda_version to a version these GPUs run"),
    "k80_r535": (
        "k80_aws_p2", {"cuda_install_driver": True, "cuda_driver_package": "cuda-drivers-535",
                       "cuda_version": "11.4"},
        "cuda_driver_package (branch R535): R535 does not support Tesla K80 (GK210, Kepler, compute capability 3.7): "
        "NVIDIA's last driver branch for Kepler GPUs is R470"),
    "k80_cuda_12": (
        "k80_aws_p2", {"cuda_version": "12.2"},
        "cuda_version 12.2: CUDA 12.2 does not build code for Tesla K80 (GK210, Kepler, compute capability 3.7): "
        "CUDA 11 is the last major release that supports compute capability 3.7"),
    "k80_branch_older_than_cuda": (
        "k80_aws_p2", {"cuda_install_driver": True, "cuda_driver_branch": "470",
                       "cuda_version": "11.8"},
        "cuda_driver_branch (branch R470) is older than CUDA 11.8 needs (driver 520.61.05, branch R520): set "
        "cuda_version to one the branch runs (11.4 or older) or a newer cuda_driver_branch."),
    "b200_proprietary": (
        "b200_proprietary", {"cuda_install_driver": True, "cuda_kernel_module": "proprietary",
                             "cuda_version": "12.8", "cuda_driver_branch": "580"},
        "cuda_kernel_module is proprietary, but B200 (GB100, Blackwell, compute capability 10.0) needs the open "
        "kernel module: the GPUs here run only with the open kernel module. Set cuda_kernel_module to open (or "
        "auto)."),
    "b200_branch_565": (
        "b200_proprietary", {"cuda_install_driver": True, "cuda_driver_branch": "565",
                             "cuda_version": "12.6"},
        "cuda_driver_branch (branch R565): R565 is older than 8 x B200 (GB100, Blackwell, compute capability 10.0): "
        "compute capability 10.0 came with CUDA 12.8, whose driver branch is R570. Set cuda_driver_branch to \"570\" "
        "or newer."),
    "no_gpu_auto": (
        None, {"cuda_install_driver": True},
        "cuda_kernel_module is auto, but no NVIDIA GPU of a known generation was found, so the role cannot choose the "
        "driver's kernel module flavour: set cuda_kernel_module to open (Turing and later GPUs) or proprietary (Volta "
        "and older), or cuda_install_driver to false."),
}


@pytest.mark.parametrize(("host", "variables", "message"), REFUSALS.values(), ids=REFUSALS.keys())
def test_refused_before_anything_is_installed(tmp_path, host, variables, message):
    refused(run_on(tmp_path, host, **variables), message)


def test_check_gpu_report_on_the_h200_board(tmp_path):
    """playbooks/check_gpu.yml, the user's report, on the planted HGX H200 without Fabric Manager."""
    root = planted(tmp_path, "h200_hgx_no_fm")
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(yaml.safe_dump({"gpu_nodes": {"hosts": {"localhost": {
        "ansible_connection": "local", "ansible_python_interpreter": sys.executable}}}}))
    proc = subprocess.run(
        ["unshare", "-m", "--propagation", "private", "sh", "-c", MOUNT, "sh", str(root),
         str(BIN / "ansible-playbook"), "-i", str(inventory), str(ROOT / "playbooks" / "check_gpu.yml"),
         "-e", "check_gpu_cuda_version=13.0"],
        capture_output=True, text=True, check=False, cwd=tmp_path,
        env=dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_STDOUT_CALLBACK="default",
                 ANSIBLE_CALLBACK_RESULT_FORMAT="json"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(re.search(r"TASK \[Show the report\] \**\nok: \[localhost\] => (\{.*?\n\})\n", proc.stdout,
                                  re.S).group(1))["msg"]
    print(*report, sep="\n")
    assert report[0] == ("verdict:        NOT USABLE: NVSwitch present, Fabric Manager not running at the driver's "
                         "version")
    assert "gpus:           8 x H200 SXM 141GB (GH100, Hopper, compute capability 9.0). NVSwitch: 4 devices." in report
    assert ("kernel module:  open loaded; the GPUs run with open or proprietary (open recommended); driver branches "
            "R520 to the newest") in report
    assert any(line.startswith("fabric manager: NVSwitch present (4 NVSwitch devices), Fabric Manager not running")
               for line in report)
