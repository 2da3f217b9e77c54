"""hpcdl.gpu.iptables_rules (the internal role) refuses a set it could not own, before any file or rule changes.

Runs the role against localhost with `-c local --check`: it only reads this machine's rules (the
module asks `iptables -S`/`-C`, nothing else), and the assertion that no task after the
comparison ran proves nothing was written.
"""
import pytest
from check_play import assert_refused, role_play, run_check_play

PLAY = role_play("iptables_rules")
GOOD = {"iptables_rules_tag": "hpcdl-test", "iptables_rules_unit": "hpcdl-test-firewall",
        "iptables_rules_set": [{"chain": "INPUT", "rule": "-p tcp --dport 8888", "jump": "DROP"}]}
BEFORE_WRITING = {"Install iptables", "Compare the live rules with the set tagged hpcdl-test",
                  "Compare the live rules with the set tagged hpcdl lab"}

CASES = {
    "tag_iptables_would_quote": ({"iptables_rules_tag": "hpcdl lab"},
                                 "The tag 'hpcdl lab' is not a comment this set can own"),
    "target_in_the_rule": ({"iptables_rules_set": [{"chain": "INPUT", "rule": "-p tcp -j ACCEPT", "jump": "DROP"}]},
                           "Rule 1: -j belongs to the set"),
    "argument_with_a_space": ({"iptables_rules_set": [{"chain": "INPUT", "jump": "LOG --log-prefix 'x y'"}]},
                              "Rule 1: the argument 'x y' holds a space"),
    "no_chain": ({"iptables_rules_set": [{"rule": "-p tcp", "jump": "DROP"}]}, "chain"),
    "unknown_table": ({"iptables_rules_set": [{"table": "nats", "chain": "POSTROUTING", "jump": "MASQUERADE"}]},
                      "nats"),
    "no_unit": ({"iptables_rules_unit": None}, "iptables_rules_unit"),
}


@pytest.mark.parametrize(("variables", "message"), CASES.values(), ids=CASES.keys())
def test_a_set_it_cannot_own_is_refused_before_writing(tmp_path, variables, message):
    variables = {key: value for key, value in {**GOOD, **variables}.items() if value is not None}
    assert_refused(run_check_play(tmp_path, PLAY, variables), "iptables_rules", message, BEFORE_WRITING)
