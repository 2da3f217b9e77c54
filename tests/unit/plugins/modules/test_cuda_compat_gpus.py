"""cuda_compat on recorded hosts (tests/unit/fixtures/cuda_compat/hosts: their sysfs PCI devices and
/proc): the GPU generation, the driver branch and kernel module flavour it can run, CUDA's support of
the GPU, NVSwitch and Fabric Manager. Each verdict is asserted with the sentence a user reads."""
import pytest
from ansible_collections.hpcdl.gpu.plugins.module_utils import cuda_probe

H200_NVML = [(f"00000000:{bus}:00.0", 0x2335, "NVIDIA H200", (9, 0))
             for bus in ("18", "2A", "3A", "5D", "9A", "AB", "BA", "DB")]
FM = "/usr/bin/nv-fabricmanager"
FM_NOT_RUNNING = (
    "NVSwitch present (4 NVSwitch devices), Fabric Manager not running (nv-fabricmanager is not installed): "
    "CUDA fails with error 802 (cudaErrorSystemNotReady, \"system not yet initialized\") although nvidia-smi "
    "lists every GPU, until Fabric Manager of exactly the driver's version runs.")
FM_FIX = ("Install nvidia-fabricmanager-580 of exactly version 580.95.05 (the driver's, not a newer one of the "
          "same branch) and run \"systemctl enable --now nvidia-fabricmanager\".")


def h200(fakes, **extra):
    return dict(host="h200_hgx_no_fm",
                libraries=[fakes.nvml_library(init=0, driver="580.95.05", nvml_version="13.580.95.05",
                                              cuda=13000, devices=H200_NVML)], **extra)


# --- M40 (Maxwell GM200), the seed's Aliyun HPC node with driver 352.93 -------------------------------

def test_m40_is_maxwell_from_sysfs_without_a_driver_answering(module_runner):
    run = module_runner({"driver_version": "580.95.05", "kernel_module": "proprietary"}, host="m40_aliyun")
    assert not run.failed, run.result
    result = run.result
    assert [(g["pci_address"], g["device_id"], g["chip"], g["architecture"], g["compute_capability"], g["name"])
            for g in result["gpus"]] == [
        ("0000:04:00.0", "0x17fd", "GM200", "maxwell", "5.2", "Tesla M40"),
        ("0000:05:00.0", "0x17fd", "GM200", "maxwell", "5.2", "Tesla M40")]
    assert result["gpus"][0]["source"].endswith("/sys/bus/pci/devices")
    assert result["gpu_architectures"] == ["maxwell"]
    assert result["kernel_module_recommended"] == "proprietary"
    assert result["gpu_compatible"] is True
    assert result["nvswitch"]["present"] is False
    assert result["fabric_manager"] is None
    assert result["messages"][-1] == "NVIDIA GPUs: 2 x Tesla M40 (GM200, Maxwell, compute capability 5.2)."


def test_m40_refuses_a_branch_after_r580(module_runner):
    run = module_runner({"driver_version": "590.44.01", "kernel_module": "proprietary"}, host="m40_aliyun")
    assert run.failed
    assert run.result["msg"] == (
        "The planned driver 590.44.01 (branch R590) does not support 2 x Tesla M40 (GM200, Maxwell, compute "
        "capability 5.2): NVIDIA's last driver branch for Maxwell GPUs is R580, so the kernel module finds no GPU "
        "it can drive.")
    assert run.result["remediation"] == (
        "Install an R580 driver (the branch package, for example cuda-drivers-580) instead of a newer branch.")
    assert run.result["gpu_compatible"] is False
    print(run.result["msg"])


def test_m40_refuses_the_open_kernel_module(module_runner):
    run = module_runner({"driver_version": "580.95.05", "kernel_module": "open"}, host="m40_aliyun")
    assert run.failed
    assert run.result["msg"] == (
        "The planned driver 580.95.05 uses the open kernel module, which does not support 2 x Tesla M40 (GM200, "
        "Maxwell, compute capability 5.2): NVIDIA's open GPU kernel modules run on Turing and later GPUs only.")
    assert run.result["remediation"] == (
        "Install the proprietary kernel module flavour of the driver (cuda-drivers, not nvidia-open).")
    print(run.result["msg"])


def test_m40_cuda_13_has_no_code_for_maxwell_even_on_r580(module_runner):
    run = module_runner({"driver_version": "580.95.05", "cuda_version": "13.0", "kernel_module": "proprietary"},
                        host="m40_aliyun")
    assert run.failed
    assert run.result["msg"] == (
        "CUDA 13.0 does not build code for 2 x Tesla M40 (GM200, Maxwell, compute capability 5.2): CUDA 12 is the "
        "last major release that supports compute capability 5.2, so a CUDA 13.0 program has no kernel that runs "
        "on it.")
    # The driver alone would do: the table's verdict is still there, after the GPU's.
    assert ("CUDA 13.0 needs NVIDIA driver 580.65.06 or newer, and the planned driver 580.95.05 meets it (it runs "
            "CUDA 13.0 at most).") in run.result["messages"]
    assert run.result["compatible"] is False
    assert run.result["remediation"] == "Use a toolkit or image built for CUDA 12.x or older."


def test_m40_with_the_seeds_driver_352_93_loaded(module_runner, fakes):
    run = module_runner({"cuda_version": "12.4"}, host="m40_aliyun",
                        libraries=[fakes.nvml_library(init=0, driver="352.93", nvml_version="7.352.93")])
    assert run.failed
    assert run.result["msg"].startswith("CUDA 12.4 needs NVIDIA driver 550.54.14 or newer, but this host's driver "
                                        "352.93 runs CUDA 7.5 at most")
    assert run.result["kernel_module"] == "proprietary"
    assert run.result["gpu_compatible"] is True      # 352 does drive a Maxwell: the driver is only old
    assert run.commands == []                        # no modinfo: the module is loaded


# --- K80 (Kepler GK210), AWS p2 with R470 ---------------------------------------------------------

def test_k80_on_r470_runs_cuda_11_4(module_runner, fakes):
    run = module_runner({"cuda_version": "11.4"}, host="k80_aws_p2",
                        libraries=[fakes.nvml_library(init=0, driver="470.256.02", nvml_version="11.470.256.02",
                                                      cuda=11040)])
    assert not run.failed, run.result
    assert run.result["gpu_architectures"] == ["kepler"]
    assert run.result["gpus"][0]["chip"] == "GK210"
    assert run.result["gpus"][0]["compute_capability"] == "3.7"
    assert run.result["compatible"] is True
    assert run.result["gpu_compatible"] is True
    assert run.result["kernel_module_recommended"] == "proprietary"


def test_k80_refuses_r535(module_runner):
    run = module_runner({"driver_version": "535.261.03"}, host="k80_aws_p2")
    assert run.failed
    assert run.result["msg"] == (
        "The planned driver 535.261.03 (branch R535) does not support Tesla K80 (GK210, Kepler, compute capability "
        "3.7): NVIDIA's last driver branch for Kepler GPUs is R470, so the kernel module finds no GPU it can "
        "drive.")
    assert run.result["remediation"].startswith("Install an R470 driver")


def test_k80_cuda_12_has_no_code_for_kepler(module_runner):
    run = module_runner({"driver_version": "470.256.02", "cuda_version": "12.0"}, host="k80_aws_p2")
    assert run.failed
    assert run.result["msg"].startswith(
        "CUDA 12.0 does not build code for Tesla K80 (GK210, Kepler, compute capability 3.7): CUDA 11 is the last")


# --- H200 on an HGX board: NVSwitch, and no Fabric Manager ---------------------------------------

def test_h200_nvswitch_without_fabric_manager_is_its_own_verdict(module_runner, fakes):
    run = module_runner({"cuda_version": "13.0"}, **h200(fakes))
    assert run.failed
    result = run.result
    assert result["msg"] == FM_NOT_RUNNING
    assert result["remediation"] == FM_FIX
    # The driver itself is fine: Fabric Manager's verdict comes first, the table's next.
    assert result["messages"][:2] == [
        FM_NOT_RUNNING,
        "CUDA 13.0 needs NVIDIA driver 580.65.06 or newer, and this host's driver 580.95.05 meets it (it runs CUDA "
        "13.0 at most)."]
    assert result["compatible"] is False             # CUDA fails with 802 until Fabric Manager runs
    assert result["gpu_compatible"] is True
    assert result["nvswitch"] == {"present": True, "count": 4,
                                  "pci_addresses": ["0000:05:00.0", "0000:06:00.0", "0000:07:00.0", "0000:08:00.0"],
                                  "proc_devices": ["0000:05:00.0", "0000:06:00.0", "0000:07:00.0", "0000:08:00.0"]}
    assert result["fabric_manager"] == {"running": False, "version": None, "required_version": "580.95.05",
                                        "ready": False}
    # The name and compute capability from NVML, matched to sysfs by PCI bus id.
    assert {(g["name"], g["compute_capability"], g["source"].endswith("and NVML")) for g in result["gpus"]} == {
        ("NVIDIA H200", "9.0", True)}
    assert len(result["gpus"]) == 8
    assert result["kernel_module"] == "open"
    assert result["kernel_module_recommended"] == "open"
    assert result["messages"][-1] == ("NVIDIA GPUs: 8 x NVIDIA H200 (GH100, Hopper, compute capability 9.0). "
                                      "NVSwitch: 4 devices.")
    print(result["msg"])


def test_h200_without_a_requirement_still_fails_on_fabric_manager(module_runner, fakes):
    run = module_runner({}, **h200(fakes))
    assert run.failed
    assert run.result["msg"] == FM_NOT_RUNNING
    assert run.result["compatible"] is None


def test_h200_fabric_manager_installed_in_another_version_and_not_running(module_runner, fakes):
    run = module_runner({"fail_on_incompatible": False}, **h200(
        fakes, bins={"nv-fabricmanager": FM},
        commands={"nv-fabricmanager": (0, fakes.text("nv-fabricmanager_580.82.07.txt"), "")}))
    assert not run.failed
    assert run.result["fabric_manager"]["running"] is False
    assert run.result["messages"][0] == (
        "NVSwitch present (4 NVSwitch devices), Fabric Manager not running (nv-fabricmanager 580.82.07 is "
        "installed, not the driver's 580.95.05): CUDA fails with error 802 (cudaErrorSystemNotReady, \"system not "
        "yet initialized\") although nvidia-smi lists every GPU, until Fabric Manager of exactly the driver's "
        "version runs.")


def test_h200_fabric_manager_running_with_another_version(module_runner, fakes, monkeypatch):
    monkeypatch.setattr(cuda_probe, "find_process", lambda name, proc_root=None: [4242])
    run = module_runner({}, **h200(fakes, bins={"nv-fabricmanager": FM},
                                   commands={"nv-fabricmanager": (0, fakes.text("nv-fabricmanager_580.82.07.txt"),
                                                                  "")}))
    assert run.failed
    assert run.result["msg"] == (
        "NVSwitch present (4 NVSwitch devices), Fabric Manager version differs: nv-fabricmanager is 580.82.07 and "
        "the driver 580.95.05; it must be exactly the driver's version (it stops with \"driver interface version "
        "... don't match\"), and CUDA fails with error 802 (cudaErrorSystemNotReady, \"system not yet "
        "initialized\") although nvidia-smi lists every GPU, until Fabric Manager of exactly the driver's version "
        "runs.")
    assert run.result["remediation"] == (
        "Install nvidia-fabricmanager-580 of exactly version 580.95.05 (the driver's, not a newer one of the same "
        "branch) and run \"systemctl restart nvidia-fabricmanager\".")
    assert run.result["fabric_manager"] == {"running": True, "version": "580.82.07",
                                            "required_version": "580.95.05", "ready": False}
    assert run.commands == [[FM, "--version"]]
    print(run.result["msg"])


def test_h200_fabric_manager_running_the_drivers_version(module_runner, fakes, monkeypatch):
    monkeypatch.setattr(cuda_probe, "find_process", lambda name, proc_root=None: [4242])
    run = module_runner({"cuda_version": "13.0"}, **h200(
        fakes, bins={"nv-fabricmanager": FM},
        commands={"nv-fabricmanager": (0, "Fabric Manager version is : 580.95.05\n", "")}))
    assert not run.failed, run.result
    assert run.result["compatible"] is True
    assert run.result["fabric_manager"]["ready"] is True
    assert ("NVSwitch present (4 NVSwitch devices), Fabric Manager 580.95.05 running, the driver's version."
            in run.result["messages"])
    assert run.result["remediation"] == ""


def test_fabric_manager_process_found_by_its_name_in_proc(module_runner, fakes, tmp_path, monkeypatch):
    """find_process reads /proc/<pid>/comm: the recorded host has systemd and nvidia-persistenced only."""
    root = fakes.materialise_host("h200_hgx_no_fm", tmp_path / "copy")
    assert cuda_probe.find_process("nvidia-persistenced", str(root / "proc")) == [2143]
    assert cuda_probe.find_process("nv-fabricmanager", str(root / "proc")) == []
    # The kernel keeps 15 characters in comm; cmdline has the whole name (a binary, or a script a shell runs).
    for pid, comm, cmdline in (("4242", "nv-fabricmanage", "/usr/bin/nv-fabricmanager\0-c\0/usr/share/nvidia/"
                                "nvswitch/fabricmanager.cfg\0"),
                               ("4243", "nv-fabricmanage", "/bin/sh\0/usr/bin/nv-fabricmanager\0"),
                               ("4244", "nv-fabricmanage", "/usr/bin/nv-fabricmanage-other\0")):
        (root / "proc" / pid).mkdir()
        (root / "proc" / pid / "comm").write_text(comm + "\n")
        (root / "proc" / pid / "cmdline").write_text(cmdline)
    assert cuda_probe.find_process("nv-fabricmanager", str(root / "proc")) == [4242, 4243]
    assert cuda_probe.find_process("nvidia-persistenced", str(root / "proc")) == [2143]


def test_h200_planned_driver_says_fabric_manager_is_needed_without_failing(module_runner):
    run = module_runner({"driver_version": "580.95.05", "kernel_module": "open"}, host="h200_hgx_no_fm")
    assert not run.failed, run.result
    assert ("NVSwitch present (4 NVSwitch devices): CUDA needs nvidia-fabricmanager of exactly the driver's "
            "version running (580.95.05).") in run.result["messages"]
    assert run.result["fabric_manager"] == {"running": None, "version": None, "required_version": "580.95.05",
                                            "ready": None}
    assert run.commands == []


# --- B200 (Blackwell GB100): the proprietary module installed, so none loaded ------------------------

def test_b200_with_the_proprietary_module_installed(module_runner, fakes):
    run = module_runner({"cuda_version": "12.8"}, host="b200_proprietary", bins={"modinfo": "/sbin/modinfo"},
                        commands={"modinfo": (0, fakes.text("modinfo_nvidia_570.172.08_proprietary.txt"), "")})
    assert run.failed
    result = run.result
    assert result["msg"] == (
        "The driver 570.172.08 uses the proprietary kernel module, which does not support 8 x B200 (GB100, "
        "Blackwell, compute capability 10.0): NVIDIA supports Blackwell only with the open GPU kernel modules.")
    assert result["remediation"].startswith("Install the open kernel module flavour of the driver (nvidia-open).")
    assert result["messages"][1].startswith(
        "The NVIDIA kernel module is not loaded on this host (the userspace driver 570.172.08 is installed)")
    assert result["driver_loaded"] is False
    assert result["kernel_module_recommended"] == "open"
    assert result["kernel_module_reason"] == (
        "B200 (GB100, Blackwell, compute capability 10.0) needs the open kernel module.")
    assert result["compatible"] is False
    assert run.commands == [["/sbin/modinfo", "nvidia"]]
    print(result["msg"])


def test_b200_planned_open_r570_is_fine_and_r565_is_too_old(module_runner):
    ok = module_runner({"driver_version": "570.172.08", "kernel_module": "open", "cuda_version": "12.8"},
                       host="b200_proprietary")
    assert not ok.failed, ok.result
    assert ok.result["gpu_compatible"] is True
    old = module_runner({"driver_version": "565.57.01", "kernel_module": "open"}, host="b200_proprietary")
    assert old.failed
    assert old.result["msg"] == (
        "The planned driver 565.57.01 (branch R565) is older than 8 x B200 (GB100, Blackwell, compute capability "
        "10.0): compute capability 10.0 came with CUDA 12.8, whose driver branch is R570.")


# --- Planning without the machine: gpu_device_ids --------------------------------------------------

def test_gpu_device_ids_judge_a_machine_not_rented_yet(module_runner):
    run = module_runner({"driver_version": "590.44.01", "gpu_device_ids": ["0x17fd", "17FD"]})
    assert run.failed
    assert "does not support 2 x Tesla M40 (GM200, Maxwell" in run.result["msg"]
    assert [g["pci_address"] for g in run.result["gpus"]] == [None, None]
    assert run.result["gpus"][0]["source"] == "gpu_device_ids"


def test_gpu_device_ids_refuse_what_is_no_id(module_runner):
    run = module_runner({"driver_version": "580.95.05", "gpu_device_ids": ["M40"]})
    assert run.failed
    assert run.result["msg"] == (
        "gpu_device_ids: 'M40' is not a PCI device id: give the 4 hex digits lspci -nn shows after 10de: (0x17fd "
        "for a Tesla M40, 0x2335 for an H200).")


def test_unknown_gpu_is_named_not_guessed(module_runner):
    run = module_runner({"driver_version": "580.95.05", "gpu_device_ids": ["0x3182"]})
    assert not run.failed
    assert run.result["gpus"][0]["architecture"] is None
    assert run.result["gpu_compatible"] is None
    assert run.result["kernel_module_recommended"] is None
    assert run.result["messages"][-1] == "NVIDIA GPUs: PCI device id 0x3182, not in this module's GPU table."


def test_no_gpu_no_new_sentence(module_runner):
    """The lab: no NVIDIA device in sysfs; the GPU fields say so and the messages stay as before."""
    run = module_runner({"driver_version": "535.104.05", "cuda_version": "12.2"})
    assert not run.failed
    assert run.result["gpus"] == [] and run.result["gpu_architectures"] == []
    assert run.result["messages"] == [
        "CUDA 12.2 needs NVIDIA driver 535.54.03 or newer, and the planned driver 535.104.05 meets it (it runs CUDA "
        "12.2 at most)."]
    assert run.result["kernel_module_reason"] == "No NVIDIA GPU of a known generation was found."


@pytest.mark.parametrize("text", ["", "license:        GPL\nversion:        1.0\n"])
def test_modinfo_that_names_no_nvidia_flavour(text):
    assert cuda_probe.parse_modinfo(text)["flavour"] is None


def test_modinfo_of_the_open_module(fakes):
    parsed = cuda_probe.parse_modinfo(fakes.text("modinfo_nvidia_580.95.05_open.txt"))
    assert parsed == {"version": "580.95.05", "flavour": "open"}
