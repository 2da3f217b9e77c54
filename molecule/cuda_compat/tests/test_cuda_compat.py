"""What a user sees on gpu1 with Debian's real NVIDIA userspace (535.261.03) and no driver:
nvidia-smi cannot talk to the driver, and hpcdl.gpu.cuda_compat says so and what to do."""
import pytest
from labhosts import GPUS, PROJECT, RUNNER, ansible_json, ansible_module, host

VERSION = "535.261.03"
NOT_LOADED = (
    f'The NVIDIA kernel module is not loaded on this host (the userspace driver {VERSION} is '
    'installed), so no CUDA program can start: load it with "modprobe nvidia", install the '
    'kernel module for the running kernel if modprobe cannot find it, or reboot.')


def cuda_compat(gpu, args):
    """The module's result on gpu, run by `ansible` as a user would run it."""
    rc, results = ansible_module(gpu, "hpcdl.gpu.cuda_compat", args)
    return rc, results[gpu]


@pytest.mark.parametrize("gpu", GPUS)
def test_real_nvidia_packages_are_installed(gpu):
    versions = host(gpu).check_output("dpkg-query -W -f '${Package}=${Version}\\n' nvidia-smi libnvidia-ml1")
    assert sorted(versions.splitlines()) == [f"libnvidia-ml1={VERSION}-1", f"nvidia-smi={VERSION}-1"]


@pytest.mark.parametrize("gpu", GPUS)
def test_gpu_node_still_has_no_egress(gpu):
    url = RUNNER.get_variables(gpu)["hpcdl_lab_probe_url"]
    assert host(gpu).run(f"curl --noproxy '*' -sS -m 5 {url}").rc != 0


@pytest.mark.parametrize("gpu", GPUS)
def test_real_nvidia_smi_cannot_talk_to_the_driver(gpu):
    result = host(gpu).run("nvidia-smi")
    assert result.rc != 0
    assert "couldn't communicate with the NVIDIA driver" in result.stdout + result.stderr


@pytest.mark.parametrize("gpu", GPUS)
def test_report_says_driver_not_loaded_and_what_to_do(gpu):
    rc, result = cuda_compat(gpu, "cuda_version=12.2 fail_on_incompatible=false")
    assert rc == 0, result
    assert result["changed"] is False
    assert result.get("failed") is not True
    assert result["driver_loaded"] is False
    assert result["driver_version"] is None
    assert result["library_version"] == VERSION
    assert result["library_mismatch"] is False
    assert result["required_cuda"] == "12.2"
    assert result["required_driver"] == "535.54.03"
    assert result["compatible"] is False
    assert result["messages"][0] == NOT_LOADED
    assert f"Once loaded, driver {VERSION}" in " ".join(result["messages"])
    assert result["remediation"].startswith('Run "modprobe nvidia" as root')
    assert f"install the NVIDIA {VERSION} kernel module for the running kernel" in result["remediation"]


@pytest.mark.parametrize("gpu", GPUS)
def test_check_fails_by_default_with_one_clear_sentence(gpu):
    rc, result = cuda_compat(gpu, "cuda_version=12.2")
    assert rc != 0
    assert result["failed"] is True
    assert result["changed"] is False
    assert result["msg"] == NOT_LOADED
    assert result["remediation"]


@pytest.mark.parametrize("gpu", GPUS)
def test_planning_the_seeds_driver_fails_with_its_verdict(gpu):
    rc, result = cuda_compat(gpu, "driver_version=352.93 cuda_version=8.0")
    assert rc != 0
    assert result["failed"] is True
    assert result["msg"].startswith("CUDA 8.0 needs NVIDIA driver 367.48 or newer, but ")
    assert "CUDA 7.5 at most" in result["msg"]
    assert result["driver_loaded"] is None
    assert result["required_driver"] == "367.48"
    assert "Install NVIDIA driver 367.48 or newer" in result["remediation"]


def test_check_gpu_report_says_driver_not_loaded():
    rc, document = ansible_json(["ansible-playbook", str(PROJECT / "playbooks" / "check_gpu.yml"),
                                 "-e", "check_gpu_cuda_version=12.2"])
    assert rc == 0, document
    tasks = document["plays"][0]["tasks"]
    report = next(t for t in tasks if t["task"]["name"] == "Show the report")
    for gpu in GPUS:
        lines = report["hosts"][gpu]["msg"]
        assert "verdict:        NOT USABLE: NVIDIA kernel module not loaded" in lines
        assert "driver:         none (not loaded)" in lines
        assert f"kernel/library: kernel - / library {VERSION}" in lines
        assert any(line.startswith('remediation:    Run "modprobe nvidia"') for line in lines)
