"""hpcdl.gpu.cuda refuses bad input before anything changes, naming the variable.

Runs the role against localhost with `-c local --check`: safe even if a check were missing (check
mode changes nothing), and the assertion that no task after the preflight ran proves it was not.
"""
import re
from pathlib import Path

import pytest
import yaml
from check_play import assert_refused, role_play, run_check_play, task_names

PLAY = role_play("cuda")
BEFORE_PREFLIGHT = ("Validating arguments against arg spec 'main'",)
PREFLIGHT = re.compile(r"^Check (that|the) ")
# tasks/gpus.yml runs before the preflight (tagged always): it reads the GPUs and changes nothing.
GPU_PROBE = {task["name"] for task in yaml.safe_load(
    (Path(__file__).resolve().parents[2] / "roles" / "cuda" / "tasks" / "gpus.yml").read_text())}


def run_play(tmp_path, variables):
    return run_check_play(tmp_path, PLAY, variables)


CASES = {
    "unknown_cuda_version": (
        {"cuda_version": "12.7"},
        'cuda_version "12.7" is not a CUDA version this role knows. Give major.minor, quoted in YAML'),
    "cuda_version_with_a_patch_level": (
        {"cuda_version": "12.2.140"},
        'cuda_version "12.2.140" is not a CUDA version this role knows'),
    "mirror_that_is_not_a_url": (
        {"cuda_repo_mirror": "mirror.example/cuda"},
        'cuda_repo_mirror must be empty (NVIDIA\'s host) or the http(s) URL that replaces'),
    "fingerprint_that_is_not_one": (
        {"cuda_repo_key_fingerprint": "3bf863cc"},
        "cuda_repo_key_fingerprint must be the 40 hex digits of the key that signs"),
}


@pytest.mark.parametrize(("variables", "message"), CASES.values(), ids=CASES.keys())
def test_bad_input_is_refused_in_preflight(tmp_path, variables, message):
    assert_refused(run_play(tmp_path, variables), "cuda", message,
                   lambda name: name.startswith(BEFORE_PREFLIGHT) or PREFLIGHT.match(name) or name in GPU_PROBE)


def test_an_unknown_policy_is_refused_by_the_argument_specs(tmp_path):
    proc = run_play(tmp_path, {"cuda_mismatch_policy": "ignore"})
    output = proc.stdout + proc.stderr
    assert proc.returncode == 2, output
    message = "value of cuda_mismatch_policy must be one of: reload, reboot, fail, got: ignore"
    assert message in output, output
    assert task_names("cuda", proc.stdout)[-1].startswith(BEFORE_PREFLIGHT[0])
    print(next(line for line in output.splitlines() if message in line).strip())
