"""hpcdl.gpu.jupyter judges the image's CUDA against the driver before the container starts.

On localhost in check mode (see check_play.py), with two tiny images made here from an empty
rootfs: one declares CUDA_VERSION=12.4 (as NVIDIA's images do), one declares nothing (as images
that get CUDA from pip wheels do). This machine has no NVIDIA driver, so a judged image must stop
the role with cuda_compat's sentence; an image with nothing to judge starts with a warning.
"""
import io
import os
import subprocess
import tarfile

import pytest
from check_play import assert_refused, role_play, run_check_play, task_names
from test_jupyter_bad_input import GOOD, PREFLIGHT, TOKEN

# One pair of images per pytest worker: the module's tests may run on both workers at once, and the
# first worker to finish removes its images (CI once saw the other worker's test find none).
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "main")
DECLARED = f"hpcdl-test/cuda-declared-{WORKER}:1"
UNDECLARED = f"hpcdl-test/cuda-undeclared-{WORKER}:1"
BEFORE_THE_STOP = PREFLIGHT | {
    "Run the notebook container",
    "Install what community.docker needs on the node (requests)",
    "Pull the image when it is missing",
    "Pull the image through the jump host's registry cache when it is missing",
    "Judge the image's CUDA requirement against the node's driver before starting it",
    "Say that the image's CUDA could not be judged (the image declares no CUDA version)",
    "Stop when the image's CUDA does not fit the node's driver",
}
NO_DRIVER = "No NVIDIA driver is loaded or installed on this host"


def docker(*args, data=None):
    return subprocess.run(["docker", *args], input=data, capture_output=True, check=False, timeout=120)


@pytest.fixture(scope="module")
def images():
    if docker("info").returncode != 0:
        pytest.fail("Docker does not answer on this machine: `make deps` installs and starts it", pytrace=False)
    empty = io.BytesIO()
    with tarfile.open(fileobj=empty, mode="w"):
        pass
    for name, changes in ((DECLARED, ["--change", "ENV CUDA_VERSION=12.4"]), (UNDECLARED, [])):
        proc = docker("import", *changes, "-", name, data=empty.getvalue())
        assert proc.returncode == 0, proc.stderr
    yield
    docker("image", "rm", "-f", DECLARED, UNDECLARED)


def run(tmp_path, **variables):
    return run_check_play(tmp_path, role_play("jupyter"),
                          {**GOOD, "jupyter_image_pull": False, "jupyter_gpus": "all", **variables})


def test_an_image_that_declares_its_cuda_is_judged_and_stops_the_role(tmp_path, images):
    ran = assert_refused(run(tmp_path, jupyter_image=DECLARED), "jupyter",
                         "hpcdl-jupyter would not start its GPU work on localhost:", BEFORE_THE_STOP, secret=TOKEN)
    assert ran[-1] == "Stop when the image's CUDA does not fit the node's driver", ran


def test_the_failure_says_why_and_what_to_do(tmp_path, images):
    proc = run(tmp_path, jupyter_image=DECLARED)
    line = next(line for line in proc.stdout.splitlines() if "would not start its GPU work" in line)
    assert NO_DRIVER in line and "What to do:" in line, line
    assert f"jupyter_image {DECLARED}" in line, line


def test_jupyter_cuda_version_is_judged_where_the_image_declares_none(tmp_path, images):
    ran = assert_refused(run(tmp_path, jupyter_image=UNDECLARED, jupyter_cuda_version="12.4"), "jupyter",
                         NO_DRIVER, BEFORE_THE_STOP, secret=TOKEN)
    assert ran[-1] == "Stop when the image's CUDA does not fit the node's driver", ran


def test_an_image_that_declares_no_cuda_starts_with_a_warning(tmp_path, images):
    proc = run(tmp_path, jupyter_image=UNDECLARED)
    output = proc.stdout + proc.stderr
    assert f"WARNING: Image {UNDECLARED} declares no CUDA version" in output, output
    assert "set jupyter_cuda_version to the CUDA version" in output, output
    ran = task_names("jupyter", proc.stdout)
    stop = "Stop when the image's CUDA does not fit the node's driver"
    assert stop in ran, ran
    # The stop let it through: its result is ok, and the role went on to the notebook folder.
    assert "Create the notebook folder (kept when the container is replaced)" in ran, output
