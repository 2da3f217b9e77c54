"""The module run end to end: main() with exit_json/fail_json patched, the host faked."""
import pytest

SMI = "/usr/bin/nvidia-smi"


def test_seed_driver_352_93_refuses_cuda_8_0(module_runner, fakes):
    run = module_runner(
        {"cuda_version": "8.0"},
        proc=fakes.text("proc_352.93_x86_64.txt"),
        libraries=[fakes.nvml_library(init=0, driver="352.93", nvml_version="7.352.93")],
    )
    assert run.failed
    assert run.result["msg"] == (
        "CUDA 8.0 needs NVIDIA driver 367.48 or newer, but this host's driver 352.93 runs CUDA "
        "7.5 at most: upgrade the driver or use an image built for CUDA 7.5.")
    assert run.result["driver_version"] == "352.93"
    assert run.result["cuda_driver_version"] == "7.5"  # NVML of 352 has no CUDA query: the table
    assert run.result["kernel_module"] == "proprietary"
    # The driver from the kernel module's file (here the fixture's copy of /proc/driver/nvidia/version).
    assert run.result["sources"]["driver_version"].endswith("/proc/driver/nvidia/version")
    assert run.result["sources"]["library_version"] == "nvmlSystemGetNVMLVersion"
    assert set(run.result["sources"]) == {"driver_version", "library_version"}
    assert run.result["compatible"] is False
    assert run.result["changed"] is False
    assert run.warnings == []


def test_seed_image_through_nvidia_docker_1_label(module_runner, fakes):
    run = module_runner(
        {"image": "registry.cn-beijing.aliyuncs.com/tensorflow-samples/alexnet_benchmark:1.0.0-devel-gpu"},
        proc=fakes.text("proc_352.93_x86_64.txt"),
        libraries=[fakes.nvml_library(init=0, driver="352.93", nvml_version="7.352.93")],
        bins={"docker": "/usr/bin/docker"},
        commands={"docker": (0, fakes.text("image_alexnet-benchmark_nvidia-docker1.json"), "")},
    )
    assert run.failed
    assert run.result["required_cuda"] == "8.0"
    assert run.result["requirement_source"].endswith("(com.nvidia.cuda.version)")
    assert "use an image built for CUDA 7.5" in run.result["msg"]


def test_seed_mismatch_kernel_352_93_library_375_26(module_runner, fakes, tmp_path):
    lib = tmp_path / "lib64"
    lib.mkdir()
    (lib / "libnvidia-ml.so.375.26").write_text("")
    (lib / "libnvidia-ml.so.1").symlink_to("libnvidia-ml.so.375.26")
    ldconfig = "\tlibnvidia-ml.so.1 (libc6,x86-64) => %s\n" % (lib / "libnvidia-ml.so.1")
    nvml = fakes.FakeLibrary("libnvidia-ml.so.1", nvmlInit_v2=lambda: 18, nvmlShutdown=lambda: 1)
    run = module_runner(
        {"cuda_version": "8.0"},
        proc=fakes.text("proc_352.93_x86_64.txt"),
        libraries=[nvml],
        bins={"nvidia-smi": SMI, "ldconfig": "/sbin/ldconfig"},
        commands={"nvidia-smi": (18, fakes.text("nvidia-smi_mismatch_375.26.txt"), ""),
                  "ldconfig": (0, ldconfig, "")},
    )
    assert run.failed
    result = run.result
    assert result["library_mismatch"] is True
    assert (result["driver_version"], result["library_version"]) == ("352.93", "375.26")
    assert result["msg"].startswith(
        "The loaded NVIDIA kernel module 352.93 does not match the userspace driver library 375.26")
    assert "rmmod nvidia_uvm nvidia_drm nvidia_modeset nvidia" in result["remediation"]
    assert "reboot" in result["remediation"]
    assert result["compatible"] is False
    assert [c[0] for c in run.commands] == [SMI, "/sbin/ldconfig"]


def test_h200_driver_580_95_05_runs_cuda_13_0(module_runner, fakes):
    run = module_runner(
        {"cuda_version": "13.0"},
        proc=fakes.text("proc_580.95.05_open.txt"),
        libraries=[fakes.nvml_library(init=0, driver="580.95.05", nvml_version="13.580.95.05",
                                      cuda=13000),
                   fakes.libcuda_library(version=13000)],
        bins={"nvcc": "/usr/local/bin/nvcc"},
        commands={"nvcc": (0, fakes.text("nvcc_13.0.88.txt"), "")},
    )
    assert not run.failed, run.result
    result = run.result
    assert result["compatible"] is True
    assert result["minor_version_compatible"] is True
    assert result["driver_loaded"] is True
    assert result["library_mismatch"] is False
    assert (result["driver_version"], result["library_version"], result["cuda_driver_version"]) == (
        "580.95.05", "580.95.05", "13.0")
    assert result["required_driver"] == "580.65.06"
    assert result["kernel_module"] == "open"
    assert result["sources"]["driver_version"].endswith("/proc/driver/nvidia/version")
    assert (result["sources"]["library_version"], result["sources"]["cuda_driver_version"]) == (
        "nvmlSystemGetNVMLVersion", "nvmlSystemGetCudaDriverVersion")
    assert result["toolkit_version"] == "13.0.88"
    assert result["messages"][0] == (
        "CUDA 13.0 needs NVIDIA driver 580.65.06 or newer, and this host's driver 580.95.05 "
        "meets it (it runs CUDA 13.0 at most).")
    assert result["remediation"] == ""
    assert result["changed"] is False
    assert run.commands == [["/usr/local/bin/nvcc", "--version"]]  # nvidia-smi not needed


def test_cuda_newer_than_the_driver_fails(module_runner, fakes):
    run = module_runner(
        {"cuda_version": "13.0"},
        proc=fakes.text("proc_535.104.05_x86_64.txt"),
        libraries=[fakes.nvml_library(init=0, driver="535.104.05", nvml_version="12.535.104.05",
                                      cuda=12020)],
    )
    assert run.failed
    assert run.result["msg"] == (
        "CUDA 13.0 needs NVIDIA driver 580.65.06 or newer, but this host's driver 535.104.05 "
        "runs CUDA 12.2 at most: upgrade the driver or use an image built for CUDA 12.2.")
    assert run.result["cuda_driver_version"] == "12.2"


def test_fail_on_incompatible_false_returns_the_same_facts(module_runner, fakes):
    args = {"cuda_version": "13.0"}
    host = dict(proc=fakes.text("proc_535.104.05_x86_64.txt"),
                libraries=[fakes.nvml_library(init=0, driver="535.104.05",
                                              nvml_version="12.535.104.05", cuda=12020)])
    failed = module_runner(args, **host)
    passed = module_runner(dict(args, fail_on_incompatible=False), **host)
    assert failed.failed and not passed.failed
    assert passed.result["compatible"] is False
    failed.result.pop("msg")
    assert failed.result == passed.result


def test_image_requirement_from_nvidia_require_cuda(module_runner, fakes):
    run = module_runner(
        {"image": "nvidia/cuda:13.0.2-base-ubuntu24.04", "fail_on_incompatible": False},
        proc=fakes.text("proc_580.95.05_open.txt"),
        libraries=[fakes.nvml_library(init=0, driver="580.95.05", nvml_version="13.580.95.05",
                                      cuda=13000)],
        bins={"docker": "/usr/bin/docker"},
        commands={"docker": (0, fakes.text("image_nvidia-cuda-13.0.2-base.json"), "")},
    )
    assert run.result["required_cuda"] == "13.0"
    assert run.result["compatible"] is True
    assert run.commands == [["/usr/bin/docker", "image", "inspect",
                             "nvidia/cuda:13.0.2-base-ubuntu24.04"]]


def test_image_on_podman_when_docker_lacks_it(module_runner, fakes):
    run = module_runner(
        {"image": "nvidia/cuda:12.2.2-base-ubuntu22.04", "driver_version": "535.104.05"},
        bins={"docker": "/usr/bin/docker", "podman": "/usr/bin/podman"},
        commands={"docker": (1, "", "Error: No such image: nvidia/cuda:12.2.2-base-ubuntu22.04"),
                  "podman": (0, fakes.text("image_nvidia-cuda-12.2.2-base.json"), "")},
    )
    assert not run.failed, run.result
    assert run.result["requirement_source"] == (
        "image nvidia/cuda:12.2.2-base-ubuntu22.04 (NVIDIA_REQUIRE_CUDA)")
    assert run.result["required_driver"] == "535.54.03"


def test_missing_engine_is_a_clear_failure(module_runner):
    run = module_runner({"image": "nvidia/cuda:12.2.2-base-ubuntu22.04",
                         "fail_on_incompatible": False})
    assert run.failed
    assert run.result["msg"] == (
        "Cannot read the CUDA requirement of image nvidia/cuda:12.2.2-base-ubuntu22.04 because "
        "docker or podman was not found on this host: install it, or pass cuda_version instead "
        "of image.")


def test_missing_image_is_a_clear_failure(module_runner):
    run = module_runner(
        {"image": "jupyter:gpu", "container_engine": "docker"},
        bins={"docker": "/usr/bin/docker"},
        commands={"docker": (1, "[]", "Error: No such image: jupyter:gpu")},
    )
    assert run.failed
    assert run.result["msg"].startswith("Image jupyter:gpu is not in the local image store of docker")
    assert '"docker pull jupyter:gpu"' in run.result["msg"]


def test_unknown_cuda_version_fails_even_when_told_not_to(module_runner):
    run = module_runner({"cuda_version": "8.3", "driver_version": "580.95.05",
                         "fail_on_incompatible": False})
    assert run.failed
    assert "the known CUDA 8 releases are 8.0 (8.0.44), 8.0.61" in run.result["msg"]


def test_malformed_planned_driver_fails(module_runner):
    run = module_runner({"cuda_version": "12.2", "driver_version": "latest"})
    assert run.failed
    assert "NVIDIA driver version 'latest' is not of the form" in run.result["msg"]


def test_planning_reads_no_driver_from_the_host(module_runner, fakes):
    run = module_runner(
        {"cuda_version": "12.4", "driver_version": "535.261.03", "fail_on_incompatible": False},
        proc=fakes.text("proc_580.95.05_open.txt"),
        libraries=[fakes.nvml_library(init=0, driver="580.95.05", cuda=13000)],
    )
    result = run.result
    assert not run.failed
    assert result["driver_version"] == "535.261.03"
    assert result["driver_loaded"] is None
    assert result["library_version"] is None
    assert result["cuda_driver_version"] == "12.2"
    assert (result["compatible"], result["minor_version_compatible"]) == (False, True)


def test_real_userspace_without_driver_is_not_loaded(module_runner, fakes):
    """The recorded answers of libnvidia-ml / libcuda / nvidia-smi 535.261.03 with no driver."""
    nvml = fakes.nvml_from_recording(fakes.json("nvml_535.261.03_not-loaded.json"))
    recorded_cuda = fakes.json("libcuda_535.261.03_not-loaded.json")
    libcuda = fakes.libcuda_library(version_code=recorded_cuda["cuDriverGetVersion"][0],
                                    version=recorded_cuda["cuDriverGetVersion"][1])
    smi = fakes.json("nvidia-smi_535.261.03_not-loaded.json")
    run = module_runner(
        {"cuda_version": "12.2"},
        proc=None,
        libraries=[nvml, libcuda],
        bins={"nvidia-smi": SMI},
        commands={"nvidia-smi": (smi["rc"], smi["output"], "")},
    )
    assert run.failed
    result = run.result
    assert result["driver_loaded"] is False
    assert result["driver_version"] is None
    assert result["library_version"] == "535.261.03"
    assert result["cuda_driver_version"] is None
    assert result["msg"].startswith("The NVIDIA kernel module is not loaded on this host")
    assert "modprobe nvidia" in result["remediation"]
    assert run.warnings == []


def test_no_requirement_and_no_driver_reports_without_failing(module_runner):
    run = module_runner({})
    assert not run.failed
    assert run.result["driver_loaded"] is False
    assert run.result["compatible"] is None
    assert run.result["messages"][0].startswith("No NVIDIA driver is loaded or installed")


def test_broken_sources_become_warnings(module_runner, fakes):
    def explode():
        raise RuntimeError("segfault simulated")
    nvml = fakes.FakeLibrary("libnvidia-ml.so.1", nvmlInit_v2=explode)
    run = module_runner(
        {"fail_on_incompatible": False},
        proc="NVRM: something unexpected\n",
        libraries=[nvml],
        bins={"nvidia-smi": SMI},
        commands={"nvidia-smi": (139, "Segmentation fault\n", "")},
        toolkit={"version.json": "{broken"},
    )
    assert not run.failed
    assert any("does not name a driver version" in w for w in run.warnings)
    assert any("segfault simulated" in w for w in run.warnings)
    assert any("nvidia-smi failed (rc=139)" in w for w in run.warnings)
    assert any("cannot parse" in w for w in run.warnings)


def test_toolkit_from_version_json_folder(module_runner, fakes):
    run = module_runner(
        {"driver_version": "570.124.06"},
        toolkit={"version.json": fakes.text("version.json_12.6.3")},
    )
    assert run.result["toolkit_version"] == "12.6.77"
    assert run.result["toolkit_path"].endswith("/cuda")
    assert run.result["compatible"] is None
    assert any("toolkit 12.6.77" in m for m in run.result["messages"])


@pytest.mark.parametrize("check_mode", [True, False])
def test_check_mode_behaves_the_same(module_runner, check_mode):
    run = module_runner({"cuda_version": "13.0", "driver_version": "580.95.05",
                         "_ansible_check_mode": check_mode})
    assert not run.failed
    assert run.result["compatible"] is True
    assert run.result["changed"] is False


def test_cuda_version_and_image_are_mutually_exclusive(module_runner):
    run = module_runner({"cuda_version": "12.2", "image": "x"})
    assert run.failed
    assert "mutually exclusive" in run.result["msg"]
