"""What a lab's name decides: its containers, networks, bridge and host firewall rules."""
import pytest
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
