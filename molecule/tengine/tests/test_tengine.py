"""tengine on the lab: the proxy answers from the controller, carries WebSockets and forwarded
headers, the port is open only to the controller (and persisted), the build happens only when
it must, and bad input never reaches the live binary or configuration.

The tests that rerun the converge (flag change, bad input) come last and leave the converged
state as they found it.
"""
import base64
import http.client
import json
import re
import socket

import pytest
from labhosts import GPUS, INTERNET_IP, JUMP_IP, JUMP_PRIVATE_IP, LOG, PROBE_TOKEN, RUNNER, ansible_playbook, host

GPU = GPUS[0]
GPU_IP = RUNNER.get_variables(GPU)["ansible_host"]
TOKEN = "backend-" + PROBE_TOKEN
PORT = 8888
PREFIX = "/usr/local/nginx"
SBIN = f"{PREFIX}/sbin/nginx"
BLOCK = f"{PREFIX}/conf/hpcdl.d/reverse_proxy.conf"
CONF = f"{PREFIX}/conf/nginx.conf"
STAMP = "/usr/local/src/hpcdl-tengine/build.stamp.json"
FLAGS = ["--with-http_realip_module"]


def get(path, headers=None):
    conn = http.client.HTTPConnection(JUMP_IP, PORT, timeout=10)
    conn.request("GET", path, headers=headers or {})
    resp = conn.getresponse()
    return resp.status, resp.read().decode()


def mtime(path):
    return host("jump").file(path).mtime


def built_fact(output):
    """Whether the run compiled: the Compile task ran (its header prints even when skipped)."""
    return re.search(r"TASK \[hpcdl\.gpu\.tengine : Compile\] \**\n(changed|ok|fatal): ", output) is not None


def test_the_page_answers_through_the_proxy_from_the_controller():
    status, body = get("/")
    assert status == 200, body
    assert TOKEN in body


def test_websocket_and_forwarded_headers_reach_the_backend():
    status, body = get("/headers", {"Upgrade": "websocket", "Connection": "Upgrade"})
    assert status == 200, body
    seen = json.loads(body)
    assert seen.get("upgrade") == "websocket", seen
    assert seen.get("connection", "").lower() == "upgrade", seen
    gateway = host("jump").check_output("ip -4 route show default").split()[2]
    assert seen.get("x-forwarded-for") == gateway, seen
    assert seen.get("x-forwarded-proto") == "http", seen
    assert seen.get("host") == f"{JUMP_IP}:{PORT}", seen


def test_the_gpu_node_is_not_reachable_from_the_controller_directly():
    with pytest.raises(OSError):
        socket.create_connection((GPU_IP, 80), timeout=3).close()


def test_the_port_is_open_only_to_the_allowed_source_and_persisted():
    jump = host("jump")
    gateway = jump.check_output("ip -4 route show default").split()[2]
    rules = [r for r in jump.check_output("iptables -S INPUT").splitlines() if "hpcdl-tengine" in r]
    assert rules[0] == (f"-A INPUT -s {gateway}/32 -p tcp -m tcp --dport {PORT} "
                        "-m comment --comment hpcdl-tengine -j ACCEPT"), rules
    assert rules[1] == f"-A INPUT -p tcp -m tcp --dport {PORT} -m comment --comment hpcdl-tengine -j DROP", rules
    assert len(rules) == 2, rules
    all_input = jump.check_output("iptables -S INPUT").splitlines()
    assert all_input[1:3] == rules, "the proxy's rules are not at the top of INPUT"
    assert jump.service("hpcdl-tengine-firewall.service").is_enabled
    script = jump.file("/usr/local/sbin/hpcdl-tengine-firewall").content_string
    assert f"-s {gateway}/32 -p tcp --dport {PORT}" in script
    # Another source (the GPU node, on jump's private network) is dropped.
    blocked = host(GPU).run(f"curl --noproxy '*' -sS -m 3 http://{JUMP_PRIVATE_IP}:{PORT}/")
    assert blocked.rc != 0 and TOKEN not in blocked.stdout


def test_the_service_runs_and_is_enabled():
    jump = host("jump")
    service = jump.service("tengine")
    assert service.is_running and service.is_enabled
    assert jump.socket(f"tcp://0.0.0.0:{PORT}").is_listening


def test_nginx_v_shows_the_version_and_the_configured_flags():
    out = host("jump").run(f"{SBIN} -V").stderr
    assert "nginx version: nginx/1.22.1" in out
    assert f"--prefix={PREFIX}" in out
    for flag in FLAGS:
        assert flag in out


def test_the_stamp_holds_version_flags_and_checksum():
    stamp = json.loads(host("jump").file(STAMP).content_string)
    recorded = host("jump").check_output("cat /usr/local/src/hpcdl-tengine/downloads/*-nginx_1.22.1.orig.tar.gz.sha256")
    assert stamp["version"] == "1.22.1"
    assert stamp["flags"] == [f"--prefix={PREFIX}", *FLAGS]
    assert recorded.split()[0] == stamp["sha256"]


def test_tools_are_installed():
    jump = host("jump")
    assert jump.exists("tmux") and jump.exists("htop")


def test_a_rerun_does_not_rebuild():
    before = mtime(SBIN), host("jump").file(STAMP).content_string
    rc, output = ansible_playbook()
    assert rc == 0, output[-4000:]
    assert not built_fact(output), "the rerun compiled again"
    assert (mtime(SBIN), host("jump").file(STAMP).content_string) == before


def task_result(output, name):
    """The status (ok, changed, skipping, fatal) a tengine task printed, or None if it did not run."""
    found = re.search(rf"TASK \[hpcdl\.gpu\.{re.escape(name)}\] \**\n(changed|ok|skipping|fatal): ", output)
    return found.group(1) if found else None


def tagged_input_rules(jump):
    return [r for r in jump.check_output("iptables -S INPUT").splitlines() if "--comment hpcdl-tengine " in r]


def test_a_rerun_puts_back_exactly_the_firewall_rules_after_a_manual_change():
    """A rule deleted by hand and a stray one with the tag: the rerun sees it (iptables -C and the
    tag count) and restarts the unit, which applies exactly the set again."""
    jump = host("jump")
    wanted = tagged_input_rules(jump)
    jump.check_output(f"iptables -w -D INPUT -p tcp -m tcp --dport {PORT} -m comment --comment hpcdl-tengine -j DROP")
    jump.check_output(f"iptables -w -A INPUT -s 198.51.100.9/32 -p tcp --dport {PORT} "
                      "-m comment --comment hpcdl-tengine -j ACCEPT")
    rc, output = ansible_playbook()
    assert rc == 0, output[-4000:]
    applied = task_result(output, "iptables_rules : Apply the rules now "
                                  "(the script or the unit changed, or the live rules differ)")
    assert applied == "changed", output[-4000:]
    assert tagged_input_rules(jump) == wanted
    assert jump.check_output("iptables -S INPUT").splitlines()[1:3] == wanted


def test_basic_auth_lets_only_the_users_in_and_a_rerun_keeps_the_password_file(tmp_path):
    jump = host("jump")
    password = "S3cret-" + PROBE_TOKEN[:12]
    # In a file, so that the password is not on the command line (which the scenario's log shows).
    users_file = tmp_path / "users.json"
    users_file.write_text(json.dumps({"tengine_basic_auth_users": [{"name": "alice", "password": password}]}))
    users = ("-e", f"@{users_file}")
    htpasswd = f"{PREFIX}/conf/hpcdl.htpasswd"
    try:
        rc, output = ansible_playbook(*users)
        assert rc == 0, output[-4000:]
        assert password not in output, "the password was printed"
        assert get("/")[0] == 401
        token = base64.b64encode(f"alice:{password}".encode()).decode()
        status, body = get("/", {"Authorization": f"Basic {token}"})
        assert status == 200 and TOKEN in body
        wrong = base64.b64encode(b"alice:not-the-password").decode()
        assert get("/", {"Authorization": f"Basic {wrong}"})[0] == 401
        line = jump.file(htpasswd).content_string
        assert line.startswith("alice:{SSHA}") and password not in line
        before = line, mtime(htpasswd)
        # Every task again (a converged role would skip them all): the password file's own task keeps it.
        rc, output = ansible_playbook(*users, "-e", "tengine_converged_skip=false")
        assert rc == 0, output[-4000:]
        assert task_result(output, "tengine : Write the basic-auth password file") == "ok", output[-4000:]
        assert (jump.file(htpasswd).content_string, mtime(htpasswd)) == before
    finally:
        rc, output = ansible_playbook()
        assert rc == 0, output[-4000:]
    assert not jump.file(htpasswd).exists
    assert password not in LOG.read_text(errors="replace"), f"the password is in {LOG}"
    status, body = get("/")
    assert status == 200 and TOKEN in body


def test_a_flag_change_rebuilds_once_then_not_again():
    original = mtime(SBIN)
    changed = FLAGS + ["--with-http_stub_status_module"]
    try:
        rc, output = ansible_playbook(extra={"tengine_configure_flags": changed})
        assert rc == 0, output[-4000:]
        assert built_fact(output), "the flag change did not rebuild"
        rebuilt = mtime(SBIN)
        assert rebuilt > original
        assert "--with-http_stub_status_module" in host("jump").run(f"{SBIN} -V").stderr
        time_line = re.search(r"Built in [0-9.]+ s \([^)]*\)", output)
        print(time_line.group(0) if time_line else "no build time reported")
        rc, output = ansible_playbook(extra={"tengine_configure_flags": changed})
        assert rc == 0, output[-4000:]
        assert not built_fact(output), "the second run with the same flags compiled again"
        assert mtime(SBIN) == rebuilt
    finally:
        rc, output = ansible_playbook()
        assert rc == 0, output[-4000:]
    assert "--with-http_stub_status_module" not in host("jump").run(f"{SBIN} -V").stderr
    status, body = get("/")
    assert status == 200 and TOKEN in body


def test_a_tarball_with_the_wrong_checksum_is_refused_and_nothing_changes():
    jump = host("jump")
    before = mtime(SBIN), jump.file(CONF).content_string, jump.file(BLOCK).content_string
    rc, output = ansible_playbook(extra={"tengine_source_url": f"http://{INTERNET_IP}/tengine/nginx-corrupt.tar.gz",
                                         "tengine_extra_location_config": "add_header X-Never-Live 1;"})
    assert rc != 0
    message = re.search(r"The source tarball from \S+ has sha256 [0-9a-f]{64},\s+not [0-9a-f]{64}[^\"]*", output)
    assert message, output[-4000:]
    print(message.group(0))
    assert not built_fact(output)
    assert (mtime(SBIN), jump.file(CONF).content_string, jump.file(BLOCK).content_string) == before
    assert jump.run("ls /usr/local/src/hpcdl-tengine/downloads/ | grep -c corrupt").stdout.strip() == "0"
    assert TOKEN in get("/")[1]


def test_an_invalid_server_block_never_reaches_the_live_config():
    jump = host("jump")
    before = jump.file(BLOCK).content_string
    rc, output = ansible_playbook(extra={"tengine_extra_location_config": "proxy_bogus_directive on;"})
    assert rc != 0
    # nginx -t's own complaint (quotes escaped in the JSON result format).
    complaint = re.search(r'nginx: \[emerg\] unknown directive \\?"proxy_bogus_directive\\?" in [^"\\]+', output)
    assert complaint, output[-4000:]
    print(complaint.group(0))
    assert jump.file(BLOCK).content_string == before
    assert "proxy_bogus_directive" not in jump.run(f"cat {PREFIX}/conf/hpcdl.d/*").stdout
    assert jump.service("tengine").is_running
    status, body = get("/")
    assert status == 200 and TOKEN in body
