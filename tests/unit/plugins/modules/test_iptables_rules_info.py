"""hpcdl.gpu.iptables_rules_info end to end: main() with iptables answered by a fake run_command."""
import pytest
from ansible.module_utils import basic
from ansible_collections.hpcdl.gpu.plugins.modules import iptables_rules_info as module_file

RULES = [
    {"chain": "INPUT", "rule": "-s 172.18.0.1/32 -p tcp --dport 8888", "jump": "ACCEPT"},
    {"chain": "INPUT", "rule": "-p tcp --dport 8888", "jump": "DROP"},
]
LIVE = """-P INPUT ACCEPT
-A INPUT -s 172.18.0.1/32 -p tcp -m tcp --dport 8888 -m comment --comment hpcdl-tengine -j ACCEPT
-A INPUT -p tcp -m tcp --dport 8888 -m comment --comment hpcdl-tengine -j DROP
"""


@pytest.fixture
def host(monkeypatch):
    """The host's iptables: `listings` per table, `present` rules for -C; `calls` records every argv."""
    state = {"listings": {"filter": LIVE, "nat": "-P POSTROUTING ACCEPT\n"}, "present": set(), "calls": [],
             "environ": []}

    def run_command(self, argv, **kwargs):
        state["calls"].append(list(argv))
        state["environ"].append(kwargs.get("environ_update"))
        assert argv[0] == "/usr/sbin/iptables"
        table = argv[argv.index("-t") + 1]
        if "-S" in argv:
            return 0, state["listings"][table], ""
        assert "-C" in argv, f"the module changed something: {argv}"
        return (0, "", "") if " ".join(argv[argv.index("-C") + 1:]) in state["present"] else (1, "", "Bad rule")

    monkeypatch.setattr(basic.AnsibleModule, "run_command", run_command)
    monkeypatch.setattr(basic.AnsibleModule, "get_bin_path",
                        lambda self, name, required=False, opt_dirs=None: "/usr/sbin/" + name)
    return state


@pytest.fixture
def run(run_main):
    return lambda args: run_main(module_file, args)


def test_in_sync_when_the_live_rules_are_the_set(run, host):
    host["present"] = {
        "INPUT -s 172.18.0.1/32 -p tcp --dport 8888 -m comment --comment hpcdl-tengine -j ACCEPT",
        "INPUT -p tcp --dport 8888 -m comment --comment hpcdl-tengine -j DROP",
    }
    done = run({"tag": "hpcdl-tengine", "rules": RULES})
    assert not done.failed, done.result
    assert done.result["changed"] is False and done.result["in_sync"] is True
    assert done.result["live"] == done.result["wanted"] == {"filter": {"INPUT": 2}}
    assert done.result["tables"] == ["filter", "nat"]
    assert done.result["commands"][1] == \
        "iptables -w -t filter -I INPUT 2 -p tcp --dport 8888 -m comment --comment hpcdl-tengine -j DROP"
    assert all(env == {"LANG": "C", "LC_ALL": "C"} for env in host["environ"])


def test_out_of_sync_names_the_missing_rule_and_changes_nothing_in_check_mode(run, host):
    host["present"] = {
        "INPUT -s 172.18.0.1/32 -p tcp --dport 8888 -m comment --comment hpcdl-tengine -j ACCEPT"}
    done = run({"tag": "hpcdl-tengine", "rules": RULES, "_ansible_check_mode": True})
    assert done.result["changed"] is False and done.result["in_sync"] is False
    assert done.result["missing"] == [
        "iptables -w -t filter -I INPUT 2 -p tcp --dport 8888 -m comment --comment hpcdl-tengine -j DROP"]
    assert all("-S" in call or "-C" in call for call in host["calls"])


def test_table_defaults_to_filter_and_bad_table_is_refused_by_the_spec(run, host):
    done = run({"tag": "t", "rules": [{"table": "nats", "chain": "POSTROUTING", "jump": "MASQUERADE"}]})
    assert done.failed and "nats" in done.result["msg"]
    assert host["calls"] == []


def test_a_bad_tag_is_refused_before_iptables_is_asked(run, host):
    done = run({"tag": "hpcdl tengine", "rules": RULES})
    assert done.failed
    assert done.result["msg"].startswith("Refusing the iptables rules tagged 'hpcdl tengine': The tag")
    assert host["calls"] == []
