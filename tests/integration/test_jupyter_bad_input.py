"""hpcdl.gpu.jupyter refuses bad input before anything changes, and never prints the token.

Runs the role on localhost with `-c local --check` (see check_play.py); each case asserts the
message a user sees and that only the argument-spec validation and preflight tasks ran. The
checks that read Docker (the runtime, the image) use this machine's engine, which `make test`
starts; the lab's whole flow (molecule/site) proves the good path.
"""
import pytest
from check_play import ARGSPEC_TASK, assert_refused, role_play, run_check_play, type_refused

TOKEN = "hpcdl-test-token-0123456789abcdef"
PREFLIGHT = {
    "Check that the notebook asks for a token or a password",
    "Check the ports, the GPU list and the folders",
    "Check the path the notebook is served under",
    "Check that the address is one of this node's own",
    "Look for the container engine",
    "Note whether Docker is missing in a check-mode run (the docker role comes first in a real one)",
    "Check that Docker runs",
    "Read the runtimes Docker knows",
    "Check that the container runtime is registered with Docker",
    "Look for the image on the node",
    "Check that the image is there when pulling is off",
}
GOOD = {"jupyter_token": TOKEN, "jupyter_bind_address": "127.0.0.1", "jupyter_runtime": "",
        "jupyter_image": "hpcdl-test/no-such-image:0", "jupyter_image_pull": True}

CASES = {
    "no_token_and_no_password": (
        {"jupyter_token": ""}, "Jupyter would answer anyone who reaches it: set jupyter_token"),
    "token_too_short": (
        {"jupyter_token": "abc123"}, "A token shorter than 16 characters, or with other characters, is refused"),
    "token_with_a_space": (
        {"jupyter_token": "two words and more than sixteen"}, "Jupyter would answer anyone who reaches it"),
    "password_not_a_jupyter_hash": (
        {"jupyter_token": "", "jupyter_password_hash": "hunter2hunter2"}, "or jupyter_password_hash (the"),
    "gpus_not_a_list_of_devices": (
        {"jupyter_gpus": "yes please"}, 'jupyter_gpus ("yes please") must be all, none, "" or a list of GPU indices'),
    "relative_notebook_dir": (
        {"jupyter_notebook_dir": "notebooks"}, "jupyter_notebook_dir, jupyter_container_notebook_dir and"),
    "port_out_of_range": (
        {"jupyter_host_port": 70000}, "jupyter_host_port (70000) and jupyter_container_port (8888) must be ports"),
    "base_url_with_a_space": (
        {"jupyter_base_url": "/my notebook/"}, 'jupyter_base_url is "/my notebook/": give a path such as /gpu2/'),
    "base_url_with_a_query": (
        {"jupyter_base_url": "/gpu1/?x=1"}, 'jupyter_base_url is "/gpu1/?x=1": give a path such as /gpu2/'),
    "server_options_base_url_differs": (
        {"jupyter_base_url": "/gpu1/", "jupyter_server_options": {"base_url": "/other/"}},
        'and jupyter_server_options.base_url ("/other/") differs from it: set jupyter_base_url only'),
    "bind_address_not_on_this_host": (
        {"jupyter_bind_address": "192.0.2.77"}, 'jupyter_bind_address is "192.0.2.77", which is not an address of'),
    "no_ssh_session_to_read_the_address_from": (
        {"jupyter_bind_address": ""}, "The address its SSH session arrived on could not be read (no SSH_CONNECTION)"),
    "runtime_not_registered": (
        {"jupyter_runtime": "nvidia-hpcdl-missing"},
        "jupyter_runtime is nvidia-hpcdl-missing, but Docker on localhost knows only"),
    "image_missing_and_pulling_off": (
        {"jupyter_image_pull": False},
        "The image hpcdl-test/no-such-image:0 is not on localhost and jupyter_image_pull is false"),
}
ARGSPEC_CASES = {
    "unknown_restart_policy": (
        {"jupyter_restart_policy": "sometimes"},
        "value of jupyter_restart_policy must be one of: no, on-failure, always, unless-stopped, got: sometimes"),
    "server_options_as_a_list": (
        {"jupyter_server_options": ["base_url", "/x/"]}, type_refused("jupyter_server_options", "list")),
    "command_as_a_mapping": (
        {"jupyter_command": {"jupyter": "lab"}}, type_refused("jupyter_command", "dict")),
}


def refused(tmp_path, variables, message, allowed=frozenset()):
    proc = run_check_play(tmp_path, role_play("jupyter"), {**GOOD, **variables})
    return assert_refused(proc, "jupyter", message, allowed, secret=TOKEN)


@pytest.mark.parametrize(("variables", "message"), CASES.values(), ids=CASES.keys())
def test_bad_input_is_refused_in_preflight(tmp_path, variables, message):
    refused(tmp_path, variables, message, PREFLIGHT)


@pytest.mark.parametrize(("variables", "message"), ARGSPEC_CASES.values(), ids=ARGSPEC_CASES.keys())
def test_a_wrong_choice_or_type_is_refused_by_the_argument_specs(tmp_path, variables, message):
    ran = refused(tmp_path, variables, message)
    assert ran[-1].startswith(ARGSPEC_TASK), ran
