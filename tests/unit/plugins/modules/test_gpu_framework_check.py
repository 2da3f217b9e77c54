"""hpcdl.gpu.gpu_framework_check run end to end: main() in this process, the container's answer faked.

The program that runs in the container (CHECK_CODE) is run for real too, with this venv's Python,
which has neither PyTorch nor TensorFlow: what a user sees for an image without a framework.
The lab scenario molecule/gpu_bench runs it in an image with PyTorch.
"""
import json
import subprocess
import sys

import pytest
from ansible.module_utils import basic
from ansible_collections.hpcdl.gpu.plugins.module_utils import cuda_probe
from ansible_collections.hpcdl.gpu.plugins.module_utils import gpu_framework as logic
from ansible_collections.hpcdl.gpu.plugins.modules import gpu_framework_check as module_file

N = 1 << 16
EXPECTED = (N - 1) * N * (2 * N - 1) // 6


def report(**overrides):
    """What CHECK_CODE prints, for a PyTorch that sees one H200 and computes right."""
    answer = {"framework": "torch", "version": "2.11.0+cu130", "cuda_built": "13.0", "cuda_available": True,
              "device_count": 1, "devices": ["NVIDIA H200"], "capability": "9.0", "kernel_ok": True,
              "kernel_device": "cuda:0", "error": None, "warnings": [],
              "kernel": {"sum_of_squares": EXPECTED, "expected": EXPECTED, "matmul_ok": True}}
    answer.update(overrides)
    return json.dumps(answer)


@pytest.fixture
def check(monkeypatch, tmp_path, run_main, fakes):
    """check(args, rc, stdout, stderr, proc=...) runs the module with the container's answer given and
    the host's driver read from a /proc/driver/nvidia/version fixture (none: no driver)."""
    def run(args, rc=0, stdout="", stderr="", *, proc=None, libraries=()):
        ran = []

        def run_command(self, argv, **kwargs):
            ran.append((list(argv), kwargs))
            return rc, stdout, stderr

        proc_path = tmp_path / "proc_driver_nvidia_version"
        if proc is not None:
            proc_path.write_text(fakes.text(proc))
        monkeypatch.setattr(cuda_probe, "PROC_VERSION_PATH", str(proc_path))
        monkeypatch.setattr(cuda_probe, "_default_loader", fakes.loader_for(*libraries))
        monkeypatch.setattr(cuda_probe, "_loaded_path", lambda fragment: None)
        monkeypatch.setattr(cuda_probe, "LIBRARY_DIRS", ())
        monkeypatch.setattr(basic.AnsibleModule, "get_bin_path", lambda self, name, required=False, opt_dirs=None: None)
        monkeypatch.setattr(basic.AnsibleModule, "run_command", run_command)
        done = run_main(module_file, args)
        done.ran = ran
        return done
    return run


def test_a_gpu_that_computes_right_passes(check):
    done = check({"container": "hpcdl-jupyter"}, stdout="some framework banner\n" + report() + "\n")
    assert not done.failed, done.result
    result = done.result
    assert (result["ok"], result["label"], result["changed"]) == (True, "GPU", False)
    assert result["devices"] == ["NVIDIA H200"] and result["cuda_built"] == "13.0"
    assert result["msg"] == ("torch 2.11.0+cu130 in container hpcdl-jupyter sees 1 CUDA device(s) (NVIDIA H200, "
                             "compute capability 9.0) and computed the right results on cuda:0.")
    argv, kwargs = done.ran[0]
    assert argv == ["docker", "exec", "-i", "hpcdl-jupyter", "python3", "-", "auto"]
    assert kwargs["data"] == logic.CHECK_CODE  # the program comes on stdin
    assert result["compat"] is None


def test_the_cpu_is_accepted_only_when_no_gpu_is_required(check):
    cpu = report(version="2.13.0+cpu", cuda_built=None, cuda_available=False, device_count=0, devices=[],
                 capability=None, kernel_device="cpu")
    done = check({"image": "hpcdl-lab/gpu-bench:1", "runtime": "nvidia", "gpus": "", "require_gpu": False}, stdout=cpu)
    assert not done.failed and done.result["label"] == "CPU"
    assert done.result["msg"].endswith("sees no CUDA device; it computed the right results on the CPU.")
    argv = done.ran[0][0]
    # A throwaway container that never pulls and has no network; no GPUs asked for, so no NVIDIA variables.
    assert argv == ["docker", "run", "--rm", "-i", "--pull", "never", "--network", "none", "--entrypoint", "python3",
                    "--runtime", "nvidia", "hpcdl-lab/gpu-bench:1", "-", "auto"]
    done = check({"image": "hpcdl-lab/gpu-bench:1"}, stdout=cpu)
    assert done.failed and done.result["label"] == "CPU"


def test_pytorch_for_cuda_12_4_on_the_seeds_driver_352_93_gets_cuda_compats_verdict(check):
    # What torch prints (as a warning) on a driver too old for its CUDA, and what cuda_compat says instead.
    old = report(version="2.5.1+cu124", cuda_built="12.4", cuda_available=False, device_count=0, devices=[],
                 capability=None, kernel_device="cpu", warnings=[
                     "CUDA initialization: The NVIDIA driver on your system is too old (found version 7050)."])
    done = check({"image": "quay.io/jupyter/pytorch-notebook:cuda12-2026-08-24", "gpus": "all", "runtime": "nvidia"},
                 stdout=old, proc="proc_352.93_x86_64.txt")
    assert done.failed
    msg = done.result["msg"]
    assert msg.startswith("The GPU does not work in a container of image quay.io/jupyter/pytorch-notebook:cuda12-"
                          "2026-08-24: torch 2.5.1+cu124, built for CUDA 12.4.")
    assert ("CUDA 12.4 needs NVIDIA driver 550.54.14 or newer, but this host's driver 352.93 runs CUDA 7.5 at most"
            in msg)
    assert "What to do: Install NVIDIA driver 550.54.14 or newer" in msg
    assert "Traceback" not in msg
    assert done.result["compat"]["compatible"] is False and done.result["compat"]["required_cuda"] == "12.4"
    argv = done.ran[0][0]
    assert argv[argv.index("-e") + 1] == "NVIDIA_VISIBLE_DEVICES=all"


def test_an_image_the_nvidia_runtime_refuses_is_judged_by_its_requirement(check):
    stderr = ("docker: Error response from daemon: failed to create task for container: ... nvidia-container-cli: "
              "requirement error: unsatisfied condition: cuda>=12.4, please update your driver to a newer version, "
              "or use an earlier cuda container: unknown.")
    done = check({"image": "nvidia/cuda:12.4.1-base-ubuntu22.04", "runtime": "nvidia"}, rc=125, stderr=stderr,
                 proc="proc_352.93_x86_64.txt")
    assert done.failed
    assert done.result["msg"].startswith("The GPU does not work in a container of image nvidia/cuda:12.4.1-base-"
                                         "ubuntu22.04: the image (NVIDIA_REQUIRE_CUDA, refused by the NVIDIA runtime).")
    assert "CUDA 12.4 needs NVIDIA driver 550.54.14 or newer" in done.result["msg"]


def test_a_gpu_that_fails_on_a_driver_that_fits_says_what_the_framework_said(check, fakes):
    broken = report(error="RuntimeError: CUDA error: no kernel image is available for execution on the device",
                    kernel_ok=False)
    done = check({"container": "hpcdl-jupyter"}, stdout=broken, proc="proc_580.95.05_open.txt",
                 libraries=[fakes.nvml_library(init=0, driver="580.95.05", nvml_version="13.580.95.05", cuda=13000)])
    assert done.failed
    msg = done.result["msg"]
    assert msg.startswith("torch 2.11.0+cu130 in container hpcdl-jupyter failed on cuda:0: RuntimeError: CUDA error: "
                          "no kernel image is available")
    assert ("(cuda_compat: CUDA 13.0 needs NVIDIA driver 580.65.06 or newer, and this host's driver 580.95.05 meets"
            in msg)
    assert done.result["compat"]["compatible"] is True


def test_a_wrong_result_fails(check):
    wrong = report(kernel_ok=False, kernel={"sum_of_squares": 1, "expected": EXPECTED, "matmul_ok": True})
    done = check({"container": "hpcdl-jupyter"}, stdout=wrong, proc="proc_580.95.05_open.txt")
    assert done.failed
    assert "computed a wrong result on cuda:0" in done.result["msg"]


def test_no_framework_and_no_answer_fail_with_what_happened(check):
    none = json.dumps({"framework": None, "kernel_ok": False, "error": "no torch or tensorflow here (...)"})
    done = check({"image": "hpcdl-lab/busybox:1", "require_gpu": False}, stdout=none)
    assert done.failed
    assert done.result["msg"] == ("No framework in a container of image hpcdl-lab/busybox:1: "
                                  "no torch or tensorflow here (...).")
    done = check({"image": "hpcdl-lab/busybox:1", "require_gpu": False}, rc=127,
                 stderr='exec: "python3": executable file not found in $PATH')
    assert done.failed
    assert done.result["msg"] == ('The framework check could not run in a container of image hpcdl-lab/busybox:1 '
                                  '(rc=127): exec: "python3": executable file not found in $PATH')


def test_the_host_itself_runs_the_check_with_the_python_given(check):
    done = check({"python": "/opt/torch/.venv/bin/python3", "framework": "torch"}, stdout=report())
    assert not done.failed
    assert done.ran[0][0] == ["/opt/torch/.venv/bin/python3", "-", "torch"]
    assert done.result["where"] == "/opt/torch/.venv/bin/python3 on this host"


def test_container_and_image_are_mutually_exclusive(run_main):
    done = run_main(module_file, {"container": "a", "image": "b"})
    assert done.failed and "mutually exclusive" in done.result["msg"]


def test_the_check_program_reports_a_python_without_a_framework():
    proc = subprocess.run([sys.executable, "-", "auto"], input=logic.CHECK_CODE, capture_output=True, text=True,
                          check=False, timeout=60)
    assert proc.returncode == 0, proc.stderr
    answer = logic.parse_report(proc.stdout)
    assert answer["framework"] is None and answer["kernel_ok"] is False
    assert answer["error"].startswith("no torch or tensorflow here (ModuleNotFoundError: No module named 'torch'")
