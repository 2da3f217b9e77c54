"""jump_vpn and hpc_vpn refuse bad input in preflight, before anything changes, naming the variable.

Each case runs the role against localhost (`-c local --check`): the play must fail, on a check
task (argument specs or preflight), with nothing changed, and the message must name the variable.
The corrupt-bundle case needs a download, so it runs on the lab (molecule/egress_bundle).
"""
import json

import pytest
from check_play import run_check_play

SHA = "0" * 64

CASES = {
    "jump_unknown_backend": (
        "jump_vpn", {"jump_vpn_backend": "openvpn"}, "jump_vpn_backend"),
    "hpc_unknown_backend": (
        "hpc_vpn", {"hpc_vpn_backend": "ipsec"}, "hpc_vpn_backend"),
    "jump_bundle_missing": (
        "jump_vpn", {"jump_vpn_backend": "bundle", "jump_vpn_bundle_sha256": SHA,
                     "jump_vpn_bundle_subnet": "10.78.0.0/24"}, "jump_vpn_bundle_url"),
    "jump_bundle_bad_checksum_value": (
        "jump_vpn", {"jump_vpn_backend": "bundle", "jump_vpn_bundle_url": "http://127.0.0.1:9/VPN.tar.gz",
                     "jump_vpn_bundle_sha256": "not-a-sha256", "jump_vpn_bundle_subnet": "10.78.0.0/24"},
        "jump_vpn_bundle_sha256"),
    # This machine runs Debian: the bundle has run scripts for CentOS 6 and 7 only.
    "jump_no_run_script_for_this_os": (
        "jump_vpn", {"jump_vpn_backend": "bundle", "jump_vpn_bundle_url": "http://127.0.0.1:9/VPN.tar.gz",
                     "jump_vpn_bundle_sha256": SHA, "jump_vpn_bundle_subnet": "10.78.0.0/24"},
        "jump_vpn_bundle_script"),
    "hpc_no_jump_address": (
        "hpc_vpn", {"hpc_vpn_jump_host": "localhost", "hpc_vpn_probe_url": "http://127.0.0.1:9/probe.html"},
        "hpc_vpn_jump_address"),
    "hpc_bundle_without_checksum": (
        "hpc_vpn", {"hpc_vpn_backend": "bundle", "hpc_vpn_jump_host": "localhost",
                    "hpc_vpn_jump_address": "127.0.0.1", "hpc_vpn_probe_url": "http://127.0.0.1:9/probe.html"},
        "hpc_vpn_bundle_sha256"),
}


def run_case(tmp_path, role, variables):
    play = ("- hosts: localhost\n"
            "  gather_facts: true\n"
            "  gather_subset: [network]\n"
            f"  roles: [{{role: hpcdl.gpu.{role}}}]\n")
    return run_check_play(tmp_path, play, variables, callback="json")


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_is_refused_naming_the_variable(tmp_path, case):
    role, variables, name = CASES[case]
    proc = run_case(tmp_path, role, variables)
    assert proc.returncode != 0, proc.stdout[-2000:] + proc.stderr
    report = json.loads(proc.stdout)
    failed = [(task["task"]["name"], result) for play in report["plays"] for task in play["tasks"]
              for result in task["hosts"].values() if result.get("failed")]
    assert len(failed) == 1, failed
    task_name, result = failed[0]
    task_name = task_name.split(" : ", 1)[-1]
    # Refused by the argument specs or by preflight (every preflight task is a "Check ..."),
    # and nothing changed before it.
    assert task_name.startswith(("Validating arguments", "Check ")), task_name
    assert report["stats"]["localhost"]["changed"] == 0
    assert name in result["msg"], result["msg"]
    print(f"{case}: {result['msg']}")
