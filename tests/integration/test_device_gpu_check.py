"""tests/device/gpu_check.sh, the real-GPU check, run here up to where it needs a GPU.

This machine has no NVIDIA GPU (CI never has one): the script must check its arguments, find the
modules and the workload, run hpcdl.gpu.cuda_compat through ansible-core against what is here (no
driver: its verdicts say so), and stop with "no NVIDIA GPU here" and status 3, its output in the
folder given. The GPU steps (framework check, benchmark, fractions of the published peak) run on a
GPU machine; their arithmetic is checked here on a made-up H200 result.
"""
import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "tests" / "device" / "gpu_check.sh"
PYTHON = sys.executable  # this venv's Python has ansible-core (a GPU machine gets it from --wheels)


def gpu_check(*args, timeout=300):
    return subprocess.run(["bash", str(SCRIPT), "--python", PYTHON, *map(str, args)],
                          capture_output=True, text=True, check=False, timeout=timeout, cwd=ROOT)


def load_script():
    spec = importlib.util.spec_from_file_location("gpu_check", ROOT / "tests" / "device" / "gpu_check.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_dry_run_finds_the_pieces_and_runs_nothing(tmp_path):
    proc = gpu_check("--dry-run", "--out", tmp_path / "out")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "modules hpcdl.gpu.cuda_compat, hpcdl.gpu.gpu_framework_check in " in proc.stdout
    assert "workload roles/gpu_bench/files/hpcdl_gpu_bench.py" in proc.stdout
    assert proc.stdout.rstrip().endswith("dry run: the pieces are there; stopping before anything runs")
    assert list((tmp_path / "out").iterdir()) == []


@pytest.mark.skipif(Path("/proc/driver/nvidia/version").exists(), reason="this machine has an NVIDIA driver")
def test_without_a_gpu_it_runs_cuda_compat_then_stops_saying_so(tmp_path):
    out = tmp_path / "out"
    proc = gpu_check("--out", out)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    last = proc.stdout.strip().splitlines()[-1]
    assert re.match(r"gpu_check: no NVIDIA GPU here \(.+\): stopped before the framework check and the benchmark "
                    r"\(status 3\)", last), last
    assert sorted(p.name for p in out.iterdir()) == ["cuda_compat.json", "summary.txt"]
    compat = json.loads((out / "cuda_compat.json").read_text())
    assert set(compat) >= {"facts", "12.4", "13.0"}
    assert compat["facts"]["driver_loaded"] is not True
    for cuda, needs in (("12.4", "550.54.14"), ("13.0", "580.65.06")):
        assert compat[cuda]["required_cuda"] == cuda and compat[cuda]["required_driver"] == needs
        assert compat[cuda]["compatible"] is False, compat[cuda]
        assert "No NVIDIA driver is loaded or installed on this host" in " ".join(compat[cuda]["messages"])
    summary = (out / "summary.txt").read_text()
    # The generation, flavour and NVSwitch line, from cuda_compat's own report (no GPU: none here).
    assert compat["facts"]["gpus"] == [] and compat["facts"]["nvswitch"]["present"] is False
    assert "GPUs []; generations []; kernel module None" in summary
    assert "NVSwitch present: False (0); Fabric Manager running: None" in summary
    assert "CUDA 12.4: compatible=False" in summary and summary.rstrip().endswith(last.split("gpu_check: ", 1)[1])


@pytest.mark.parametrize(("args", "message"), [
    (["--profile", "huge"], "argument --profile: invalid choice: 'huge'"),
    (["--timeout", "0"], "--timeout must be a positive number of seconds"),
    (["--wheels", "/nonexistent-hpcdl-wheels"], "--wheels /nonexistent-hpcdl-wheels: no ansible_core wheel there"),
])
def test_bad_arguments_are_refused_with_status_2(tmp_path, args, message):
    proc = gpu_check("--out", tmp_path / "out", *args)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert message in proc.stdout + proc.stderr


def test_a_python_that_is_not_there_is_refused():
    proc = subprocess.run(["bash", str(SCRIPT), "--python", "/nonexistent/python3", "--dry-run"],
                          capture_output=True, text=True, check=False, timeout=60)
    assert proc.returncode == 2 and "--python /nonexistent/python3: no such program" in proc.stderr


def test_fractions_of_the_h200s_published_peak():
    script = load_script()
    made_up = {"device": {"name": "NVIDIA H200"}, "figures": {
        "matmul_bf16": {"median": 791.2, "unit": "TFLOP/s", "spread": 0.01},
        "copy_device": {"median": 4320.0, "unit": "GB/s", "spread": 0.02},
        "resnet50_train": {"median": 3000.0, "unit": "images/s", "spread": 0.03}}}
    peaks = script.fractions(made_up)
    rows = {row["figure"]: row for row in peaks["figures"]}
    assert rows["matmul_bf16"]["peak"] == 989.0 and rows["matmul_bf16"]["fraction"] == pytest.approx(0.8, abs=0.001)
    assert rows["copy_device"]["peak"] == 4800.0 and rows["copy_device"]["fraction"] == pytest.approx(0.9)
    assert "fraction" not in rows["resnet50_train"]
    assert peaks["source"].startswith("NVIDIA H200 Tensor Core GPU datasheet, H200 SXM")
    other = script.fractions({"device": {"name": "Tesla M40"}, "figures": made_up["figures"]})
    assert other["source"] == "no published peak in this script for 'Tesla M40'"


def test_the_cuda_newer_than_a_driver_comes_from_nvidias_table():
    script = load_script()
    assert script.newer_than("535.104.05") == "12.3"  # 535 runs CUDA 12.2
    assert script.newer_than("352.93") == "8.0"  # the seed's driver
    assert script.newer_than("999.1") is None


def test_the_carried_wheels_are_pinned_with_hashes():
    lock = (ROOT / "tests" / "device" / "requirements.txt").read_text()
    pins = re.findall(r"^([a-z0-9-]+)==(\S+) \\\n    --hash=sha256:[0-9a-f]{64}$", lock, re.M)
    assert dict(pins).keys() >= {"ansible-core", "jinja2", "pyyaml", "cryptography", "resolvelib", "packaging"}
    top = re.search(r"^ansible-core==(\S+)", (ROOT / "requirements.txt").read_text(), re.M).group(1)
    assert dict(pins)["ansible-core"] == top, "the carried ansible-core is not the one the tests use"
    ignored = subprocess.run(["git", "check-ignore", "-q", "tests/device/wheels/x.whl"], cwd=ROOT, check=False)
    assert ignored.returncode == 0, "tests/device/wheels/ is not git-ignored"
