"""The site lab's egress is WireGuard (inventories/lab/group_vars): the shared WireGuard tests on both
gpu nodes, after site.yml and before test_site_grow.py changes the fleet. Sharing this lab is what
lets the egress_wireguard scenario (the same tests after egress.yml alone, and the endpoint fault)
run in `make test-all` only."""
from wireguard_tests import (
    test_apt_update_through_the_tunnel,
    test_management_path_still_works,
    test_nat_rules_persist_in_a_unit,
    test_one_peer_per_node,
    test_private_keys_stay_on_their_hosts,
    test_probe_page_through_the_tunnel,
    test_the_nat_unit_puts_the_rules_back,
)

# Imported so that pytest collects them here (and named here, so that linters count them used).
__all__ = [
    "test_apt_update_through_the_tunnel",
    "test_management_path_still_works",
    "test_nat_rules_persist_in_a_unit",
    "test_one_peer_per_node",
    "test_private_keys_stay_on_their_hosts",
    "test_probe_page_through_the_tunnel",
    "test_the_nat_unit_puts_the_rules_back",
]
