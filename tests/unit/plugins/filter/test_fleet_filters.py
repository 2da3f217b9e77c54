"""The notebook_routes filter: one route per gpu node, from what the jupyter role published or from
the inventory as the role defaults it."""
import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.hpcdl.gpu.plugins.filter.fleet import FilterModule, notebook_routes

PUBLISHED = {"container": "hpcdl-jupyter", "image": "hpcdl-lab/jupyter:1", "address": "10.0.0.21", "port": 80,
             "base_url": "/gpu1/", "gpus": "", "notebook_dir": "/srv/jupyter/notebooks"}


def test_a_node_the_jupyter_role_ran_on_is_routed_where_it_published():
    hostvars = {"gpu1": {"ansible_host": "10.9.9.9", "jupyter_published": PUBLISHED}}
    assert notebook_routes(["gpu1"], hostvars) == [{"name": "gpu1", "path": "/gpu1/", "host": "10.0.0.21", "port": 80}]


def test_a_node_without_the_fact_is_routed_as_the_role_defaults_it():
    hostvars = {"gpu2": {"ansible_host": "10.0.0.22"}, "gpu3": {}}
    assert notebook_routes(["gpu2", "gpu3"], hostvars) == [
        {"name": "gpu2", "path": "/gpu2/", "host": "10.0.0.22", "port": 80},
        {"name": "gpu3", "path": "/gpu3/", "host": "gpu3", "port": 80},
    ]


def test_the_inventory_variables_are_read_and_the_path_normalised():
    hostvars = {"node-a.example": {"ansible_host": "10.0.0.30", "jupyter_bind_address": "10.1.0.30",
                                   "jupyter_host_port": "8080", "jupyter_base_url": "lab/a"}}
    assert notebook_routes(["node-a.example"], hostvars) == [
        {"name": "node-a.example", "path": "/lab/a/", "host": "10.1.0.30", "port": 8080}]


def test_every_address_publishes_at_ansible_host_and_loopback_gets_no_route():
    hostvars = {"gpu1": {"ansible_host": "10.0.0.21", "jupyter_published": dict(PUBLISHED, address="0.0.0.0")},
                "gpu2": {"ansible_host": "10.0.0.22", "jupyter_published": dict(PUBLISHED, address="127.0.0.1")}}
    assert notebook_routes(["gpu1", "gpu2"], hostvars) == [
        {"name": "gpu1", "path": "/gpu1/", "host": "10.0.0.21", "port": 80}]


def test_a_node_reached_at_a_loopback_address_is_routed_there():
    """Published on every address (or by default) and reached by the controller at 127.0.0.1 (a node on
    this machine): the route goes there; only a notebook published on loopback itself gets none."""
    hostvars = {"gpu1": {"ansible_host": "127.0.0.1"},
                "gpu2": {"ansible_host": "10.0.0.22", "jupyter_bind_address": "127.0.0.1"}}
    assert notebook_routes(["gpu1", "gpu2"], hostvars) == [
        {"name": "gpu1", "path": "/gpu1/", "host": "127.0.0.1", "port": 80}]


def test_the_order_of_the_group_is_kept():
    hostvars = {name: {"ansible_host": f"10.0.0.{i}"} for i, name in enumerate(["gpu3", "gpu1", "gpu2"], 1)}
    assert [r["name"] for r in notebook_routes(["gpu3", "gpu1", "gpu2"], hostvars)] == ["gpu3", "gpu1", "gpu2"]


def test_a_root_base_url_stays_the_root():
    hostvars = {"gpu1": {"ansible_host": "10.0.0.21", "jupyter_published": dict(PUBLISHED, base_url="/")}}
    assert notebook_routes(["gpu1"], hostvars)[0]["path"] == "/"


@pytest.mark.parametrize(("hosts", "hostvars", "message"), [
    ("gpu1", {}, "give a list of inventory names"),
    (["gpu9"], {}, "gpu9 is not in hostvars"),
    (["gpu1"], {"gpu1": {"jupyter_host_port": "eighty"}}, "not a port number"),
])
def test_bad_input_is_refused(hosts, hostvars, message):
    with pytest.raises(AnsibleFilterError, match=message):
        notebook_routes(hosts, hostvars)


def test_the_filter_is_registered():
    assert FilterModule().filters()["notebook_routes"] is notebook_routes
