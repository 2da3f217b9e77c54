"""The real-GPU check of hpcdl.gpu, for a Linux machine with an NVIDIA GPU and no network.

    tests/device/gpu_check.sh [--out DIR] [--wheels DIR] [--python PYTHON] [--profile full|small]
                              [--timeout SECONDS] [--dry-run]

In this order, everything written into one folder (--out, default $OUT, else artifacts/gpu_check):

1. hpcdl.gpu.cuda_compat against the machine's real driver, run by ansible-core as a playbook
   would run it (`ansible localhost -m hpcdl.gpu.cuda_compat`): the driver's facts, the GPUs'
   generation, the kernel module flavour (installed, recommended, supported), NVSwitch and Fabric
   Manager, then the verdicts for CUDA 12.4, 13.0 and the first CUDA release newer than the
   driver runs (cuda_compat.json);
2. whether there is an NVIDIA GPU at all: without one the check stops here, with status 3 and the
   sentence "no NVIDIA GPU here" (summary.txt);
3. hpcdl.gpu.gpu_framework_check with PYTHON (its PyTorch sees the GPU and computes right:
   framework_check.json);
4. the gpu_bench workload (roles/gpu_bench/files/hpcdl_gpu_bench.py, profile full) on the GPU
   (benchmark.json, its progress in benchmark.log), nvidia-smi's clocks before and after it
   (nvidia_smi.csv);
5. each figure against the published peak, as a fraction (peaks.json, and summary.txt), for an
   H200 from NVIDIA's H200 datasheet.

ansible-core comes from --wheels (tests/device/fetch_wheels.sh downloads them here, checked against
tests/device/requirements.txt; the device tool carries the folder), installed into a temporary
folder with pip --no-index, or from PYTHON itself when it has it. Nothing is downloaded. --dry-run
checks the arguments and finds the modules, the workload and the wheels, then stops before anything
runs. Exit status: 0 done on a GPU; 2 bad arguments or a missing piece; 3 no NVIDIA GPU here
(stopped after step 1); 4 a step failed (framework check or benchmark).
"""
import argparse
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
MODULES = ("cuda_compat", "gpu_framework_check")
WORKLOAD = ROOT / "roles" / "gpu_bench" / "files" / "hpcdl_gpu_bench.py"
LOCK = HERE / "requirements.txt"
NO_GPU, FAILED, BAD = 3, 4, 2

# Published peaks, per device name. NVIDIA H200 Tensor Core GPU datasheet, H200 SXM column: FP32
# 67 TFLOP/s; TF32, BF16 and FP16 Tensor Core 989, 1,979 and 1,979 TFLOP/s "with sparsity", so 494,
# 989 and 989 dense (what a matrix product of random data can reach); GPU memory bandwidth 4.8 TB/s;
# PCIe Gen5 128 GB/s, counted in both directions (64 GB/s host to device).
PEAKS = {
    "H200": {
        "source": "NVIDIA H200 Tensor Core GPU datasheet, H200 SXM (tensor-core figures dense: the "
                  "datasheet's with-sparsity figures halved)",
        "matmul_fp32": (67.0, "TFLOP/s", "FP32"),
        "matmul_tf32": (494.0, "TFLOP/s", "TF32 tensor core, dense"),
        "matmul_bf16": (989.0, "TFLOP/s", "BF16 tensor core, dense"),
        "matmul_fp16": (989.0, "TFLOP/s", "FP16 tensor core, dense"),
        "copy_device": (4800.0, "GB/s", "HBM3e bandwidth (the copy counts bytes read + written)"),
        "copy_host_to_device": (64.0, "GB/s", "PCIe Gen5 x16, one direction (the datasheet's 128 GB/s counts both)"),
    },
}


def say(message):
    print(f"gpu_check: {message}", flush=True)


def parse(argv):
    parser = argparse.ArgumentParser(prog="gpu_check.sh", description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--out", default=os.environ.get("OUT") or str(ROOT / "artifacts" / "gpu_check"),
                        help="the folder everything is written into (default: $OUT, else artifacts/gpu_check)")
    parser.add_argument("--wheels", help="a folder of wheels with ansible-core (tests/device/fetch_wheels.sh)")
    parser.add_argument("--python", default="python3", help="the Python that has PyTorch (default: python3)")
    parser.add_argument("--profile", choices=("full", "small"), default="full")
    parser.add_argument("--timeout", type=int, default=420, help="seconds the benchmark may take (default 420)")
    parser.add_argument("--dry-run", action="store_true", help="check the arguments and the pieces, run nothing")
    args = parser.parse_args(argv)
    if args.timeout <= 0:
        parser.error("--timeout must be a positive number of seconds")
    return args


def fail(message, status=BAD):
    say(message)
    sys.exit(status)


def find_pieces(args):
    """The Python, the collection's modules, the workload, the wheels: everything before a run."""
    python = shutil.which(args.python) or (args.python if os.access(args.python, os.X_OK) else None)
    if not python:
        fail(f"--python {args.python}: no such program")
    python = os.path.abspath(python)  # not resolved: a virtual environment's python is a link
    for name in MODULES:
        if not (ROOT / "plugins" / "modules" / f"{name}.py").is_file():
            fail(f"the module hpcdl.gpu.{name} is not in {ROOT}/plugins/modules: run this from the collection's "
                 "checkout")
    if not WORKLOAD.is_file():
        fail(f"the workload {WORKLOAD} is missing")
    wheels = None
    if args.wheels:
        wheels = Path(args.wheels).resolve()
        if not sorted(wheels.glob("ansible_core-*.whl")):
            fail(f"--wheels {args.wheels}: no ansible_core wheel there (tests/device/fetch_wheels.sh downloads them)")
    version = subprocess.run([python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                             capture_output=True, text=True, check=False)
    if version.returncode != 0:
        fail(f"--python {python} does not run: {version.stderr.strip()}")
    has_ansible = subprocess.run([python, "-c", "import ansible"], capture_output=True, check=False).returncode == 0
    if not wheels and not has_ansible:
        fail(f"{python} has no ansible-core and no --wheels were given: run tests/device/fetch_wheels.sh here and "
             "carry tests/device/wheels")
    out = Path(args.out).resolve()
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        fail(f"--out {args.out}: {exc.strerror}")
    return python, version.stdout.strip(), wheels, out


class Ansible:
    """ansible-core's ad-hoc command for localhost, with this checkout as the collection hpcdl.gpu."""

    def __init__(self, python, wheels, tmp):
        self.python, self.tmp = python, tmp
        link = tmp / "collections" / "ansible_collections" / "hpcdl" / "gpu"
        link.parent.mkdir(parents=True)
        link.symlink_to(ROOT, target_is_directory=True)
        self.env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(tmp / "collections"), ANSIBLE_HOME=str(tmp / "home"),
                        ANSIBLE_LOCAL_TEMP=str(tmp / "local"), ANSIBLE_LOCALHOST_WARNING="false",
                        ANSIBLE_INVENTORY_UNPARSED_WARNING="false", ANSIBLE_NOCOLOR="1", LC_ALL="C.UTF-8")
        if wheels:
            site = tmp / "site"
            say(f"installing ansible-core from {wheels} (checked against {LOCK.relative_to(ROOT)})")
            proc = subprocess.run([python, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--no-compile",
                                   "--disable-pip-version-check", "--require-hashes", "--find-links", str(wheels),
                                   "--target", str(site), "-r", str(LOCK)],
                                  capture_output=True, text=True, check=False)
            if proc.returncode != 0:
                fail(f"the wheels did not install: {proc.stderr.strip()[-800:]}")
            self.env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")]))

    def module(self, name, module_args, timeout=300):
        """(rc, the module's result) of `ansible localhost -m NAME -a JSON`, read from the result file that
        ansible-core's own `-t` (tree) option writes (ansible-core alone has no JSON stdout callback)."""
        tree = self.tmp / "tree"
        shutil.rmtree(tree, ignore_errors=True)
        proc = subprocess.run(
            [self.python, "-m", "ansible.cli.adhoc", "localhost", "-i", "localhost,", "-c", "local", "-t", str(tree),
             "-e", f"ansible_python_interpreter={self.python}", "-m", name, "-a", json.dumps(module_args)],
            capture_output=True, text=True, check=False, cwd=self.tmp, env=self.env, timeout=timeout)
        try:
            return proc.returncode, json.loads((tree / "localhost").read_text())
        except (OSError, ValueError):
            return proc.returncode, {"failed": True, "msg": "ansible wrote no result",
                                     "output": (proc.stdout + proc.stderr)[-3000:]}


def newer_than(driver):
    """The first CUDA release (major.minor) whose minimum driver is newer than ``driver``, or None."""
    path = ROOT / "plugins" / "module_utils" / "cuda_table.py"
    spec = importlib.util.spec_from_file_location("hpcdl_cuda_table", path)
    table = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(table)
    for release in table.RELEASES:
        if release.first_of_minor and not table.driver_at_least(driver, release.min_driver):
            return release.short
    return None


def gpu_present():
    """(True, how it was seen) when an NVIDIA GPU and its driver are here."""
    if Path("/proc/driver/nvidia/version").is_file():
        return True, "/proc/driver/nvidia/version"
    smi = shutil.which("nvidia-smi")
    if smi:
        proc = subprocess.run([smi, "-L"], capture_output=True, text=True, check=False, timeout=60)
        if proc.returncode == 0 and "GPU " in proc.stdout:
            return True, f"nvidia-smi -L: {proc.stdout.strip().splitlines()[0]}"
        return False, f"nvidia-smi -L failed: {(proc.stdout + proc.stderr).strip()[:200]}"
    return False, "no /proc/driver/nvidia/version and no nvidia-smi"


def smi_snapshot(when):
    smi = shutil.which("nvidia-smi")
    if not smi:
        return f"# {when}: no nvidia-smi\n"
    proc = subprocess.run([smi, "--query-gpu=timestamp,name,driver_version,clocks.sm,clocks.mem,power.draw,"
                           "temperature.gpu,memory.used", "--format=csv"], capture_output=True, text=True, check=False)
    return f"# {when}\n{proc.stdout}{proc.stderr}"


def fractions(benchmark):
    """Each figure against the device's published peak: [{figure, measured, unit, peak, fraction, what}]."""
    name = benchmark.get("device", {}).get("name") or ""
    peaks = next((p for key, p in PEAKS.items() if key in name), None)
    rows = []
    for figure, value in sorted(benchmark.get("figures", {}).items()):
        row = {"figure": figure, "measured": value["median"], "unit": value["unit"], "spread": value.get("spread")}
        if peaks and figure in peaks:
            peak, _unit, what = peaks[figure]
            row.update(peak=peak, fraction=value["median"] / peak, what=what)
        rows.append(row)
    return {"device": name, "source": peaks["source"] if peaks else f"no published peak in this script for {name!r}",
            "figures": rows}


def main(argv=None):
    args = parse(sys.argv[1:] if argv is None else argv)
    python, version, wheels, out = find_pieces(args)
    say(f"python {python} ({version}); modules {', '.join('hpcdl.gpu.' + m for m in MODULES)} in {ROOT}; "
        f"workload {WORKLOAD.relative_to(ROOT)}; wheels {wheels or 'none (ansible-core from that Python)'}; "
        f"output in {out}")
    if args.dry_run:
        say("dry run: the pieces are there; stopping before anything runs")
        return 0
    started = time.monotonic()
    summary = []

    def note(line):
        say(line)
        summary.append(line)
        (out / "summary.txt").write_text("\n".join(summary) + "\n")

    with tempfile.TemporaryDirectory(prefix="hpcdl-gpu-check-") as tmp:
        ansible = Ansible(python, wheels, Path(tmp))
        # 1. cuda_compat against the real driver.
        compat = {}
        rc, compat["facts"] = ansible.module("hpcdl.gpu.cuda_compat", {"fail_on_incompatible": False})
        if compat["facts"].get("failed") and "driver_version" not in compat["facts"]:
            (out / "cuda_compat.json").write_text(json.dumps(compat, indent=2, sort_keys=True) + "\n")
            note(f"cuda_compat did not run (rc={rc}): {compat['facts'].get('msg')} {compat['facts'].get('output', '')}")
            return FAILED
        facts = compat["facts"]
        note(f"driver {facts.get('driver_version')} (loaded: {facts.get('driver_loaded')}), library "
             f"{facts.get('library_version')}, runs CUDA {facts.get('cuda_driver_version')}, toolkit "
             f"{facts.get('toolkit_version')}; sources {json.dumps(facts.get('sources'), sort_keys=True)}")
        switch = facts.get("nvswitch") or {}
        fabric = facts.get("fabric_manager") or {}
        note(f"GPUs {json.dumps([(g.get('name'), g.get('architecture')) for g in facts.get('gpus') or []])}; "
             f"generations {facts.get('gpu_architectures')}; kernel module {facts.get('kernel_module')} "
             f"(recommended {facts.get('kernel_module_recommended')}: {facts.get('kernel_module_reason')}; "
             f"supported {facts.get('kernel_modules_supported')}); driver branches "
             f"{facts.get('driver_branch_first')} to {facts.get('driver_branch_last')}; NVSwitch present: "
             f"{switch.get('present')} ({switch.get('count')}); Fabric Manager running: {fabric.get('running')}, "
             f"version {fabric.get('version')}, ready: {fabric.get('ready')}")
        wanted = ["12.4", "13.0"]
        newer = newer_than(facts["driver_version"]) if facts.get("driver_version") else None
        if newer:
            wanted.append(newer)
        else:
            note("no CUDA release newer than this driver to judge (no driver read, or newer than NVIDIA's table)")
        for cuda in wanted:
            _rc, compat[cuda] = ansible.module("hpcdl.gpu.cuda_compat",
                                               {"cuda_version": cuda, "fail_on_incompatible": False})
            note(f"CUDA {cuda}: compatible={compat[cuda].get('compatible')}: "
                 f"{' '.join(compat[cuda].get('messages') or [compat[cuda].get('msg', '')])}")
        (out / "cuda_compat.json").write_text(json.dumps(compat, indent=2, sort_keys=True) + "\n")

        # 2. Is there a GPU at all?
        present, how = gpu_present()
        if not present:
            note(f"no NVIDIA GPU here ({how}): stopped before the framework check and the benchmark "
                 f"(status {NO_GPU}); cuda_compat's reports are in {out / 'cuda_compat.json'}")
            return NO_GPU
        note(f"NVIDIA GPU here ({how})")

        # 3. The framework sees it and computes right.
        rc, check = ansible.module("hpcdl.gpu.gpu_framework_check", {"python": python, "framework": "torch"})
        (out / "framework_check.json").write_text(json.dumps(check, indent=2, sort_keys=True) + "\n")
        note(f"framework check ({'passed' if check.get('ok') else 'FAILED'}): {check.get('msg')}")
        if not check.get("ok"):
            return FAILED

    # 4. The benchmark on the GPU.
    smi = smi_snapshot("before the benchmark")
    with open(out / "benchmark.json", "w") as stdout, open(out / "benchmark.log", "w") as stderr:
        try:
            proc = subprocess.run([python, str(WORKLOAD), "--profile", args.profile, "--device", "cuda"],
                                  stdout=stdout, stderr=stderr, check=False, timeout=args.timeout)
            rc = proc.returncode
        except subprocess.TimeoutExpired:
            rc = "timeout"
    (out / "nvidia_smi.csv").write_text(smi + smi_snapshot("after the benchmark"))
    if rc != 0:
        note(f"the benchmark failed (rc={rc}): see {out / 'benchmark.log'}")
        return FAILED
    benchmark = json.loads((out / "benchmark.json").read_text())

    # 5. Against the published peak.
    peaks = fractions(benchmark)
    (out / "peaks.json").write_text(json.dumps(peaks, indent=2, sort_keys=True) + "\n")
    device = benchmark["device"]
    note(f"benchmark on {device['label']} {device['name']} (capability {device.get('capability')}, "
         f"{device.get('memory_gib')} GiB), driver {device.get('driver')}, CUDA runtime {device.get('cuda_runtime')}, "
         f"driver CUDA {device.get('cuda_driver')}, {device['framework']}, cuDNN {device.get('cudnn')}; "
         f"profile {benchmark['profile']}, sizes {json.dumps(benchmark['sizes'], sort_keys=True)}; "
         f"peaks: {peaks['source']}")
    for row in peaks["figures"]:
        against = (f" = {row['fraction']:.2f} of {row['peak']:g} {row['unit']} ({row['what']})"
                   if "fraction" in row else "")
        note(f"  {row['figure']}: {row['measured']:.1f} {row['unit']} (spread {row['spread'] or 0:.1%}){against}")
    resnet = benchmark["figures"].get("resnet50_train")
    if resnet:
        note(f"  ResNet-50: {resnet['model']}, batch {resnet['batch']}, {resnet['precision']}")
    for name, reason in sorted(benchmark.get("skipped", {}).items()):
        note(f"  {name} not measured: {reason}")
    note(f"done in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
