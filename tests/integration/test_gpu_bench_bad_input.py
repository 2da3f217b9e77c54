"""hpcdl.gpu.gpu_bench refuses bad input before anything runs, naming the variable to fix.

Runs the role on localhost with `-c local --check` (see check_play.py); each case asserts the
message a user sees and that only the argument-spec validation, the read-only engine probe
(tasks/engine.yml) and preflight tasks ran: no framework check, no benchmark, no report. The checks
that read the engine (the image, the runtime) use this machine's Docker, which `make test` starts;
molecule/gpu_bench proves the good path.
"""
import json

import pytest
from check_play import ARGSPEC_TASK, assert_refused, role_play, run_check_play, type_refused

BEFORE_ANYTHING_RUNS = {
    # tasks/engine.yml (read-only, tagged always)
    "Look for the container engine",
    "Read the image of the notebook container (gpu_bench_image is empty)",
    "Look for the image on the node",
    "Read the runtimes the engine knows",
    # tasks/preflight.yml
    "Check the price and its currency",
    "Check the workloads, the sizes, the device and the timeout",
    "Check the report folder on the controller, the added results and the result kept for this host",
    "Check that the container engine answers",
    "Check that there is an image to run the workload in",
    "Check that the image is on the node",
    "Check that the container runtime is registered with the engine",
}
NOT_OURS = {"hello": "world"}


def good(tmp_path):
    return {"gpu_bench_image": "hpcdl-test/no-such-image:0", "gpu_bench_runtime": "", "gpu_bench_gpus": "",
            "gpu_bench_report_dir": str(tmp_path / "report"), "gpu_bench_price_per_hour": 37.5,
            "gpu_bench_currency": "CNY"}


def refused(tmp_path, variables, message):
    proc = run_check_play(tmp_path, role_play("gpu_bench"), {**good(tmp_path), **variables})
    return assert_refused(proc, "gpu_bench", message, BEFORE_ANYTHING_RUNS)


CASES = {
    "negative_price": (
        {"gpu_bench_price_per_hour": -3}, 'gpu_bench_price_per_hour is -3 and gpu_bench_currency "CNY" for localhost'),
    "price_without_a_currency": (
        {"gpu_bench_currency": ""}, "its currency as an ISO 4217 code in capitals (CNY, USD, EUR)"),
    "currency_not_a_code": (
        {"gpu_bench_currency": "yuan"}, 'gpu_bench_price_per_hour is 37.5 and gpu_bench_currency "yuan"'),
    "a_size_of_zero": (
        {"gpu_bench_sizes": {"resnet_batch": 0}}, 'every number in gpu_bench_sizes ({"resnet_batch": 0}) must be 1'),
    "a_workload_twice": (
        {"gpu_bench_workloads": ["matmul", "matmul"]}, 'gpu_bench_workloads (["matmul", "matmul"]) must name each'),
    "cuda_without_gpus": (
        {"gpu_bench_device": "cuda"}, 'gpu_bench_device cuda needs GPUs in the container (gpu_bench_gpus is "")'),
    "image_not_on_the_node": (
        {}, "The image hpcdl-test/no-such-image:0 (gpu_bench_image) is not on localhost: load it"),
    "no_image_and_no_notebook_container": (
        {"gpu_bench_image": "", "gpu_bench_notebook_container": "hpcdl-test-no-such-container"},
        "gpu_bench_image is empty, so the workload runs in the notebook's image, but localhost has no container "
        "hpcdl-test-no-such-container (gpu_bench_notebook_container)"),
    "runtime_not_registered": (
        {"gpu_bench_runtime": "nvidia-hpcdl-missing"},
        "gpu_bench_runtime is nvidia-hpcdl-missing, but docker on localhost knows only"),
    "report_dir_relative": (
        {"gpu_bench_report_dir": "gpu-bench-report"},
        'gpu_bench_report_dir: "gpu-bench-report" is not an absolute path.'),
}
ARGSPEC_CASES = {
    "price_not_a_number": (
        {"gpu_bench_price_per_hour": "37.5 CNY"},
        type_refused("gpu_bench_price_per_hour", "str") + " and we were unable to convert to float"),
    "unknown_profile": (
        {"gpu_bench_profile": "huge"}, "value of gpu_bench_profile must be one of: auto, full, small, got: huge"),
    "unknown_workload": (
        {"gpu_bench_workloads": ["matmul", "linpack"]},
        "value of gpu_bench_workloads must be one or more of: matmul, memory, resnet50. Got no match for: linpack"),
    "unknown_device": (
        {"gpu_bench_device": "tpu"}, "value of gpu_bench_device must be one of: auto, cuda, cpu, got: tpu"),
    "unknown_size": (
        {"gpu_bench_sizes": {"batch": 4}}, "gpu_bench_sizes.batch. Supported parameters include: copy_iters, copy_mib"),
    "unknown_resnet_precision": (
        {"gpu_bench_sizes": {"resnet_precision": "fp8"}},
        "value of resnet_precision must be one of: amp, fp32, got: fp8 found in gpu_bench_sizes"),
}


@pytest.mark.parametrize(("variables", "message"), CASES.values(), ids=CASES.keys())
def test_bad_input_is_refused_in_preflight(tmp_path, variables, message):
    refused(tmp_path, variables, message)


@pytest.mark.parametrize(("variables", "message"), ARGSPEC_CASES.values(), ids=ARGSPEC_CASES.keys())
def test_a_wrong_type_or_name_is_refused_by_the_argument_specs(tmp_path, variables, message):
    ran = refused(tmp_path, variables, message)
    assert ran[-1].startswith(ARGSPEC_TASK), ran


def test_a_report_folder_that_cannot_be_created_is_refused(tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the report folder's parent should be\n")
    target = blocker / "report"
    refused(tmp_path, {"gpu_bench_report_dir": str(target)},
            f"gpu_bench_report_dir: {target} cannot be created: {blocker} is not a folder.")
    assert blocker.is_file()


@pytest.mark.parametrize(("content", "message"), [
    (json.dumps(NOT_OURS), 'is not a gpu_bench result: its "format" is null, not "hpcdl.gpu.gpu_bench/1".'),
    ("host,images_per_s\nhpc1,100\n", "is not a gpu_bench result: it is not JSON ("),
    (None, "cannot be read: No such file or directory."),
], ids=["json_of_something_else", "csv", "missing"])
def test_an_added_result_that_is_not_ours_is_refused(tmp_path, content, message):
    path = tmp_path / "earlier.json"
    if content is not None:
        path.write_text(content)
    refused(tmp_path, {"gpu_bench_add_results": [str(path)]}, f"gpu_bench_add_results: {path} {message}")
    assert not (tmp_path / "report").exists(), "a refused run created the report folder"


def test_a_damaged_kept_result_is_refused_with_what_to_do(tmp_path):
    kept = tmp_path / "report" / "results" / "localhost.json"
    kept.parent.mkdir(parents=True)
    kept.write_text("{ truncated")
    refused(tmp_path, {}, f"The result kept for localhost is damaged (remove it to measure localhost again): {kept} "
                          "is not a gpu_bench result: it is not JSON (")
