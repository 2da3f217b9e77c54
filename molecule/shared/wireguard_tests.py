"""The WireGuard egress tests that need no fault: the egress_wireguard scenario runs them after its
converge (playbooks/egress.yml alone), and the site scenario runs them on its two nodes after
site.yml (the lab's inventory uses WireGuard), so that `make test` proves the WireGuard backend on a
fleet although egress_wireguard itself runs in `make test-all` only. A test file imports these
functions by name; pytest collects them there.
"""
import pytest
from egress_checks import (
    check_apt_through_tunnel,
    check_management_path,
    check_nat_unit_restores_egress,
    check_one_wireguard_peer_per_node,
    check_probe_through_tunnel,
    check_wireguard_private_keys_stay_on_their_hosts,
    check_wireguard_units_enabled,
)
from labhosts import GPUS


@pytest.mark.parametrize("gpu", GPUS)
def test_probe_page_through_the_tunnel(gpu):
    check_probe_through_tunnel(gpu, "wg0")


@pytest.mark.parametrize("gpu", GPUS)
def test_apt_update_through_the_tunnel(gpu):
    check_apt_through_tunnel(gpu)


@pytest.mark.parametrize("gpu", GPUS)
def test_management_path_still_works(gpu):
    check_management_path(gpu)


def test_one_peer_per_node():
    check_one_wireguard_peer_per_node(GPUS)


def test_private_keys_stay_on_their_hosts():
    check_wireguard_private_keys_stay_on_their_hosts(GPUS)


def test_nat_rules_persist_in_a_unit():
    check_wireguard_units_enabled()


def test_the_nat_unit_puts_the_rules_back():
    check_nat_unit_restores_egress(GPUS[0], "wg0")
