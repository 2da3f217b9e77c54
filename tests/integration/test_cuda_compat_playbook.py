"""Run hpcdl.gpu.cuda_compat and its filters through Ansible, on localhost, in planning mode."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
PLAYBOOK = HERE / "playbooks" / "cuda_compat_planning.yml"
BIN = Path(sys.executable).parent


def _ansible(tool, *args, cwd=HERE):
    env = dict(os.environ, ANSIBLE_LOCALHOST_WARNING="false",
               ANSIBLE_INVENTORY_UNPARSED_WARNING="false", ANSIBLE_NOCOLOR="1",
               ANSIBLE_FORCE_COLOR="0", ANSIBLE_DEPRECATION_WARNINGS="false")
    return subprocess.run([str(BIN / tool), *args], env=env, cwd=cwd, capture_output=True,
                          text=True, timeout=300, check=False)


@pytest.fixture(scope="module")
def planning_results(tmp_path_factory):
    out = tmp_path_factory.mktemp("cuda_compat") / "results.json"
    proc = _ansible("ansible-playbook", "-i", "localhost,", str(PLAYBOOK),
                    "-e", f"result_file={out}")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(out.read_text()), proc.stdout


def test_seed_driver_and_cuda_8_0(planning_results):
    results, _stdout = planning_results
    seed = results["seed"]
    assert seed["compatible"] is False
    assert seed["changed"] is False
    assert seed["required_driver"] == "367.48"
    assert seed["messages"][0] == (
        "CUDA 8.0 needs NVIDIA driver 367.48 or newer, but the planned driver 352.93 runs CUDA "
        "7.5 at most: upgrade the driver or use an image built for CUDA 7.5.")
    assert results["seed_failure"]["failed"] is True
    assert results["seed_failure"]["msg"] == seed["messages"][0]


def test_h200_driver_runs_cuda_13_0(planning_results):
    h200 = planning_results[0]["h200"]
    assert (h200["compatible"], h200["cuda_driver_version"], h200["required_driver"]) == (
        True, "13.0", "580.65.06")


def test_minor_version_compatibility_is_reported_separately(planning_results):
    minor = planning_results[0]["minor"]
    assert (minor["compatible"], minor["minor_version_compatible"]) == (False, True)
    assert "minor version compatibility" in minor["messages"][1]


def test_cuda_13_on_driver_535(planning_results):
    too_new = planning_results[0]["too_new"]
    assert (too_new["compatible"], too_new["minor_version_compatible"]) == (False, False)
    assert too_new["required_driver"] == "580.65.06"


def test_filters(planning_results):
    assert planning_results[0]["filters"] == {
        "cuda_8_0_min_driver": "367.48",
        "cuda_13_0_min_driver": "580.65.06",
        "driver_352_93_max_cuda": "7.5",
        "driver_535_261_03_max_cuda": "12.2",
        "driver_580_95_05_max_cuda": "13.0",
    }


def test_playbook_passes_in_check_mode():
    proc = _ansible("ansible-playbook", "-i", "localhost,", "--check", str(PLAYBOOK))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "failed=0" in proc.stdout


def test_module_documentation_renders():
    proc = _ansible("ansible-doc", "hpcdl.gpu.cuda_compat")
    assert proc.returncode == 0, proc.stderr
    assert "fail_on_incompatible" in proc.stdout
    proc = _ansible("ansible-doc", "--json", "hpcdl.gpu.cuda_compat")
    assert proc.returncode == 0, proc.stderr
    returns = json.loads(proc.stdout)["hpcdl.gpu.cuda_compat"]["return"]
    for key in ("driver_version", "driver_loaded", "library_version", "library_mismatch",
                "cuda_driver_version", "kernel_module", "sources", "toolkit_version", "toolkit_path", "required_cuda",
                "required_driver", "compatible", "minor_version_compatible", "messages",
                "remediation"):
        assert {"description", "type", "returned", "sample"} <= set(returns[key]), key


FILTER_DOCS = sorted(p.stem for p in (HERE.parents[1] / "plugins" / "filter").glob("*.yml"))


@pytest.mark.parametrize("name", [f"hpcdl.gpu.{stem}" for stem in FILTER_DOCS])
def test_filter_documentation_renders(name):
    """Every filter of the collection (its documentation file in plugins/filter/) renders."""
    proc = _ansible("ansible-doc", "-t", "filter", name)
    assert proc.returncode == 0, proc.stderr
    assert name in proc.stdout
    assert "EXAMPLES" in proc.stdout


CHECK_GPU = HERE.parents[1] / "playbooks" / "check_gpu.yml"
REAL = os.environ.get("HPCDL_NVIDIA_USERSPACE")


def _check_gpu(tmp_path, *extra, env=None):
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(
        "gpu_nodes:\n  hosts:\n    localhost:\n      ansible_connection: local\n"
        f"      ansible_python_interpreter: {sys.executable}\n")
    saved = dict(os.environ)
    os.environ.update(env or {})
    try:
        return _ansible("ansible-playbook", "-i", str(inventory), str(CHECK_GPU), *extra)
    finally:
        os.environ.clear()
        os.environ.update(saved)


def test_check_gpu_reports_one_block_per_host(tmp_path):
    proc = _check_gpu(tmp_path, "-e", "check_gpu_cuda_version=12.2")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for label in ("verdict:", "driver:", "kernel/library:", "newest CUDA:", "toolkit:",
                  "requirement:    CUDA 12.2 from cuda_version, needs driver 535.54.03",
                  "remediation:", "details:"):
        assert label in proc.stdout, label
    assert "failed=0" in proc.stdout


def test_check_gpu_refuses_two_requirements(tmp_path):
    proc = _check_gpu(tmp_path, "-e", "check_gpu_cuda_version=12.2", "-e", "check_gpu_image=x")
    assert proc.returncode != 0
    assert "Give either check_gpu_cuda_version or check_gpu_image, not both" in proc.stdout


@pytest.mark.skipif(not REAL or os.path.exists("/proc/driver/nvidia/version"),
                    reason="needs HPCDL_NVIDIA_USERSPACE (see the fixtures README) and no driver")
def test_check_gpu_with_real_nvidia_userspace_and_no_driver(tmp_path):
    libs = os.path.join(REAL, "usr/lib/x86_64-linux-gnu/nvidia/current")
    smi = os.path.join(REAL, "usr/lib/nvidia/current")
    proc = _check_gpu(tmp_path, env={"LD_LIBRARY_PATH": libs,
                                     "PATH": smi + os.pathsep + os.environ["PATH"]})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "verdict:        NOT USABLE: NVIDIA kernel module not loaded" in proc.stdout
    assert "library 535.261.03" in proc.stdout
