"""The judgement: verdicts and sentences, over the whole table and the special states."""
import pytest
from ansible_collections.hpcdl.gpu.plugins.module_utils.cuda_compat import judge
from ansible_collections.hpcdl.gpu.plugins.module_utils.cuda_table import (
    RELEASES,
    CudaVersionError,
    driver_key,
)


def _one_below(version):
    parts = list(driver_key(version))
    for index in range(len(parts) - 1, -1, -1):
        if parts[index] > 0:
            parts[index] -= 1
            return ".".join(str(p) for p in parts)
    raise AssertionError(version)


def planned(driver, cuda, **requirement):
    requirement = dict({"cuda": cuda, "source": "cuda_version"}, **requirement)
    return judge({"driver_version": driver}, requirement, planning=True)


@pytest.mark.parametrize("release", [pytest.param(r, id=r.version) for r in RELEASES])
def test_every_row_runs_on_its_minimum_driver(release):
    result = planned(release.min_driver, release.version)
    assert result["compatible"] is True
    assert result["minor_version_compatible"] is True
    assert result["required_driver"] == release.min_driver
    assert result["failure"] is None
    assert result["remediation"] == ""
    assert result["messages"][0].startswith(
        f"CUDA {release.version} needs NVIDIA driver {release.min_driver} or newer, "
        f"and the planned driver {release.min_driver} meets it")


@pytest.mark.parametrize("release", [pytest.param(r, id=r.version) for r in RELEASES])
def test_every_row_fails_just_below_its_minimum_driver(release):
    driver = _one_below(release.min_driver)
    result = planned(driver, release.version)
    assert result["compatible"] is False
    assert result["failure"] == result["messages"][0]
    assert (f"CUDA {release.version} needs NVIDIA driver {release.min_driver} or newer, "
            f"but the planned driver {driver}") in result["failure"]
    assert result["failure"].count(". ") == 0  # one sentence
    assert release.min_driver in result["remediation"]
    floor = {11: "450.80.02", 12: "525.60.13", 13: "580"}.get(release.major)
    expected_minor = bool(floor) and driver_key(driver) >= driver_key(floor)
    assert result["minor_version_compatible"] is expected_minor


def test_seed_driver_352_93_and_cuda_8_0():
    result = planned("352.93", "8.0")
    assert result["failure"] == (
        "CUDA 8.0 needs NVIDIA driver 367.48 or newer, but the planned driver 352.93 runs CUDA "
        "7.5 at most: upgrade the driver or use an image built for CUDA 7.5.")
    assert result["cuda_driver_version"] == "7.5"
    assert result["minor_version_compatible"] is False


def test_host_wording_for_a_real_driver():
    result = judge({"driver_version": "352.93", "driver_loaded": True,
                    "cuda_driver_version": None}, {"cuda": "8.0"})
    assert result["failure"] == (
        "CUDA 8.0 needs NVIDIA driver 367.48 or newer, but this host's driver 352.93 runs CUDA "
        "7.5 at most: upgrade the driver or use an image built for CUDA 7.5.")


def test_minor_version_compatible_but_not_fully():
    result = planned("535.261.03", "12.4")
    assert result["compatible"] is False
    assert result["minor_version_compatible"] is True
    assert "minor version compatibility" in result["messages"][1]
    assert "PTX JIT" in result["messages"][1]
    assert "550.54.14" in result["messages"][1]


def test_525_60_13_runs_12_4_through_minor_version_compatibility_only():
    result = planned("525.60.13", "12.4")
    assert (result["compatible"], result["minor_version_compatible"]) == (False, True)
    result = planned("525.60.12", "12.4")
    assert (result["compatible"], result["minor_version_compatible"]) == (False, False)


def test_cuda_13_on_a_535_driver_is_not_even_minor_version_compatible():
    result = planned("535.261.03", "13.0")
    assert (result["compatible"], result["minor_version_compatible"]) == (False, False)
    assert result["failure"] == (
        "CUDA 13.0 needs NVIDIA driver 580.65.06 or newer, but the planned driver 535.261.03 "
        "runs CUDA 12.2 at most: upgrade the driver or use an image built for CUDA 12.2.")


def test_h200_driver_runs_cuda_13_0():
    result = planned("580.95.05", "13.0")
    assert result["compatible"] is True
    assert result["cuda_driver_version"] == "13.0"


def test_cuda_10_has_no_minor_version_compatibility():
    result = planned("418.39", "10.2")
    assert (result["compatible"], result["minor_version_compatible"]) == (False, False)


def test_driver_older_than_the_table():
    result = planned("340.108", "7.0")
    assert result["compatible"] is False
    assert "older than every driver in NVIDIA's table" in result["failure"]
    assert result["cuda_driver_version"] is None


def test_driver_newer_than_the_table_says_at_least():
    result = planned("620.1", "13.0")
    assert result["compatible"] is True
    assert result["cuda_driver_version"] == "13.3"
    assert any("runs CUDA 13.3 at least" in m for m in result["messages"])


def test_unknown_cuda_version_raises():
    with pytest.raises(CudaVersionError):
        planned("580.95.05", "8.3")


def test_mismatch_names_both_versions_and_the_fix():
    facts = {"driver_version": "352.93", "library_version": "375.26", "library_mismatch": True,
             "driver_loaded": True}
    result = judge(facts, {"cuda": "8.0"})
    assert result["compatible"] is False
    assert result["failure"] == (
        "The loaded NVIDIA kernel module 352.93 does not match the userspace driver library "
        "375.26 (Driver/library version mismatch), so no CUDA program can start: stop the "
        "processes that use the GPU and reload the kernel module (rmmod nvidia_uvm nvidia_drm "
        "nvidia_modeset nvidia; modprobe nvidia), or reboot.")
    assert "rmmod nvidia_uvm nvidia_drm nvidia_modeset nvidia" in result["remediation"]
    assert "modprobe nvidia" in result["remediation"]
    assert "reboot" in result["remediation"]
    assert result["messages"][1] == (
        "After the reload, driver 375.26 runs CUDA 8.0 at most, which meets CUDA 8.0 (needs 367.48).")


def test_mismatch_without_requirement_still_fails():
    facts = {"driver_version": "580.95.05", "library_version": "580.126",
             "library_mismatch": True, "driver_loaded": True}
    result = judge(facts, None)
    assert result["compatible"] is False
    assert result["minor_version_compatible"] is None
    assert "580.95.05" in result["failure"] and "580.126" in result["failure"]


def test_driver_not_loaded_with_requirement():
    facts = {"driver_version": None, "driver_loaded": False, "library_version": "535.261.03"}
    result = judge(facts, {"cuda": "12.2"})
    assert result["compatible"] is False
    assert result["failure"].startswith("The NVIDIA kernel module is not loaded on this host")
    assert "modprobe nvidia" in result["failure"]
    assert "kernel module for the running kernel" in result["remediation"]
    assert result["messages"][1] == (
        "Once loaded, driver 535.261.03 runs CUDA 12.2 at most, which meets CUDA 12.2 (needs 535.54.03).")


def test_driver_not_loaded_without_requirement_reports_without_failing():
    facts = {"driver_version": None, "driver_loaded": False, "library_version": "535.261.03"}
    result = judge(facts, None)
    assert result["compatible"] is None
    assert result["failure"] is None
    assert "not loaded" in result["messages"][0]
    assert result["remediation"]


def test_no_driver_installed_at_all():
    result = judge({"driver_loaded": False}, {"cuda": "8.0"})
    assert result["failure"].startswith("No NVIDIA driver is loaded or installed on this host")
    assert "367.48 or newer" in result["failure"]


def test_unreadable_driver_version_fails_with_a_requirement_only():
    result = judge({"driver_loaded": None}, {"cuda": "12.2"})
    assert result["compatible"] is None
    assert "could not be read" in result["failure"]
    assert judge({"driver_loaded": None}, None)["failure"] is None


def test_no_requirement_reports_facts_and_the_toolkit():
    facts = {"driver_version": "580.95.05", "driver_loaded": True, "cuda_driver_version": "13.0",
             "library_version": "580.95.05"}
    toolkit = {"version": "13.0.88", "path": "/usr/local/cuda-13.0"}
    result = judge(facts, None, toolkit=toolkit)
    assert result["compatible"] is None
    assert result["minor_version_compatible"] is None
    assert result["failure"] is None
    assert result["messages"] == [
        "This host's driver 580.95.05 runs CUDA 13.0 at most.",
        "The installed CUDA toolkit 13.0.88 at /usr/local/cuda-13.0 (CUDA 13.0, needs driver "
        "580.65.06) runs on this host's driver 580.95.05.",
    ]


def test_toolkit_newer_than_the_driver_is_said():
    facts = {"driver_version": "535.261.03", "driver_loaded": True}
    result = judge(facts, None, toolkit={"version": "13.0.88", "path": None})
    assert result["messages"][-1] == (
        "The installed CUDA toolkit 13.0.88 (CUDA 13.0) needs driver 580.65.06, newer than "
        "this host's driver 535.261.03.")


def test_lenient_image_versions():
    result = planned("550.54.14", "12.4.131", lenient=True)
    assert result["compatible"] is True
    assert result["required_driver"] == "550.54.14"
