"""The boot script of the internal role hpcdl.gpu.iptables_rules, rendered from its real template
and run against a fake `iptables` (a small table in a JSON file, on PATH before the real one), so
that what it does to the rules is seen without root and without touching this machine's rules.

It must remove every rule with its tag (the ones an earlier version wrote too, in any table it
owns), insert exactly the set at the top of each chain in order, leave every other rule alone, and
give the same rules when it runs again; and the module's comparison must then find them in sync.
"""
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from ansible_collections.hpcdl.gpu.plugins.module_utils.iptables_rules import compare, normalise

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
TEMPLATE = ROOT / "roles" / "iptables_rules" / "templates" / "iptables-rules.sh.j2"

FAKE_IPTABLES = r'''#!PYTHON
"""iptables -w [-t TABLE] (-S | -C CHAIN ARGS | -D CHAIN ARGS | -I CHAIN POS ARGS), on STATE."""
import json, os, sys
state_file = os.environ["FAKE_IPTABLES_STATE"]
with open(state_file) as f:
    state = json.load(f)
args = [a for a in sys.argv[1:] if a != "-w"]
table = "filter"
if args[:1] == ["-t"]:
    table, args = args[1], args[2:]
rules = state.setdefault(table, [])
with open(state_file + ".log", "a") as log:
    log.write(" ".join(sys.argv[1:]) + "\n")
if args == ["-S"]:
    for chain in state.get("_policies", {}).get(table, []):
        print("-P %s ACCEPT" % chain)
    for rule in rules:
        print("-A " + rule)
    sys.exit(0)
command, chain, rest = args[0], args[1], args[2:]
if command == "-I":
    position, rest = int(rest[0]), rest[1:]
    indexes = [i for i, r in enumerate(rules) if r.split()[0] == chain]
    at = indexes[position - 1] if position - 1 < len(indexes) else (indexes[-1] + 1 if indexes else len(rules))
    rules.insert(at, " ".join([chain] + rest))
elif command in ("-D", "-C"):
    wanted = " ".join([chain] + rest)
    if wanted not in rules:
        sys.stderr.write("iptables: Bad rule (does a matching rule exist in that chain?).\n")
        sys.exit(1)
    if command == "-D":
        rules.remove(wanted)
else:
    sys.exit(2)
with open(state_file, "w") as f:
    json.dump(state, f)
'''

# Docker's rules and another set's, which must stay; and what the tengine role's earlier script
# left: its rules (one source since removed) tagged hpcdl-tengine, plus a stray one in nat.
BEFORE = {
    "_policies": {"filter": ["INPUT", "FORWARD", "OUTPUT"], "nat": ["PREROUTING", "POSTROUTING"]},
    "filter": [
        "INPUT -s 198.51.100.9/32 -p tcp -m tcp --dport 8888 -m comment --comment hpcdl-tengine -j ACCEPT",
        "INPUT -p tcp -m tcp --dport 8888 -m comment --comment hpcdl-tengine -j DROP",
        "INPUT -p tcp -m tcp --dport 22 -j ACCEPT",
        "INPUT -p tcp -m tcp --dport 3142 -m comment --comment hpcdl-tengine-cache -j ACCEPT",
        "FORWARD -j DOCKER-USER",
    ],
    "nat": [
        "POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE",
        "POSTROUTING -s 10.0.0.0/8 -m comment --comment hpcdl-tengine -j MASQUERADE",
    ],
}
SET = [
    {"chain": "INPUT", "rule": "-s 172.18.0.1/32 -p tcp --dport 8888", "jump": "ACCEPT"},
    {"chain": "INPUT", "rule": "-s 203.0.113.0/24 -p tcp --dport 8888", "jump": "ACCEPT"},
    {"chain": "INPUT", "rule": "-p tcp --dport 8888", "jump": "DROP"},
]


def render(tmp_path, rules, tag, sysctl):
    wanted, tables = normalise(rules, tag)
    variables = {
        "iptables_rules_tag": tag, "iptables_rules_unit": "hpcdl-test-firewall",
        "iptables_rules_description": "Test rules (hpcdl.gpu)", "iptables_rules_sysctl": sysctl,
        "__iptables_rules_live": {"tables": tables, "commands": [rule["command"] for rule in wanted]},
    }
    (tmp_path / "vars.json").write_text(json.dumps(variables))
    (tmp_path / "play.yml").write_text(textwrap.dedent(f"""\
        - name: Render the boot script
          hosts: localhost
          gather_facts: false
          tasks:
            - name: Write the script from the role's template
              ansible.builtin.template:
                src: {TEMPLATE}
                dest: {tmp_path}/script.sh
                mode: "0755"
                validate: sh -n %s
        """))
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_LOCALHOST_WARNING="false",
               ANSIBLE_INVENTORY_UNPARSED_WARNING="false")
    proc = subprocess.run([str(BIN / "ansible-playbook"), "-i", "localhost,", "-c", "local", "play.yml",
                           "-e", f"ansible_python_interpreter={sys.executable}", "-e", "@vars.json"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return tmp_path / "script.sh", wanted, tables


@pytest.fixture
def fake_host(tmp_path):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    iptables = bindir / "iptables"
    iptables.write_text(FAKE_IPTABLES.replace("PYTHON", sys.executable, 1))
    iptables.chmod(0o755)
    sysctl = bindir / "sysctl"
    sysctl.write_text(f"#!/bin/sh\necho \"$@\" >> {tmp_path}/sysctl.log\n")
    sysctl.chmod(0o755)
    state = tmp_path / "state.json"
    state.write_text(json.dumps(BEFORE))
    env = dict(os.environ, PATH=f"{bindir}:{os.environ['PATH']}", FAKE_IPTABLES_STATE=str(state))

    def run_script(script):
        proc = subprocess.run(["sh", str(script)], env=env, capture_output=True, text=True, timeout=60, check=False)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        return json.loads(state.read_text())

    def run_iptables(argv):
        proc = subprocess.run([str(iptables), *argv], env=env, capture_output=True, text=True, check=False)
        return proc.returncode, proc.stdout, proc.stderr

    return run_script, run_iptables


def test_the_script_applies_exactly_the_set_and_leaves_every_other_rule(tmp_path, fake_host):
    run_script, run_iptables = fake_host
    script, wanted, tables = render(tmp_path, SET, "hpcdl-tengine", {})
    text = script.read_text()
    assert text.startswith("#!/bin/sh\n#\n# Ansible managed"), text[:200]
    assert "-s 172.18.0.1/32 -p tcp --dport 8888" in text  # what molecule/tengine reads in it

    assert not compare(wanted, tables, "hpcdl-tengine", run_iptables)["in_sync"]
    after = run_script(script)
    assert after["filter"] == [
        "INPUT -s 172.18.0.1/32 -p tcp --dport 8888 -m comment --comment hpcdl-tengine -j ACCEPT",
        "INPUT -s 203.0.113.0/24 -p tcp --dport 8888 -m comment --comment hpcdl-tengine -j ACCEPT",
        "INPUT -p tcp --dport 8888 -m comment --comment hpcdl-tengine -j DROP",
        "INPUT -p tcp -m tcp --dport 22 -j ACCEPT",
        "INPUT -p tcp -m tcp --dport 3142 -m comment --comment hpcdl-tengine-cache -j ACCEPT",
        "FORWARD -j DOCKER-USER",
    ]
    assert after["nat"] == ["POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE"]
    assert compare(wanted, tables, "hpcdl-tengine", run_iptables)["in_sync"]

    assert run_script(script) == after, "a second run (a reboot, a restart of the unit) changed the rules"
    assert not (tmp_path / "sysctl.log").exists()


def test_sysctl_first_and_rules_in_several_tables(tmp_path, fake_host):
    run_script, run_iptables = fake_host
    vpn = [
        {"table": "nat", "chain": "POSTROUTING", "rule": "-s 10.77.0.0/24 -o eth0", "jump": "MASQUERADE"},
        {"chain": "FORWARD", "rule": "-i wg0 -o eth0", "jump": "ACCEPT"},
        {"chain": "FORWARD", "rule": "-i eth0 -o wg0 -m conntrack --ctstate ESTABLISHED,RELATED", "jump": "ACCEPT"},
    ]
    script, wanted, tables = render(tmp_path, vpn, "hpcdl-vpn", {"net.ipv4.ip_forward": 1})
    after = run_script(script)
    assert (tmp_path / "sysctl.log").read_text() == "-q -w net.ipv4.ip_forward=1\n"
    assert after["nat"][0] == "POSTROUTING -s 10.77.0.0/24 -o eth0 -m comment --comment hpcdl-vpn -j MASQUERADE"
    assert [r for r in after["filter"] if r.startswith("FORWARD")] == [
        "FORWARD -i wg0 -o eth0 -m comment --comment hpcdl-vpn -j ACCEPT",
        "FORWARD -i eth0 -o wg0 -m conntrack --ctstate ESTABLISHED,RELATED -m comment --comment hpcdl-vpn -j ACCEPT",
        "FORWARD -j DOCKER-USER",
    ]
    # Another set's rules (hpcdl-tengine) are not this set's business.
    assert sum("hpcdl-tengine " in r for r in after["filter"] + after["nat"]) == 3
    state = compare(wanted, tables, "hpcdl-vpn", run_iptables)
    assert state["in_sync"], state
    assert run_script(script) == after
