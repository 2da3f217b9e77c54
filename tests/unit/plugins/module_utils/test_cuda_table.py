"""NVIDIA's minimum-driver table and the lookups over it."""
from pathlib import Path

import pytest
from ansible_collections.hpcdl.gpu.plugins.module_utils import cuda_table
from ansible_collections.hpcdl.gpu.plugins.module_utils.cuda_table import (
    RELEASES,
    CudaVersionError,
    driver_key,
    find_release,
    max_cuda,
    min_driver,
    minor_version_floor,
    newest_release_for_driver,
)

ROWS = [pytest.param(r, id=r.version) for r in RELEASES]


def _one_below(version):
    """The driver version just below ``version`` (535.54.03 -> 535.54.2, 570.26 -> 570.25)."""
    parts = list(driver_key(version))
    for index in range(len(parts) - 1, -1, -1):
        if parts[index] > 0:
            parts[index] -= 1
            return ".".join(str(p) for p in parts)
    raise AssertionError(version)


def test_table_spans_cuda_7_0_to_13_with_the_figures_from_nvidias_table():
    assert RELEASES[0].version == "7.0.28"
    assert RELEASES[0].min_driver == "346.46"
    # Spot checks against NVIDIA's Table 3, every era.
    expected = {
        "7.5.16": "352.31", "8.0.44": "367.48", "8.0.61": "375.26", "9.0.76": "384.81",
        "9.1.85": "390.46", "9.2.148": "396.37", "10.0.130": "410.48", "10.1.105": "418.39",
        "10.2.89": "440.33", "11.0.2": "450.51.05", "11.8.0": "520.61.05",
        "12.0.0": "525.60.13", "12.2.2": "535.104.05", "12.4.0": "550.54.14",
        "12.8.0": "570.26", "12.9.1": "575.57.08", "13.0.0": "580.65.06",
        "13.0.1": "580.82.07", "13.0.2": "580.95.05", "13.1.0": "590.44.01",
        "13.2.2": "595.71.05",
    }
    table = {r.version: r.min_driver for r in RELEASES}
    for version, driver in expected.items():
        assert table[version] == driver, version


def test_table_is_sorted_and_minimums_never_go_down():
    keys = [r.key for r in RELEASES]
    assert keys == sorted(keys)
    assert len(set(keys)) == len(keys)
    drivers = [driver_key(r.min_driver) for r in RELEASES]
    assert drivers == sorted(drivers)


def test_every_minor_release_has_exactly_one_first_release():
    minors = {}
    for release in RELEASES:
        minors.setdefault((release.major, release.minor), []).append(release)
    for (major, minor), releases in minors.items():
        firsts = [r for r in releases if r.first_of_minor]
        assert len(firsts) == 1, (major, minor)


def test_source_of_the_table_is_cited_in_the_code():
    source = Path(cuda_table.__file__).read_text()
    assert "https://docs.nvidia.com/cuda/cuda-toolkit-release-notes/index.html" in source
    assert "CUDA Toolkit and Corresponding Driver Versions" in source


@pytest.mark.parametrize("release", ROWS)
def test_full_version_of_every_row_finds_that_row(release):
    assert find_release(release.version) is release
    assert min_driver(release.version) == release.min_driver


@pytest.mark.parametrize("release", ROWS)
def test_reverse_of_every_row_runs_at_least_that_cuda(release):
    newest = newest_release_for_driver(release.min_driver)
    assert newest.key >= release.key
    assert newest.min_driver == release.min_driver
    below = newest_release_for_driver(_one_below(release.min_driver))
    if below is not None:
        assert below.key < release.key


@pytest.mark.parametrize(
    "version, driver",
    [
        ("7.0", "346.46"), ("7.5", "352.31"), ("8.0", "367.48"), ("8.0.61", "375.26"),
        ("9.0", "384.81"), ("9.2", "396.26"), ("10.1", "418.39"), ("11.0", "450.51.05"),
        ("11.0.1", "450.36.06"), ("11.1", "455.23"), ("11.4", "470.42.01"),
        ("11.4.4", "470.82.01"), ("12.2", "535.54.03"), ("12.4", "550.54.14"),
        ("12.4.1", "550.54.15"), ("12.8", "570.26"), ("13.0", "580.65.06"),
        ("13.1", "590.44.01"), ("13.3.1", "610.43.02"),
    ],
)
def test_major_minor_means_the_first_release(version, driver):
    assert min_driver(version) == driver


@pytest.mark.parametrize(
    "version, row",
    [("9.0.176", "9.0.76"), ("10.1.243", "10.1.105"), ("10.1.168", "10.1.105"),
     ("7.5.18", "7.5.16"), ("9.2.150", "9.2.148"), ("8.0.27", "8.0.44")],
)
def test_build_numbers_before_cuda_11_fall_to_the_row_at_or_below(version, row):
    assert find_release(version).version == row


def test_unknown_minor_names_the_known_releases_of_that_major():
    with pytest.raises(CudaVersionError) as info:
        find_release("8.3")
    message = str(info.value)
    assert "CUDA 8.3 is not a release" in message
    assert "8.0 (8.0.44), 8.0.61" in message


def test_unknown_major_says_what_the_table_covers():
    with pytest.raises(CudaVersionError) as info:
        find_release("99.0")
    assert "CUDA 7.0 to 13.3.1" in str(info.value)


def test_unknown_update_after_cuda_11_is_an_error_unless_lenient():
    with pytest.raises(CudaVersionError) as info:
        find_release("12.4.131")
    assert "the known CUDA 12.4 releases are 12.4, 12.4.1" in str(info.value)
    assert find_release("12.4.131", lenient=True).version == "12.4.0"


@pytest.mark.parametrize("bad", ["12", "twelve", "12.x", "", None, "12.2.1.1"])
def test_malformed_cuda_versions_are_refused(bad):
    with pytest.raises(CudaVersionError):
        find_release(bad)


@pytest.mark.parametrize(
    "driver, cuda",
    [
        ("346.46", "7.0"), ("352.93", "7.5"), ("367.48", "8.0"), ("375.26", "8.0"),
        ("384.81", "9.0"), ("450.80.02", "11.0"), ("535.261.03", "12.2"),
        ("535.104.05", "12.2"), ("535.104.04", "12.2"), ("550.54.14", "12.4"),
        ("570.26", "12.8"), ("580.65.06", "13.0"), ("580.95.05", "13.0"),
        ("595.71.05", "13.2"), ("610.43.02", "13.3"), ("999.1", "13.3"),
    ],
)
def test_max_cuda_of_a_driver(driver, cuda):
    assert max_cuda(driver) == cuda


def test_driver_older_than_cuda_7_runs_nothing_in_the_table():
    assert max_cuda("340.108") is None


@pytest.mark.parametrize("bad", ["latest", "535.x", "", None, "1.2.3.4.5"])
def test_malformed_driver_versions_are_refused(bad):
    with pytest.raises(CudaVersionError):
        driver_key(bad)


def test_minor_version_floors_follow_table_2():
    assert minor_version_floor(10) is None
    assert minor_version_floor(11) == "450.80.02"
    assert minor_version_floor(12) == "525.60.13"
    assert minor_version_floor(13) == "580"


def test_cuda_from_int_decodes_nvml_and_driver_api_numbers():
    assert cuda_table.cuda_from_int(12020) == "12.2"
    assert cuda_table.cuda_from_int(13000) == "13.0"
    assert cuda_table.cuda_from_int(7050) == "7.5"
    assert cuda_table.cuda_from_int(0) is None
