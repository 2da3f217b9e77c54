"""hpcdl.gpu.proxy_unset refuses bad input in its preflight, before anything changes, naming the variable.

Runs against localhost with `-c local --check`: safe even if a check were missing (check mode
changes nothing), and the assertion that no task after the preflight ran proves it was not.
"""

import pytest
from check_play import ARGSPEC_TASK, assert_refused, role_play, run_check_play, task_names, type_refused

PLAY = role_play("proxy_unset")
PREFLIGHT_TASKS = {
    "Check that proxy_unset_variables lists at least one name",
    "Check that every name in proxy_unset_variables is an environment variable name",
    "Check that proxy_unset_only_matching is a regular expression",
    "Check the uid range of the users whose shell files are scanned",
    "Check that every file list holds absolute paths",
    "Check that proxy_unset_users_rc_files holds file names relative to a home",
}

CASES = {
    "empty_variable_list": ({"proxy_unset_variables": []},
                            "proxy_unset_variables is empty"),
    "invalid_variable_name": ({"proxy_unset_variables": ["http_proxy", "https-proxy"]},
                              'proxy_unset_variables holds "https-proxy", which is not a valid environment'),
    "name_starting_with_a_digit": ({"proxy_unset_variables": ["1proxy"]},
                                   'proxy_unset_variables holds "1proxy"'),
    "invalid_regex": ({"proxy_unset_only_matching": "10\\.168\\.56\\.7:(3128"},
                      "proxy_unset_only_matching is not a valid regular expression"),
    "uid_range_upside_down": ({"proxy_unset_users_uid_min": 5000, "proxy_unset_users_uid_max": 1000},
                              "proxy_unset_users_uid_min (5000) must be 0 or more and not above"),
    "relative_file_path": ({"proxy_unset_apt_files": ["etc/apt/apt.conf"]},
                           'proxy_unset_apt_files holds "etc/apt/apt.conf": give absolute paths'),
    "rc_file_with_a_slash": ({"proxy_unset_users_rc_files": [".bashrc", "../other/.profile"]},
                             'proxy_unset_users_rc_files holds "../other/.profile"'),
}


def run_play(tmp_path, variables):
    return run_check_play(tmp_path, PLAY, variables)


@pytest.mark.parametrize(("variables", "message"), CASES.values(), ids=CASES.keys())
def test_bad_input_is_refused_in_preflight(tmp_path, variables, message):
    # The play stopped in the preflight: every task that ran is a preflight check (or the
    # argument-spec validation before them); nothing was removed.
    assert_refused(run_play(tmp_path, variables), "proxy_unset", message, PREFLIGHT_TASKS)


def test_a_wrong_type_is_refused_by_the_argument_specs(tmp_path):
    proc = run_play(tmp_path, {"proxy_unset_backup": "sometimes"})
    output = proc.stdout + proc.stderr
    assert proc.returncode == 2, output
    assert type_refused("proxy_unset_backup", "str") in output
    assert task_names("proxy_unset", proc.stdout)[-1].startswith(ARGSPEC_TASK)
