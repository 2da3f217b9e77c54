"""hpcdl.gpu.jump_cache refuses bad input in its preflight, before any rule, package or file changes;
and its client side refuses bad settings and names a cache that does not answer.

Runs against localhost with `-c local --check`, the caches' address being one of this machine's own
(from its facts); the one "cache" the client asks is the discard port on loopback.
"""
import subprocess

import pytest
from check_play import FIRST_STEP, OS_CHECK, assert_refused, role_play, run_check_play, task_names

PLAY = role_play("jump_cache")
BEFORE_PREFLIGHT = FIRST_STEP | {OS_CHECK}
PREFLIGHT_TASKS = {
    "Check that the caches listen on one of this host's own addresses",
    "Check the sources allowed to reach the caches",
    "Check the registries (a name, an http(s) upstream and a port of its own each)",
    "Check the file patterns and the free-space floor",
}
# One of this machine's own (non-loopback) IPv4 addresses, as its facts list them.
OWN_ADDRESS = subprocess.run(["hostname", "-I"], capture_output=True, text=True, check=True).stdout.split()[0]
GOOD = {"jump_cache_address": OWN_ADDRESS, "jump_cache_allowed_sources": ["192.0.2.0/24"],
        "jump_cache_registries": [{"name": "quay.io", "upstream": "https://quay.io", "port": 5001}]}
CLIENT = ("- name: The node's side\n  hosts: localhost\n  gather_facts: false\n  tasks:\n"
          "    - name: Point the package manager at the cache\n      ansible.builtin.include_role:\n"
          "        name: hpcdl.gpu.jump_cache\n        tasks_from: client\n")

CASES = {
    "no_address": ({"jump_cache_address": ""}, "jump_cache_address (hpcdl_cache_host) is empty"),
    "not_an_own_address": ({"jump_cache_address": "198.51.100.77"},
                           'jump_cache_address (or hpcdl_cache_host) is "198.51.100.77", which is not an address of'),
    "the_world": ({"jump_cache_allowed_sources": ["0.0.0.0/0"]}, "never 0.0.0.0/0"),
    "not_a_cidr": ({"jump_cache_allowed_sources": ["nodes"]}, "must be CIDRs such as 10.0.0.0/24"),
    "registry_without_port": ({"jump_cache_registries": [{"name": "quay.io", "upstream": "https://quay.io"}]},
                              "jump_cache_registries must list {name, upstream, port}"),
    "registry_on_the_packages_port": (
        {"jump_cache_registries": [{"name": "quay.io", "upstream": "https://quay.io", "port": 3142}]},
        "every port (these and jump_cache_port 3142) different"),
    "upstream_with_a_path": (
        {"jump_cache_registries": [{"name": "quay.io", "upstream": "https://quay.io/v2/", "port": 5001}]},
        "each upstream the registry's root URL"),
    "relative_dir": ({"jump_cache_dir": "cache"}, "jump_cache_dir and jump_cache_registry_dir absolute paths"),
}


@pytest.mark.parametrize(("variables", "message"), CASES.values(), ids=CASES.keys())
def test_bad_input_is_refused_in_preflight(tmp_path, variables, message):
    assert_refused(run_check_play(tmp_path, PLAY, {**GOOD, **variables}), "jump_cache", message,
                   PREFLIGHT_TASKS | BEFORE_PREFLIGHT)


def test_a_client_pointed_at_a_cache_that_does_not_answer_stops_naming_it(tmp_path):
    proc = run_check_play(tmp_path, CLIENT, {"jump_cache_client_host": "127.0.0.1", "jump_cache_client_port": 9,
                                             "jump_cache_client_fallback": "fail"})
    output = proc.stdout + proc.stderr
    assert proc.returncode == 2, output
    assert "The jump host's cache at http://127.0.0.1:9 (hpcdl_cache_host) does not answer from localhost" in output
    assert "Point apt at the cache" not in task_names("jump_cache", proc.stdout)


def test_a_client_with_fallback_upstream_warns_and_goes_on(tmp_path):
    proc = run_check_play(tmp_path, CLIENT, {"jump_cache_client_host": "127.0.0.1", "jump_cache_client_port": 9})
    output = proc.stdout + proc.stderr
    assert "WARNING: the jump host's cache at http://127.0.0.1:9 does not answer from localhost" in output, output
    assert "Point apt at the cache" in task_names("jump_cache", proc.stdout), output


@pytest.mark.parametrize(("variables", "message"), [
    ({"jump_cache_client_host": ""},
     "jump_cache_client_host (hpcdl_cache_host) must be the jump host's private address"),
    ({"jump_cache_client_host": "10.0.0.1", "jump_cache_client_fallback": "sometimes"}, "jump_cache_client_fallback"),
])
def test_bad_client_settings_are_refused(tmp_path, variables, message):
    proc = run_check_play(tmp_path, CLIENT, variables)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 2 and message in output, output
