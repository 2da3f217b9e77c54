"""What a user sees on gpu1 after asking for CUDA 12.4 on a node that had 12.2 (the lab's signed
CUDA-like repository, reached only through the tunnel): the upgrade, the link, login shells,
cuda_compat's view, and a tampered repository, a key that is not the pinned one and a page that is no
key refused without changing anything.

The node carries a planted HGX H200 board (plant_hgx.yml: eight H200, four NVSwitch, the driver
580.95.05 after prepare's 580.82.07): Fabric Manager of exactly the driver's version runs, the CUDA
and Fabric Manager packages are held (dpkg), and a stopped Fabric Manager is the module's own verdict
until the role starts it again. The last test is an upgrade through the role that lifts the holds
and sets them again (it removes CUDA 12.2, so it runs last)."""
import functools
import re
import subprocess

import pytest
from labhosts import GPUS, INTERNET_IP, PROJECT, ansible_module, ansible_playbook, host

REPO = f"http://{INTERNET_IP}/cuda/repos/debian12/x86_64/"
CLEAN_LOGIN = "env -i HOME=/root TERM=dumb PATH=/usr/bin:/bin bash -lc"


@functools.cache
def fingerprint():
    """The fingerprint the lab's repository publishes for its key (fetched when a test first needs it)."""
    return subprocess.run(["curl", "-sS", "--noproxy", "*", REPO + "hpcdl-lab-cuda.fpr"],
                          capture_output=True, text=True, check=True).stdout.strip()


def lab_vars():
    """The lab settings the scenario's plays use (the lead adds them to the lab's group_vars)."""
    return {"cuda_repo_mirror": f"http://{INTERNET_IP}/cuda", "cuda_repo_key_file": "hpcdl-lab-cuda.pub",
            "cuda_repo_key_fingerprint": fingerprint(), "cuda_gpu_checks": False, "cuda_version": "12.4"}


def cuda_packages(node):
    out = node.check_output("dpkg-query -W -f '${Package}=${Version}=${db:Status-Status}\\n' 'cuda-*' || true")
    return sorted(line for line in out.splitlines() if line.endswith("=installed"))


def state(node):
    """What the tampered run must not change."""
    return {
        "packages": cuda_packages(node),
        "sources": node.file("/etc/apt/sources.list.d/cuda.sources").content_string,
        "keyring": node.file("/etc/apt/keyrings/cuda-archive-keyring.asc").content_string,
        "link": node.file("/usr/local/cuda").linked_to,
        "lists": node.check_output("ls /var/lib/apt/lists | grep -i cuda || true"),
    }


@pytest.mark.parametrize("gpu", GPUS)
def test_repository_is_signed_with_the_pinned_key(gpu):
    node = host(gpu)
    sources = node.file("/etc/apt/sources.list.d/cuda.sources").content_string
    assert f"URIs: {REPO}\n" in sources
    assert "Signed-By: /etc/apt/keyrings/cuda-archive-keyring.asc\n" in sources
    listing = node.check_output("gpg --batch --with-colons --show-keys /etc/apt/keyrings/cuda-archive-keyring.asc")
    assert [line.split(":")[9] for line in listing.splitlines() if line.startswith("fpr:")][0] == fingerprint()
    # Nothing trusted without a signature anywhere in apt's configuration.
    assert node.run("grep -rniE 'trusted=yes|Trusted: *yes|AllowUnauthenticated' /etc/apt").rc == 1


@pytest.mark.parametrize("gpu", GPUS)
def test_upgraded_to_12_4_and_12_2_kept(gpu):
    assert cuda_packages(host(gpu)) == ["cuda-toolkit-12-2=12.2.140-1=installed",
                                        "cuda-toolkit-12-4=12.4.131-1=installed"]
    assert host(gpu).file("/usr/local/cuda-12.2/bin/nvcc").is_file  # cuda_remove_old: false


@pytest.mark.parametrize("gpu", GPUS)
def test_usr_local_cuda_points_at_12_4(gpu):
    link = host(gpu).file("/usr/local/cuda")
    assert link.is_symlink
    assert link.linked_to == "/usr/local/cuda-12.4"


@pytest.mark.parametrize("gpu", GPUS)
def test_login_shell_nvcc_reports_12_4(gpu):
    node = host(gpu)
    out = node.check_output(f"{CLEAN_LOGIN} 'nvcc --version; command -v nvcc; echo LD=$LD_LIBRARY_PATH'")
    assert "Cuda compilation tools, release 12.4, V12.4.131" in out
    assert "/usr/local/cuda/bin/nvcc" in out
    assert "LD=/usr/local/cuda/lib64" in out
    assert node.run("sh -n /etc/profile.d/cuda.sh").rc == 0


@pytest.mark.parametrize("gpu", GPUS)
def test_cuda_compat_sees_toolkit_12_4(gpu):
    rc, results = ansible_module(gpu, "hpcdl.gpu.cuda_compat", "cuda_version=12.4 fail_on_incompatible=false")
    result = results[gpu]
    assert rc == 0, result
    assert result["toolkit_version"] == "12.4.131"
    assert result["toolkit_path"] == "/usr/local/cuda-12.4"
    assert result["required_cuda"] == "12.4"


@pytest.mark.parametrize("gpu", GPUS)
def test_tampered_repository_is_refused_and_nothing_changes(gpu):
    node = host(gpu)
    before = state(node)
    rc, output = ansible_playbook("--limit", gpu, playbook=PROJECT / "playbooks" / "cuda.yml",
                                  extra=dict(lab_vars(), cuda_repo_mirror=f"http://{INTERNET_IP}/cuda/tampered"))
    assert rc == 2, output
    assert f"The CUDA repository http://{INTERNET_IP}/cuda/tampered/repos/debian12/x86_64/ was refused" in output
    assert "BADSIG" in output
    assert f"apt could not verify it with the pinned key {fingerprint()}" in output
    assert "Nothing was installed from it and the previous repository entry was put back" in output
    assert state(node) == before


# Another fingerprint than the one the lab's key has (the docker role's default: Docker's key).
NOT_THE_LABS = "9DC858229FC7DD38854AE2D88D81803C0EBFCD88"


@pytest.mark.parametrize("gpu", GPUS)
def test_a_key_that_is_not_the_pinned_one_is_refused_and_nothing_changes(gpu):
    node = host(gpu)
    before = state(node)
    rc, output = ansible_playbook("--limit", gpu, playbook=PROJECT / "playbooks" / "cuda.yml",
                                  extra=dict(lab_vars(), cuda_repo_key_fingerprint=NOT_THE_LABS))
    assert rc == 2, output
    message = next(line for line in output.splitlines() if "[ERROR]" in line and "is not the one" in line)
    print(message)
    assert (f"The key at {REPO}hpcdl-lab-cuda.pub is not the one cuda_repo_key_fingerprint pins ({NOT_THE_LABS}): "
            f"it holds the key {fingerprint()} (hpcdl lab CUDA repository (TEST KEY, not NVIDIA) "
            "<cuda-repo@lab.invalid>). Nothing was written to /etc/apt/keyrings/cuda-archive-keyring.asc and nothing "
            "was installed. Check the mirror, or set cuda_repo_key_fingerprint to the fingerprint of the key that "
            "really signs it.") in message
    assert state(node) == before


@pytest.mark.parametrize("gpu", GPUS)
def test_a_file_that_is_no_key_is_refused_and_nothing_changes(gpu):
    """The repository's Release file where the key should be: what a mirror that serves the wrong
    file gives."""
    node = host(gpu)
    before = state(node)
    rc, output = ansible_playbook("--limit", gpu, playbook=PROJECT / "playbooks" / "cuda.yml",
                                  extra=dict(lab_vars(), cuda_repo_key_file="Release"))
    assert rc == 2, output
    first_line = subprocess.run(["curl", "-sS", "--noproxy", "*", REPO + "Release"], capture_output=True, text=True,
                                check=True).stdout.splitlines()[0]
    message = next(line for line in output.splitlines() if "[ERROR]" in line and "is not the one" in line)
    print(message)
    assert (f"The key at {REPO}Release is not the one cuda_repo_key_fingerprint pins ({fingerprint()}): it holds no "
            "readable OpenPGP key (neither an armoured key block nor OpenPGP packets; it starts with "
            f"'{first_line}\\n") in message
    assert "Nothing was written to /etc/apt/keyrings/cuda-archive-keyring.asc and nothing was installed." in message
    assert state(node) == before


def selections(node, *packages):
    """{package: its dpkg selection (install, hold, deinstall)} for the installed ones."""
    query = "dpkg-query -W -f '${Package} ${db:Status-Want} ${db:Status-Status}\\n' "
    out = node.check_output(query + " ".join(packages) + " 2>/dev/null || true")
    return {name: want for name, want, status in (line.split() for line in out.splitlines()) if status == "installed"}


@pytest.mark.parametrize("gpu", GPUS)
def test_cuda_and_fabric_manager_packages_are_held(gpu):
    node = host(gpu)
    held = selections(node, "cuda-toolkit-12-2", "cuda-toolkit-12-4", "nvidia-fabricmanager-580")
    print(node.check_output("dpkg --get-selections | grep -w hold"))
    assert held == {"cuda-toolkit-12-2": "hold", "cuda-toolkit-12-4": "hold", "nvidia-fabricmanager-580": "hold"}


@pytest.mark.parametrize("gpu", GPUS)
def test_apt_leaves_the_held_packages_alone(gpu):
    """What an unattended upgrade (or a hurried apt-get -y) meets: the held packages do not move."""
    node = host(gpu)
    removal = node.run("apt-get -s -y -o Dir::Etc::SourceParts=/dev/null remove cuda-toolkit-12-4")
    print(removal.stdout + removal.stderr)
    assert removal.rc == 100
    assert "E: Held packages were changed and -y was used without --allow-change-held-packages." in removal.stderr
    # Even where a downgrade is allowed, the hold keeps Fabric Manager at the driver's version.
    downgrade = node.run("apt-get -s -y --allow-downgrades install nvidia-fabricmanager-580=580.82.07-1")
    assert downgrade.rc == 100, downgrade.stdout + downgrade.stderr
    assert "E: Held packages were changed and -y was used without --allow-change-held-packages." in downgrade.stderr


@pytest.mark.parametrize("gpu", GPUS)
def test_fabric_manager_runs_at_the_drivers_version(gpu):
    node = host(gpu)
    assert node.service("nvidia-fabricmanager").is_enabled
    assert node.service("nvidia-fabricmanager").is_running
    assert node.check_output("nv-fabricmanager --version") == "Fabric Manager version is : 580.95.05"
    assert node.check_output("dpkg-query -W -f '${Version}' nvidia-fabricmanager-580") == "580.95.05-1"
    rc, results = ansible_module(gpu, "hpcdl.gpu.cuda_compat", "fail_on_incompatible=false")
    result = results[gpu]
    assert rc == 0, result
    assert result["fabric_manager"] == {"running": True, "version": "580.95.05", "required_version": "580.95.05",
                                        "ready": True}
    assert result["nvswitch"]["count"] == 4
    assert result["gpu_architectures"] == ["hopper"] and len(result["gpus"]) == 8
    assert result["kernel_module"] == "open" and result["kernel_module_recommended"] == "open"
    assert ("NVSwitch present (4 NVSwitch devices), Fabric Manager 580.95.05 running, the driver's version."
            in result["messages"])


@pytest.mark.parametrize("gpu", GPUS)
def test_a_stopped_fabric_manager_is_the_verdict_and_the_role_starts_it(gpu):
    node = host(gpu)
    node.run("systemctl stop nvidia-fabricmanager")
    try:
        rc, results = ansible_module(gpu, "hpcdl.gpu.cuda_compat", "cuda_version=12.4 fail_on_incompatible=false")
        result = results[gpu]
        print(result["messages"][0])
        assert result["messages"][0] == (
            "NVSwitch present (4 NVSwitch devices), Fabric Manager not running (nv-fabricmanager 580.95.05 is "
            "installed): CUDA fails with error 802 (cudaErrorSystemNotReady, \"system not yet initialized\") although "
            "nvidia-smi lists every GPU, until Fabric Manager of exactly the driver's version runs.")
        assert result["remediation"].startswith(
            "Install nvidia-fabricmanager-580 of exactly version 580.95.05 (the driver's, not a newer one of the same "
            "branch) and run \"systemctl enable --now nvidia-fabricmanager\".")
        assert result["compatible"] is False
        rc, output = ansible_playbook("--limit", gpu, playbook=PROJECT / "playbooks" / "cuda.yml", extra=lab_vars())
        assert rc == 0, output
        assert re.search(r"TASK \[hpcdl\.gpu\.cuda : Enable and start Fabric Manager\] \**\nchanged:", output), output
    finally:
        node.run("systemctl start nvidia-fabricmanager")
    assert node.service("nvidia-fabricmanager").is_running


# Last: it changes what the tests above read (CUDA 12.2 goes).
@pytest.mark.parametrize("gpu", GPUS)
def test_an_upgrade_through_the_role_lifts_the_holds_and_sets_them_again(gpu):
    """cuda_remove_old drops 12.2, which is held: apt would refuse (test above), so the role lifts the
    holds, removes it, and holds what is left."""
    node = host(gpu)
    rc, output = ansible_playbook("--limit", gpu, playbook=PROJECT / "playbooks" / "cuda.yml",
                                  extra=dict(lab_vars(), cuda_remove_old=True))
    assert rc == 0, output
    lifted = re.search(r"TASK \[hpcdl\.gpu\.cuda : Lift the holds for the upgrade \(apt\)\] \**\n(.*?)\n\n",
                       output, re.S)
    assert lifted and "changed: [" in lifted.group(1), output
    print(lifted.group(1))
    assert "cuda-toolkit-12-2" in lifted.group(1) and "nvidia-fabricmanager-580" in lifted.group(1)
    assert cuda_packages(node) == ["cuda-toolkit-12-4=12.4.131-1=installed"]
    assert selections(node, "cuda-toolkit-12-2", "cuda-toolkit-12-4", "nvidia-fabricmanager-580") == {
        "cuda-toolkit-12-4": "hold", "nvidia-fabricmanager-580": "hold"}
