"""site.yml on a fleet of two other Debian releases (molecule.yml: gpu1 Debian 13, gpu2 Debian 11), each
node proven as the user sees it: the release it runs, egress through the bundle's tunnel, the stale proxy
gone, Docker with the NVIDIA runtime, the CUDA stage from its release's own repository path, and its
notebook through Tengine on jump (the docker and site scenarios' tests, imported below, under each node's path).
"""
import re
import sys

import pytest
from egress_checks import check_apt_through_tunnel, check_probe_through_tunnel
from labhosts import GPUS, INTERNET_IP, PROJECT, ansible_module, host

# The docker scenario's checks of the engine and the NVIDIA runtime, and the site scenario's of the
# notebook, the proxy, the summary and the rerun, unchanged.
sys.path[:0] = [str(PROJECT / "molecule" / "docker" / "tests"), str(PROJECT / "molecule" / "site" / "tests")]
from test_docker import (  # noqa: E402
    test_a_container_runs_through_the_nvidia_runtime,
    test_docker_info_lists_the_nvidia_runtime,
    test_the_engine_runs_and_starts_at_boot,
)
from test_site import (  # noqa: E402
    notebook_folder,
    test_a_notebook_saved_through_the_api_is_kept_on_the_node,
    test_code_runs_in_a_kernel_in_the_container_on_the_node,
    test_tengine_has_one_location_per_node_and_one_port,
    test_the_api_answers_with_the_token,
    test_the_api_refuses_a_wrong_token_and_the_other_nodes_token,
    test_the_api_refuses_without_the_token,
    test_the_fleet_has_two_nodes,
    test_the_login_page_answers_through_the_proxy_under_the_nodes_path,
    test_the_node_has_egress_and_no_stale_proxy,
    test_the_node_serves_jupyter_on_its_private_address_only,
    test_the_second_run_did_not_rebuild_tengine,
    test_the_summary_names_every_url_and_no_token,
)

__all__ = [
    "notebook_folder",
    "test_a_container_runs_through_the_nvidia_runtime",
    "test_docker_info_lists_the_nvidia_runtime",
    "test_the_engine_runs_and_starts_at_boot",
    "test_a_notebook_saved_through_the_api_is_kept_on_the_node",
    "test_code_runs_in_a_kernel_in_the_container_on_the_node",
    "test_tengine_has_one_location_per_node_and_one_port",
    "test_the_api_answers_with_the_token",
    "test_the_api_refuses_a_wrong_token_and_the_other_nodes_token",
    "test_the_api_refuses_without_the_token",
    "test_the_fleet_has_two_nodes",
    "test_the_login_page_answers_through_the_proxy_under_the_nodes_path",
    "test_the_node_has_egress_and_no_stale_proxy",
    "test_the_node_serves_jupyter_on_its_private_address_only",
    "test_the_second_run_did_not_rebuild_tengine",
    "test_the_summary_names_every_url_and_no_token",
]

# What molecule.yml asks the lab for (HPCDL_LAB_OS), with what each release is known by.
RELEASES = {"gpu1": ("trixie", "13", "debian13"), "gpu2": ("bullseye", "11", "debian11")}


@pytest.mark.parametrize("node", GPUS)
def test_each_node_runs_its_release_and_ansible_sees_it(node):
    codename, major, _repo = RELEASES[node]
    os_release = host(node).file("/etc/os-release").content_string
    assert f"VERSION_CODENAME={codename}\n" in os_release, f"{node} does not run Debian {codename}:\n{os_release}"
    rc, results = ansible_module(node, "ansible.builtin.setup", "gather_subset=!all,!min,distribution")
    facts = results[node]["ansible_facts"]
    assert rc == 0 and facts["ansible_distribution"] == "Debian", results
    assert (facts["ansible_distribution_release"], facts["ansible_distribution_major_version"]) == (codename, major)
    assert host("jump").file("/etc/os-release").contains("VERSION_CODENAME=bookworm"), "jump is not Debian 12"


@pytest.mark.parametrize("node", GPUS)
def test_egress_goes_through_the_bundles_tunnel(node):
    check_probe_through_tunnel(node, "vpn_vpn0")
    check_apt_through_tunnel(node)


@pytest.mark.parametrize("node", GPUS)
def test_cuda_came_from_the_releases_own_repository(node):
    """The cuda role's vars for this release (roles/cuda/vars/Debian-<major>.yml) chose NVIDIA's path for it."""
    gpu, repo = host(node), RELEASES[node][2]
    sources = gpu.file("/etc/apt/sources.list.d/cuda.sources").content_string
    assert f"URIs: http://{INTERNET_IP}/cuda/repos/{repo}/x86_64/\n" in sources, sources
    installed = gpu.check_output("dpkg-query -W -f '${Package}=${Version}=${db:Status-Status}\\n' 'cuda-toolkit-*'")
    assert "cuda-toolkit-12-2=12.2.140-1=installed" in installed.splitlines(), installed
    out = gpu.check_output("env -i HOME=/root TERM=dumb PATH=/usr/bin:/bin bash -lc 'nvcc --version'")
    assert "Cuda compilation tools, release 12.2, V12.2.140" in out, out


@pytest.mark.parametrize("node", GPUS)
def test_cuda_compat_judges_the_installed_toolkit(node):
    rc, results = ansible_module(node, "hpcdl.gpu.cuda_compat", "cuda_version=12.2 fail_on_incompatible=false")
    result = results[node]
    assert rc == 0, result
    assert (result["toolkit_version"], result["toolkit_path"]) == ("12.2.140", "/usr/local/cuda-12.2"), result
    assert re.search(r"No NVIDIA driver", " ".join(result["messages"])), result["messages"]
