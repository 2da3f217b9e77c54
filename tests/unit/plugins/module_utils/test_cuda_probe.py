"""Parsers over recorded outputs, and the ctypes probes against fake and real libraries."""
import json
import os

import pytest
from ansible_collections.hpcdl.gpu.plugins.module_utils import cuda_probe as probe


# --- /proc/driver/nvidia/version -------------------------------------------------------------
@pytest.mark.parametrize(
    "name, version, is_open, arch",
    [
        ("proc_352.93_x86_64.txt", "352.93", False, "x86_64"),
        ("proc_352.93_ppc64le.txt", "352.93", False, "ppc64le"),
        ("proc_535.104.05_x86_64.txt", "535.104.05", False, "x86_64"),
        ("proc_580.65.06_open.txt", "580.65.06", True, "x86_64"),
        ("proc_580.95.05_open.txt", "580.95.05", True, "x86_64"),
    ],
)
def test_proc_version_formats(fakes, name, version, is_open, arch):
    parsed = probe.parse_proc_version(fakes.text(name))
    assert parsed == {"version": version, "open": is_open, "arch": arch}


@pytest.mark.parametrize(
    "text", ["", "GCC version:  gcc version 13.3.0", "NVRM version: NVIDIA UNIX Kernel Module"])
def test_proc_version_without_a_version(text):
    assert probe.parse_proc_version(text) is None


# --- nvidia-smi ----------------------------------------------------------------------------

def test_nvidia_smi_352_has_no_cuda_version_field(fakes):
    parsed = probe.parse_nvidia_smi(fakes.text("nvidia-smi_352.93.txt"))
    assert parsed["state"] == "ok"
    assert parsed["driver_version"] == "352.93"
    assert parsed["cuda_version"] is None


def test_nvidia_smi_580_names_driver_and_cuda(fakes):
    parsed = probe.parse_nvidia_smi(fakes.text("nvidia-smi_580.95.05.txt"))
    assert (parsed["state"], parsed["driver_version"], parsed["cuda_version"]) == (
        "ok", "580.95.05", "13.0")


def test_nvidia_smi_mismatch_old_style(fakes):
    parsed = probe.parse_nvidia_smi(fakes.text("nvidia-smi_mismatch_375.26.txt"), rc=18)
    assert parsed["state"] == "mismatch"
    assert parsed["library_version"] is None
    assert parsed["first_line"] == "Failed to initialize NVML: Driver/library version mismatch"


def test_nvidia_smi_mismatch_names_the_library(fakes):
    parsed = probe.parse_nvidia_smi(fakes.text("nvidia-smi_mismatch_580.126.txt"), rc=18)
    assert (parsed["state"], parsed["library_version"]) == ("mismatch", "580.126")


def test_real_nvidia_smi_without_driver(fakes):
    recorded = fakes.json("nvidia-smi_535.261.03_not-loaded.json")
    assert recorded["rc"] == 9
    parsed = probe.parse_nvidia_smi(recorded["output"], recorded["rc"])
    assert parsed["state"] == "not_loaded"
    assert parsed["driver_version"] is None


def test_real_nvidia_smi_without_library(fakes):
    recorded = fakes.json("nvidia-smi_535.261.03_no-library.json")
    parsed = probe.parse_nvidia_smi(recorded["output"], recorded["rc"])
    assert parsed["state"] == "no_library"


def test_nvidia_smi_other_failure_is_an_error():
    parsed = probe.parse_nvidia_smi("Segmentation fault", rc=139)
    assert parsed["state"] == "error"
    assert parsed["first_line"] == "Segmentation fault"


# --- toolkit -------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "name, version",
    [
        ("nvcc_7.5.17.txt", "7.5.17"),
        ("nvcc_8.0.61.txt", "8.0.61"),
        ("nvcc_9.0.176.txt", "9.0.176"),
        ("nvcc_10.2.89.txt", "10.2.89"),
        ("nvcc_11.8.89.txt", "11.8.89"),
        ("nvcc_12.1.66.txt", "12.1.66"),
        ("nvcc_13.0.88.txt", "13.0.88"),
    ],
)
def test_nvcc_versions(fakes, name, version):
    assert probe.parse_nvcc(fakes.text(name)) == version


def test_nvcc_release_without_v_number():
    assert probe.parse_nvcc("Cuda compilation tools, release 6.5") == "6.5"
    assert probe.parse_nvcc("bash: nvcc: command not found") is None


@pytest.mark.parametrize(
    "name, version",
    [("version.txt_8.0.61", "8.0.61"), ("version.txt_9.0.176", "9.0.176")],
)
def test_version_txt(fakes, name, version):
    assert probe.parse_version_txt(fakes.text(name)) == version


@pytest.mark.parametrize(
    "name, version",
    [
        ("version.json_12.6.3", "12.6.77"),      # cudart preferred over the date stamp and nvcc
        ("version.json_11.8", "11.8.89"),        # no cudart: nvcc
        ("version.json_12.2_top-level-only", "12.2"),  # only a date stamp: major.minor
    ],
)
def test_version_json_prefers_components_over_the_date_stamp(fakes, name, version):
    assert probe.parse_version_json(fakes.text(name)) == version


def test_version_json_plain_top_level():
    assert probe.parse_version_json('{"cuda": {"version": "11.6.1"}}') == "11.6.1"


def test_version_json_garbage_raises():
    with pytest.raises(ValueError):
        probe.parse_version_json("[1, 2]")
    with pytest.raises(ValueError):
        probe.parse_version_json("{not json")


def test_read_toolkit_order_json_txt_nvcc(tmp_path, fakes):
    ran = []

    def run_nvcc(candidate):
        ran.append(candidate)
        return fakes.text("nvcc_13.0.88.txt"), "/usr/local/cuda-13.0/bin/nvcc"

    root = tmp_path / "cuda-12.6"
    root.mkdir()
    link = tmp_path / "cuda"
    link.symlink_to(root)
    (root / "version.json").write_text(fakes.text("version.json_12.6.3"))
    (root / "version.txt").write_text("CUDA Version 8.0.61\n")
    found = probe.read_toolkit(str(link), run_nvcc)
    assert found == {"version": "12.6.77", "path": str(root), "source": "version.json",
                     "problems": []}
    (root / "version.json").unlink()
    assert probe.read_toolkit(str(link), run_nvcc)["version"] == "8.0.61"
    (root / "version.txt").unlink()
    found = probe.read_toolkit(str(link), run_nvcc)
    assert (found["version"], found["source"]) == ("13.0.88", "nvcc")
    assert ran == [None]  # no bin/nvcc in the folder: the one on PATH


def test_read_toolkit_broken_version_json_is_a_problem_not_a_crash(tmp_path):
    (tmp_path / "version.json").write_text("{oops")
    found = probe.read_toolkit(str(tmp_path), lambda candidate: (None, None))
    assert found["version"] is None
    assert "cannot parse" in found["problems"][0]


# --- library file names ----------------------------------------------------------------------

def test_ldconfig_lists_64_bit_first(fakes):
    paths = probe.parse_ldconfig(fakes.text("ldconfig_centos7.txt"), "libnvidia-ml.so.1")
    assert paths == ["/lib64/libnvidia-ml.so.1", "/lib/libnvidia-ml.so.1"]


@pytest.mark.parametrize(
    "path, version",
    [
        ("/usr/lib64/libnvidia-ml.so.352.93", "352.93"),
        ("/usr/lib/x86_64-linux-gnu/nvidia/current/libnvidia-ml.so.535.261.03", "535.261.03"),
        ("/usr/lib64/libnvidia-ml.so.1", None),
        ("/usr/lib64/libnvidia-ml.so", None),
    ],
)
def test_library_version_from_path(path, version):
    assert probe.library_version_from_path(path) == version


def test_library_file_version_follows_the_ldconfig_link(tmp_path):
    real = tmp_path / "libnvidia-ml.so.375.26"
    real.write_text("")
    link = tmp_path / "libnvidia-ml.so.1"
    link.symlink_to(real.name)
    ldconfig = f"\tlibnvidia-ml.so.1 (libc6,x86-64) => {link}\n"
    assert probe.library_file_version(ldconfig, None, ()) == ("375.26", str(real))


def test_library_file_version_searches_standard_folders(tmp_path):
    (tmp_path / "libnvidia-ml.so.535.261.03").write_text("")
    assert probe.library_file_version(None, None, (str(tmp_path),)) == (
        "535.261.03", str(tmp_path / "libnvidia-ml.so.535.261.03"))
    assert probe.library_file_version(None, None, (str(tmp_path / "none"),)) == (None, None)


@pytest.mark.parametrize(
    "text, driver",
    [("12.535.261.03", "535.261.03"), ("13.580.95.05", "580.95.05"), ("535.104.05", "535.104.05"),
     ("8.375.26", "375.26"), ("", None), ("garbage", None)],
)
def test_driver_from_nvml_version(text, driver):
    assert probe.driver_from_nvml_version(text) == driver


# --- NVIDIA_REQUIRE_CUDA and images ------------------------------------------------------------

def test_require_cuda_space_is_or_comma_is_and():
    clauses = probe.parse_require_cuda("cuda>=12.2 brand=tesla,driver>=470,driver<471")
    assert clauses == [
        [("cuda", ">=", "12.2")],
        [("brand", "=", "tesla"), ("driver", ">=", "470"), ("driver", "<", "471")],
    ]
    assert probe.required_cuda_from_clauses(clauses) == "12.2"


def test_require_cuda_weakest_cuda_constraint_is_judged():
    clauses = probe.parse_require_cuda("cuda>=12.4 cuda>=11.8,brand=tesla")
    assert probe.required_cuda_from_clauses(clauses) == "11.8"


def test_require_cuda_without_cuda_constraint():
    assert probe.required_cuda_from_clauses(probe.parse_require_cuda("driver>=470")) is None


def test_require_cuda_unreadable_constraint():
    with pytest.raises(ValueError):
        probe.parse_require_cuda("cuda~12")


@pytest.mark.parametrize(
    "name, cuda, source",
    [
        ("image_nvidia-cuda-12.2.2-base.json", "12.2", "NVIDIA_REQUIRE_CUDA"),
        ("image_nvidia-cuda-13.0.2-base.json", "13.0", "NVIDIA_REQUIRE_CUDA"),
        ("image_nvidia-cuda-8.0-devel.json", "8.0.61", "CUDA_VERSION"),
        ("image_alexnet-benchmark_nvidia-docker1.json", "8.0", "com.nvidia.cuda.version"),
    ],
)
def test_requirement_from_image(fakes, name, cuda, source):
    found = probe.requirement_from_image(fakes.text(name))
    assert (found["cuda"], found["source"]) == (cuda, source)
    assert found["disabled"] is False


def test_requirement_from_image_podman_top_level_labels_and_disable_flag():
    inspect = json.dumps([{"Config": {"Env": ["NVIDIA_DISABLE_REQUIRE=true"]},
                           "Labels": {"com.nvidia.cuda.version": "9.0"}}])
    found = probe.requirement_from_image(inspect)
    assert (found["cuda"], found["source"], found["disabled"]) == (
        "9.0", "com.nvidia.cuda.version", True)


def test_requirement_from_image_without_cuda():
    assert probe.requirement_from_image(json.dumps([{"Config": {"Env": ["PATH=/bin"]}}])) is None


# --- NVML and libcuda through ctypes (fake libraries) --------------------------------------

def test_nvml_success(fakes):
    library = fakes.nvml_library(init=0, driver="580.95.05", nvml_version="13.580.95.05",
                                 cuda=13000)
    found = probe.probe_nvml(fakes.loader_for(library))
    assert found["init_name"] == "NVML_SUCCESS"
    assert (found["driver_version"], found["library_version"], found["cuda_version"]) == (
        "580.95.05", "580.95.05", "13.0")
    assert library.nvmlShutdown.calls == [()]
    assert found["problems"] == []


def test_nvml_recorded_driver_not_loaded(fakes):
    recording = fakes.json("nvml_535.261.03_not-loaded.json")
    found = probe.probe_nvml(fakes.loader_for(fakes.nvml_from_recording(recording)))
    assert found["init"] == probe.NVML_ERROR_DRIVER_NOT_LOADED == 9
    assert found["init_name"] == "NVML_ERROR_DRIVER_NOT_LOADED"
    assert found["library_version"] == "535.261.03"
    assert found["driver_version"] is None
    assert found["cuda_version"] is None


def test_nvml_mismatch(fakes):
    library = fakes.nvml_library(init=18, nvml_version="13.580.126.09")
    found = probe.probe_nvml(fakes.loader_for(library))
    assert found["init_name"] == "NVML_ERROR_LIB_RM_VERSION_MISMATCH"
    assert found["library_version"] == "580.126.09"
    assert found["driver_version"] is None
    assert library.nvmlShutdown.calls == []


def test_nvml_missing_library(fakes):
    found = probe.probe_nvml(fakes.loader_for())
    assert found["loaded"] is False
    assert found["init_name"] == "NVML_ERROR_LIBRARY_NOT_FOUND"


def test_nvml_old_library_has_only_nvmlinit(fakes):
    library = fakes.FakeLibrary("libnvidia-ml.so.1", nvmlInit=lambda: 0, nvmlShutdown=lambda: 0)
    found = probe.probe_nvml(fakes.loader_for(library))
    assert found["init_name"] == "NVML_SUCCESS"
    assert found["driver_version"] is None
    assert library.nvmlInit.calls == [()]


def test_nvml_unknown_return_code_is_named():
    assert probe._nvml_name(4242) == "NVML error 4242"


def test_libcuda_recorded_without_driver(fakes):
    recording = fakes.json("libcuda_535.261.03_not-loaded.json")
    code, version = recording["cuDriverGetVersion"]
    library = fakes.libcuda_library(version_code=code, version=version)
    found = probe.probe_libcuda(fakes.loader_for(library))
    assert found == {"loaded": True, "cuda_version": "12.2", "problems": []}


def test_libcuda_missing(fakes):
    assert probe.probe_libcuda(fakes.loader_for())["loaded"] is False


# --- The real NVIDIA userspace, when unpacked here (see the fixtures README) -----------------

REAL = os.environ.get("HPCDL_NVIDIA_USERSPACE")
REAL_LIBS = os.path.join(REAL or "", "usr/lib/x86_64-linux-gnu/nvidia/current")


@pytest.mark.skipif(not REAL or os.path.exists("/proc/driver/nvidia/version"),
                    reason="needs HPCDL_NVIDIA_USERSPACE and no loaded NVIDIA driver")
def test_real_userspace_nvml_says_driver_not_loaded():
    def load(name):
        return probe.ctypes.CDLL(os.path.join(REAL_LIBS, name))
    nvml = probe.probe_nvml(load)
    assert nvml["init_name"] == "NVML_ERROR_DRIVER_NOT_LOADED"
    assert nvml["library_version"] == probe.library_version_from_path(
        os.path.realpath(os.path.join(REAL_LIBS, "libnvidia-ml.so.1")))
    assert probe.library_file_version(None, nvml["path"], (REAL_LIBS,))[0] == nvml["library_version"]
    cuda = probe.probe_libcuda(load)
    assert cuda["cuda_version"] and cuda["problems"] == []
