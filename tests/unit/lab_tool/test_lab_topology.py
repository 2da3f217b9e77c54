"""What a lab's name decides: its containers, networks, bridge and host firewall rules."""
import json

import pytest
from hpcdl_lab import topology
from hpcdl_lab.common import LabError
from hpcdl_lab.topology import Lab


@pytest.mark.parametrize("name", ["demo", "lablab-x", "lab-egress_bundle", "bench-4", "A1"])
def test_names_of_letters_digits_dashes_and_underscores_are_taken(name, tmp_path):
    assert Lab(name, home=tmp_path).dir == tmp_path / name


@pytest.mark.parametrize("name", ["", "a b", "../etc", "lab/x", "lab.x", "lab;rm", "-", "_"])
def test_other_names_are_refused(name, tmp_path):
    with pytest.raises(LabError, match="use letters, digits, '-' and '_' only"):
        Lab(name, home=tmp_path)
    assert not list(tmp_path.iterdir())


def test_names_derived_from_the_lab(tmp_path):
    lab = Lab("lablab-x", home=tmp_path)
    assert lab.container("gpu1") == "hpcdl-lablab-x-gpu1"
    assert (lab.public_net, lab.private_net) == ("hpcdl-lablab-x-public", "hpcdl-lablab-x-private")
    assert lab.hosts(2) == ["internet", "jump", "gpu1", "gpu2"]
    assert lab.labels("hpcdl.lab.host=jump") == ["--label", "hpcdl.lab=lablab-x", "--label", "hpcdl.lab.host=jump"]
    assert lab.key == tmp_path / "lablab-x" / "id_ed25519"


def test_the_private_bridge_name_fits_the_kernel_and_differs_per_lab(tmp_path):
    long_name = "lab-" + "x" * 60
    bridges = {Lab(n, home=tmp_path).private_bridge for n in ("lab-a", "lab-b", long_name)}
    assert len(bridges) == 3
    assert all(len(b) <= 15 and b.startswith("hlp") for b in bridges)  # IFNAMSIZ - 1
    assert Lab("lab-a", home=tmp_path).private_bridge == Lab("lab-a", home=tmp_path / "y").private_bridge


def test_host_rules_let_jump_route_and_keep_the_controller_out(tmp_path):
    lab = Lab("lablab-x", home=tmp_path)
    bridge = lab.private_bridge
    comment = ["-m", "comment", "--comment", "hpcdl-lab:lablab-x"]
    assert lab.host_rules() == [
        ("DOCKER-USER", ["-i", bridge, "-o", bridge, *comment, "-j", "ACCEPT"]),
        ("OUTPUT", ["-o", bridge, *comment, "-j", "DROP"]),
    ]


def test_a_lab_that_is_not_up_has_no_state(tmp_path):
    with pytest.raises(LabError, match=r"lab 'lablab-x' is not up .*run `up` first"):
        Lab("lablab-x", home=tmp_path).load_state()


def test_counter_rules_count_the_jump_host_s_traffic_with_the_outside_only(tmp_path):
    lab = Lab("lablab-x", home=tmp_path)
    comment = ["-m", "comment", "--comment", "hpcdl-lab:lablab-x"]
    assert lab.counter_rules("127.0.10.3", "br-0123456789ab") == [
        ("DOCKER-USER", ["-s", "127.0.10.3/32", "-i", "br-0123456789ab", "!", "-o", "br-0123456789ab", *comment]),
        ("DOCKER-USER", ["-d", "127.0.10.3/32", "-o", "br-0123456789ab", "!", "-i", "br-0123456789ab", *comment]),
    ]


def test_down_removes_every_host_rule_with_the_lab_s_comment_and_no_other(tmp_path, monkeypatch):
    lab = Lab("lablab-x", home=tmp_path)
    listed = {
        "DOCKER-USER": ['-N DOCKER-USER',
                        '-A DOCKER-USER -s 127.0.10.3/32 -i br-1 ! -o br-1 -m comment --comment "hpcdl-lab:lablab-x"',
                        '-A DOCKER-USER -i hlp1 -o hlp1 -m comment --comment "hpcdl-lab:lablab-x" -j ACCEPT',
                        '-A DOCKER-USER -i hlp2 -o hlp2 -m comment --comment "hpcdl-lab:lablab-x-other" -j ACCEPT',
                        '-A DOCKER-USER -j RETURN'],
        "OUTPUT": ['-P OUTPUT ACCEPT', '-A OUTPUT -o hlp1 -m comment --comment hpcdl-lab:lablab-x -j DROP'],
    }
    ran = []

    def fake_run(args, check=True, **kwargs):
        ran.append(args)
        out = "\n".join(listed.get(args[3], [])) if args[:3] == ["iptables", "-w", "-S"] else ""
        return type("P", (), {"stdout": out, "returncode": 0})()

    monkeypatch.setattr(topology, "run", fake_run)
    lab.remove_rules()
    deleted = [a[2] for a in ran if a[0] == "sh"]
    assert deleted == [
        'iptables -w -D DOCKER-USER -s 127.0.10.3/32 -i br-1 ! -o br-1 -m comment --comment "hpcdl-lab:lablab-x"',
        'iptables -w -D DOCKER-USER -i hlp1 -o hlp1 -m comment --comment "hpcdl-lab:lablab-x" -j ACCEPT',
        "iptables -w -D OUTPUT -o hlp1 -m comment --comment hpcdl-lab:lablab-x -j DROP",
    ]


def test_only_a_gpu_node_is_wiped(lab, state):
    lab.state_file.write_text(json.dumps(state))
    with pytest.raises(LabError, match=r"'jump' is not a gpu node of lab 'lablab-unit' \(it has gpu1, gpu2\)"):
        lab.wipe("jump")
    with pytest.raises(LabError, match="'gpu9' is not a gpu node"):
        lab.wipe("gpu9")


@pytest.mark.parametrize(("specs", "gpus", "expected"), [
    ([], 2, {"gpu1": "bookworm", "gpu2": "bookworm"}),
    (["trixie"], 2, {"gpu1": "trixie", "gpu2": "trixie"}),
    (["gpu1=trixie,gpu2=bullseye"], 2, {"gpu1": "trixie", "gpu2": "bullseye"}),
    (["trixie", "gpu2=bullseye"], 3, {"gpu1": "trixie", "gpu2": "bullseye", "gpu3": "trixie"}),  # later wins
])
def test_each_gpu_node_gets_the_release_asked_for(specs, gpus, expected):
    assert topology.node_releases(specs, gpus) == expected


@pytest.mark.parametrize(("spec", "message"), [
    ("gpu3=trixie", "--os gpu3=trixie: this lab's gpu nodes are gpu1, gpu2 (internet and jump run bookworm)"),
    ("jump=trixie", "--os jump=trixie: this lab's gpu nodes are gpu1, gpu2 (internet and jump run bookworm)"),
    ("gpu1=jessie", "Debian release 'jessie': the lab builds bookworm, trixie, bullseye"),
])
def test_a_release_for_no_gpu_node_or_an_unknown_release_is_refused(spec, message):
    with pytest.raises(LabError) as refused:
        topology.node_releases([spec], 2)
    assert str(refused.value) == message
