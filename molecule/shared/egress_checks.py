"""What both egress scenarios verify on the lab (imported by each scenario's test file; it lives in
molecule/shared/, which molecule/conftest.py puts on sys.path).

After converge: the gpu node fetches the probe page through the tunnel (the route to the internet
host goes through the tunnel's interface), apt works through it (names resolve through the lab's
DNS on the internet host, reachable only through the tunnel), and the SSH management path from
jump's private address still works. The fault test (last) stops jump's end of the tunnel, runs
the scenario's converge and expects hpc_vpn to fail naming the jump endpoint, then starts it and
expects a rerun to converge.
"""
import re
import tempfile

from labhosts import INTERNET_IP, JUMP_PRIVATE_IP, LOG, PROBE_TOKEN, PROBE_URL, ansible_module, host


def journal(name, unit):
    return host(name).run(f"journalctl -u {unit} -n 30 --no-pager").stdout


def check_probe_through_tunnel(gpu, tunnel_pattern):
    node = host(gpu)
    route = node.check_output(f"ip -4 -o route get {INTERNET_IP}")
    assert re.search(rf"\bdev {tunnel_pattern}\b", route), f"route to the internet host: {route}"
    result = node.run(f"curl --noproxy '*' -sS -m 10 {PROBE_URL}")
    assert result.rc == 0, result.stderr
    assert PROBE_TOKEN in result.stdout


def check_apt_through_tunnel(gpu):
    result = host(gpu).run("timeout 240 apt-get update -q")
    assert result.rc == 0, result.stdout + result.stderr
    problems = [line for line in (result.stdout + result.stderr).splitlines()
                if line.startswith(("Err:", "W:", "E:"))]
    assert not problems, "\n".join(problems)


def check_management_path(gpu):
    """A new SSH session (own control path, no reused master) still comes from jump's private address."""
    with tempfile.TemporaryDirectory() as cp_dir:
        rc, results = ansible_module(gpu, "ansible.builtin.command", "printenv SSH_CONNECTION",
                                     extra=("-e", f"ansible_control_path_dir={cp_dir}"))
        assert rc == 0, results
        assert results[gpu]["stdout"].split()[0] == JUMP_PRIVATE_IP
    route = host(gpu).check_output(f"ip -4 -o route get {JUMP_PRIVATE_IP}")
    assert " dev eth0 " in route, route


def check_nat_unit_restores_egress(gpu, tunnel_pattern):
    """The NAT rule gone (as after a reboot, or a firewall reload): no egress; the hpcdl-vpn-nat unit
    (what runs at boot) started again: egress back, and exactly the role's rules tagged hpcdl-vpn."""
    jump = host("jump")
    tagged = "iptables -S; iptables -t nat -S"
    before = sorted(line for line in jump.check_output(tagged).splitlines() if "--comment hpcdl-vpn " in line)
    masquerade = [line for line in before if line.startswith("-A POSTROUTING ")]
    assert len(masquerade) == 1 and len(before) == 3, before
    jump.check_output("iptables -w -t nat " + masquerade[0].replace("-A ", "-D ", 1))
    try:
        cut = host(gpu).run(f"curl --noproxy '*' -sS -m 5 {PROBE_URL}")
        assert cut.rc != 0 and PROBE_TOKEN not in cut.stdout, \
            "egress works without the NAT rule: the test proves nothing"
    finally:
        jump.check_output("systemctl restart hpcdl-vpn-nat.service")
    after = sorted(line for line in jump.check_output(tagged).splitlines() if "--comment hpcdl-vpn " in line)
    assert after == before, journal("jump", "hpcdl-vpn-nat.service")
    check_probe_through_tunnel(gpu, tunnel_pattern)


def check_one_wireguard_peer_per_node(gpus):
    """jump's wg0 has exactly one peer per gpu node, its key, one /32 each."""
    jump = host("jump")
    peers = dict(line.split("\t") for line in jump.check_output("wg show wg0 allowed-ips").splitlines())
    node_keys = {gpu: host(gpu).check_output("wg show wg0 public-key").strip() for gpu in gpus}
    assert set(peers) == set(node_keys.values()), f"jump's peers {peers}, the nodes' keys {node_keys}"
    addresses = [peers[key] for key in node_keys.values()]
    assert len(set(addresses)) == len(gpus), f"two nodes share a tunnel address: {addresses}"
    assert all(a.endswith("/32") for a in addresses), addresses


def check_wireguard_private_keys_stay_on_their_hosts(gpus):
    """Each host's key in a 0600 file of its own, not in wg0.conf, and in nothing Ansible printed."""
    keys = {}
    for name in ["jump", *gpus]:
        node = host(name)
        key_file = node.file("/etc/wireguard/wg0.key")
        assert key_file.mode == 0o600, f"{name}: /etc/wireguard/wg0.key has mode {key_file.mode:o}"
        assert "PrivateKey" not in node.file("/etc/wireguard/wg0.conf").content_string, name
        keys[name] = node.check_output("cat /etc/wireguard/wg0.key").strip()
    check_secret_not_logged(keys, "the WireGuard private key")


def check_wireguard_units_enabled():
    """What a reboot of jump needs: the tunnel and the NAT unit enabled, forwarding on."""
    jump = host("jump")
    assert jump.service("hpcdl-vpn-nat.service").is_enabled
    assert jump.service("wg-quick@wg0").is_enabled
    assert jump.check_output("sysctl -n net.ipv4.ip_forward").strip() == "1"


def check_secret_not_logged(secrets, what):
    """No private key (or other secret) in anything Ansible printed for this scenario."""
    # tests/test_molecule.py writes every step's output there before verify runs: without it
    # there is nothing to search, and that must not pass as "nothing leaked".
    assert LOG.is_file(), f"{LOG} does not exist: run the scenario through tests/test_molecule.py"
    text = LOG.read_text(errors="replace")
    assert "PLAY RECAP" in text, f"{LOG} holds no playbook output to search"
    leaked = [name for name, secret in secrets.items() if secret and secret in text]
    assert not leaked, f"{what} of {', '.join(leaked)} found in {LOG}"
