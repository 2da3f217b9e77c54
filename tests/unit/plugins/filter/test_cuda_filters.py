"""The cuda_min_driver and driver_max_cuda filters."""
import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.hpcdl.gpu.plugins.filter.cuda import (
    FilterModule,
    cuda_min_driver,
    driver_max_cuda,
)
from ansible_collections.hpcdl.gpu.plugins.module_utils.cuda_table import RELEASES


def test_filters_are_registered():
    assert set(FilterModule().filters()) == {"cuda_min_driver", "driver_max_cuda"}


@pytest.mark.parametrize("release", [pytest.param(r, id=r.version) for r in RELEASES])
def test_round_trip_over_the_whole_table(release):
    driver = cuda_min_driver(release.version)
    assert driver == release.min_driver
    newest = driver_max_cuda(driver)
    assert tuple(int(p) for p in newest.split(".")) >= (release.major, release.minor)


@pytest.mark.parametrize("cuda, driver", [("8.0", "367.48"), ("8.0.61", "375.26"),
                                          ("12.4", "550.54.14"), ("13.0", "580.65.06"),
                                          (12.2, "535.54.03")])
def test_cuda_min_driver(cuda, driver):
    assert cuda_min_driver(cuda) == driver


@pytest.mark.parametrize("driver, cuda", [("352.93", "7.5"), ("535.261.03", "12.2"),
                                          ("580.95.05", "13.0")])
def test_driver_max_cuda(driver, cuda):
    assert driver_max_cuda(driver) == cuda


def test_unknown_cuda_is_a_filter_error_naming_known_releases():
    with pytest.raises(AnsibleFilterError, match=r"cuda_min_driver: CUDA 8\.3 is not a release"):
        cuda_min_driver("8.3")


def test_driver_older_than_the_table_is_a_filter_error():
    with pytest.raises(AnsibleFilterError, match="older than every driver"):
        driver_max_cuda("340.108")


def test_malformed_driver_is_a_filter_error():
    with pytest.raises(AnsibleFilterError, match="not of the form"):
        driver_max_cuda("latest")
