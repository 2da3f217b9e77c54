"""module_utils/iptables_rules: a tagged set's commands, and whether the live rules are that set."""
from pathlib import Path

import pytest
from ansible_collections.hpcdl.gpu.plugins.module_utils.iptables_rules import (
    IptablesError,
    RulesError,
    compare,
    normalise,
    tagged_counts,
)

TENGINE = [
    {"chain": "INPUT", "rule": "-s 172.18.0.1/32 -p tcp --dport 8888", "jump": "ACCEPT"},
    {"chain": "INPUT", "rule": "-p tcp --dport 8888", "jump": "DROP"},
]
VPN = [
    {"table": "nat", "chain": "POSTROUTING", "rule": "-s 10.77.0.0/24 -o eth0", "jump": "MASQUERADE"},
    {"chain": "FORWARD", "rule": "-i wg0 -o eth0", "jump": "ACCEPT"},
    {"chain": "FORWARD", "rule": ["-i", "eth0", "-o", "wg0", "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED"],
     "jump": "ACCEPT"},
]
# The first three lines as `iptables -S INPUT` prints them on the tengine lab's jump host (see
# fixtures/iptables/tengine_jump_filter_INPUT.txt): normalised (-m tcp added), so not the text that
# inserted them. The last two are added: a tag that starts with this one, and a comment iptables
# quotes (as this machine's own lab rules show).
LIVE_INPUT = """-P INPUT ACCEPT
-A INPUT -s 172.18.0.1/32 -p tcp -m tcp --dport 8888 -m comment --comment hpcdl-tengine -j ACCEPT
-A INPUT -p tcp -m tcp --dport 8888 -m comment --comment hpcdl-tengine -j DROP
-A INPUT -p udp -m udp --dport 53 -m comment --comment hpcdl-tengine-other -j ACCEPT
-A INPUT -m comment --comment "hpcdl-lab:fw-tengine" -j ACCEPT
"""


def test_commands_put_the_set_at_the_top_of_each_chain_in_order_with_the_tag_before_the_target():
    rules, tables = normalise(TENGINE + VPN, "hpcdl-x")
    assert [r["command"] for r in rules] == [
        "iptables -w -t filter -I INPUT 1 -s 172.18.0.1/32 -p tcp --dport 8888 -m comment --comment hpcdl-x -j ACCEPT",
        "iptables -w -t filter -I INPUT 2 -p tcp --dport 8888 -m comment --comment hpcdl-x -j DROP",
        "iptables -w -t nat -I POSTROUTING 1 -s 10.77.0.0/24 -o eth0 -m comment --comment hpcdl-x -j MASQUERADE",
        "iptables -w -t filter -I FORWARD 1 -i wg0 -o eth0 -m comment --comment hpcdl-x -j ACCEPT",
        "iptables -w -t filter -I FORWARD 2 -i eth0 -o wg0 -m conntrack --ctstate ESTABLISHED,RELATED "
        "-m comment --comment hpcdl-x -j ACCEPT",
    ]
    assert tables == ["filter", "nat"]
    assert rules[1]["args"] == ["-p", "tcp", "--dport", "8888", "-m", "comment", "--comment", "hpcdl-x", "-j", "DROP"]


def test_tables_of_the_set_are_added_to_the_scanned_ones_once():
    _rules, tables = normalise([{"table": "mangle", "chain": "PREROUTING", "jump": "MARK --set-mark 1"}], "t", ["nat"])
    assert tables == ["nat", "mangle"]


def test_a_shell_special_argument_is_quoted_in_the_command():
    rules, _tables = normalise([{"chain": "FORWARD", "rule": "! -s 10.0.0.0/8", "jump": "DROP"}], "t")
    assert rules[0]["command"] == "iptables -w -t filter -I FORWARD 1 '!' -s 10.0.0.0/8 -m comment --comment t -j DROP"


@pytest.mark.parametrize("tag", ["hpcdl tengine", "hpcdl:lab", "hpcdl.vpn", "-x", "", "x" * 65, None])
def test_a_tag_iptables_would_quote_is_refused(tag):
    with pytest.raises(RulesError, match="is not a comment this set can own"):
        normalise(TENGINE, tag)


@pytest.mark.parametrize("rule, message", [
    ({"chain": "INPUT", "rule": "-p tcp -j ACCEPT", "jump": "ACCEPT"}, "-j belongs to the set"),
    ({"chain": "INPUT", "rule": "-m comment --comment other", "jump": "ACCEPT"}, "--comment belongs to the set"),
    ({"chain": "INPUT", "rule": "-t nat", "jump": "ACCEPT"}, "-t belongs to the set"),
    ({"chain": "INPUT", "rule": "-p tcp", "jump": ""}, "jump is empty"),
    ({"chain": "INPUT", "rule": "-p tcp", "jump": "LOG --log-prefix 'a b'"}, "holds a space, a quote or a backslash"),
    ({"chain": "INPUT", "rule": "-p 'tcp", "jump": "ACCEPT"}, "cannot be split into arguments"),
    # What a regex_replace with "\\1" gave on ansible-core 2.19 (shlex would have made it "1").
    ({"chain": "INPUT", "rule": "-s \\1 -p tcp", "jump": "ACCEPT"}, "holds a backslash"),
    ({"chain": "IN PUT", "rule": "", "jump": "ACCEPT"}, "is not a chain name"),
    ({"table": "nats", "chain": "POSTROUTING", "jump": "MASQUERADE"}, "table 'nats' is not one of"),
    ("-A INPUT -j ACCEPT", "give a dict with chain, rule and jump"),
])
def test_bad_rules_are_refused_with_a_sentence_naming_the_rule(rule, message):
    with pytest.raises(RulesError) as info:
        normalise([TENGINE[0], rule], "hpcdl-x")
    assert message in str(info.value)
    assert "Rule 2" in str(info.value)


def test_tagged_counts_match_the_whole_tag_and_skip_quoted_other_comments():
    assert tagged_counts(LIVE_INPUT, "hpcdl-tengine") == {"INPUT": 2}
    assert tagged_counts(LIVE_INPUT, "hpcdl-tengine-other") == {"INPUT": 1}
    assert tagged_counts(LIVE_INPUT, "hpcdl-lab") == {}
    assert tagged_counts("", "hpcdl-tengine") == {}


def test_a_comment_at_the_end_of_a_rule_without_target_is_counted():
    assert tagged_counts("-A INPUT -p tcp -m comment --comment hpcdl-x\n", "hpcdl-x") == {"INPUT": 1}


class FakeIptables:
    """`iptables` answering -S from listings per table, -C from a set of present rule argv."""

    def __init__(self, listings, present=(), check_rc=None):
        self.listings = listings
        self.present = [tuple(p) for p in present]
        self.check_rc = check_rc
        self.calls = []

    def __call__(self, argv):
        self.calls.append(argv)
        table = argv[argv.index("-t") + 1]
        if "-S" in argv:
            if table not in self.listings:
                return 3, "", f"iptables v1.8.9 (nf_tables): table '{table}' does not exist\n"
            return 0, self.listings[table], ""
        if self.check_rc is not None:
            return self.check_rc, "", "iptables v1.8.9 (nf_tables): unknown option \"--bogus\"\n"
        key = tuple(argv[argv.index("-C") + 1:])
        if key in self.present:
            return 0, "", ""
        return 1, "", "iptables: Bad rule (does a matching rule exist in that chain?).\n"


def present_argv(rules):
    return [[r["chain"], *r["args"]] for r in rules]


def test_the_live_set_matches_when_every_rule_is_found_and_nothing_else_carries_the_tag():
    rules, tables = normalise(TENGINE, "hpcdl-tengine")
    fake = FakeIptables({"filter": LIVE_INPUT, "nat": "-P POSTROUTING ACCEPT\n"}, present_argv(rules))
    state = compare(rules, tables, "hpcdl-tengine", fake)
    assert state == {"in_sync": True, "missing": [], "live": {"filter": {"INPUT": 2}},
                     "wanted": {"filter": {"INPUT": 2}}}
    assert [c for c in fake.calls if "-C" in c][0] == [
        "-w", "-t", "filter", "-C", "INPUT", "-s", "172.18.0.1/32", "-p", "tcp", "--dport", "8888",
        "-m", "comment", "--comment", "hpcdl-tengine", "-j", "ACCEPT"]


def test_a_missing_rule_is_named():
    rules, tables = normalise(TENGINE, "hpcdl-tengine")
    fake = FakeIptables({"filter": LIVE_INPUT, "nat": ""}, present_argv(rules[:1]))
    state = compare(rules, tables, "hpcdl-tengine", fake)
    assert state["in_sync"] is False
    assert state["missing"] == [rules[1]["command"]]


def test_an_extra_tagged_rule_in_another_table_is_out_of_sync():
    """A source removed from the set, or a rule an earlier version left in nat: counted, so reapplied."""
    rules, tables = normalise(TENGINE, "hpcdl-tengine")
    nat = "-A POSTROUTING -s 10.0.0.0/8 -m comment --comment hpcdl-tengine -j MASQUERADE\n"
    fake = FakeIptables({"filter": LIVE_INPUT, "nat": nat}, present_argv(rules))
    state = compare(rules, tables, "hpcdl-tengine", fake)
    assert state["in_sync"] is False and state["missing"] == []
    assert state["live"] == {"filter": {"INPUT": 2}, "nat": {"POSTROUTING": 1}}


def test_an_old_duplicate_is_out_of_sync():
    rules, tables = normalise(TENGINE, "hpcdl-tengine")
    doubled = LIVE_INPUT + "-A INPUT -p tcp -m tcp --dport 8888 -m comment --comment hpcdl-tengine -j DROP\n"
    state = compare(rules, tables, "hpcdl-tengine", FakeIptables({"filter": doubled, "nat": ""}, present_argv(rules)))
    assert state["in_sync"] is False and state["live"] == {"filter": {"INPUT": 3}}


def test_a_rule_iptables_cannot_parse_is_an_error_with_its_message():
    rules, tables = normalise([{"chain": "INPUT", "rule": "--bogus", "jump": "ACCEPT"}], "t")
    with pytest.raises(IptablesError, match=r'iptables refuses the rule .*--bogus.*unknown option "--bogus"'):
        compare(rules, tables, "t", FakeIptables({"filter": "", "nat": ""}, check_rc=2))


def test_a_table_iptables_cannot_list_is_an_error():
    rules, tables = normalise(TENGINE, "t", ["filter", "raw"])
    with pytest.raises(IptablesError, match=r"iptables -t raw -S failed \(rc=3\)"):
        compare(rules, tables, "t", FakeIptables({"filter": ""}))


FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "iptables"


def recorded(name):
    return (FIXTURES / name).read_text()


def test_recorded_listings_from_the_lab_count_the_tagged_rules():
    assert tagged_counts(recorded("tengine_jump_filter_INPUT.txt"), "hpcdl-tengine") == {"INPUT": 2}
    assert tagged_counts(recorded("egress_wireguard_jump_filter_FORWARD.txt"), "hpcdl-vpn") == {"FORWARD": 2}
    assert tagged_counts(recorded("egress_wireguard_jump_nat_POSTROUTING.txt"), "hpcdl-vpn") == {"POSTROUTING": 1}
    assert tagged_counts(recorded("egress_wireguard_jump_nat_POSTROUTING.txt"), "hpcdl-tengine") == {}


def test_the_recorded_rules_are_not_the_text_that_inserted_them():
    """Why the module asks iptables -C instead of comparing -S lines: iptables normalises them."""
    tengine = recorded("tengine_jump_filter_INPUT.txt")
    assert "-s 192.168.224.1/32 -p tcp --dport 8888 " not in tengine
    assert "-s 192.168.224.1/32 -p tcp -m tcp --dport 8888 " in tengine
    forward = recorded("egress_wireguard_jump_filter_FORWARD.txt")
    assert "--ctstate ESTABLISHED,RELATED" not in forward
    assert "--ctstate RELATED,ESTABLISHED" in forward
