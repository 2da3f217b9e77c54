"""The jump host's cache, judged where it matters: what crossed to upstream (the lab's own counters:
bytes the internet host served, bytes the jump host exchanged with the world outside the lab), what
answers where, and a wiped node back with one command.

The tests run in this order: the cold run went through the cache; no cache port answers from the
public network; proxy_unset after the cache keeps it; gpu1 wiped and re-provisioned from the warm
cache (under 1 MB from upstream, Jupyter back through Tengine with the same token); then the faults
(a corrupt cached file, the cache down, its disk full, a node pointed at a cache that is not there),
each undone before the next. Figures go to the scenario's log (artifacts/molecule/reprovision.log).
"""
import json
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from labhosts import (
    GPUS,
    INTERNET_IP,
    JUMP_IP,
    JUMP_PRIVATE_IP,
    LAB_VARS,
    LOG,
    PROJECT,
    RUNNER,
    ansible_json,
    ansible_module,
    ansible_playbook,
    host,
)

GPU = GPUS[0]
GPU_IP = RUNNER.get_variables(GPU)["ansible_host"]
LAB_STATE = Path(LAB_VARS["ansible_control_path_dir"]).parent
LAB = LAB_STATE.name
CACHE = f"http://{JUMP_PRIVATE_IP}:3142"
CACHE_PORTS = (3142, 5000)  # apt-cacher-ng, the lab registry's pull-through cache
ARCHIVE = f"http://{INTERNET_IP}/images/busybox.tar"
CACHED_ARCHIVE = f"/var/cache/apt-cacher-ng/{INTERNET_IP}/images/busybox.tar"
IMAGE = f"{INTERNET_IP}:5000/hpcdl-lab/jupyter:1"
PLAYBOOKS = PROJECT / "playbooks"
MB = 1_000_000


def say(text):
    """A figure for the log (and pytest's output with -s)."""
    print(text)
    with LOG.open("a") as log:
        log.write(f"\n===== reprovision: {text}\n")


def upstream():
    proc = subprocess.run([sys.executable, str(PROJECT / "lab" / "lab.py"), "upstream", "--name", LAB],
                          capture_output=True, text=True, check=True)
    return json.loads(proc.stdout)


def delta(after, before):
    return {key: after[key] - before[key] for key in after}


def archive_sha256():
    with urllib.request.urlopen(f"{ARCHIVE}.sha256", timeout=10) as answer:  # noqa: S310 (a lab host)
        return answer.read().decode().split()[0]


def token():
    """gpu1's notebook token, as the flow generated it (.lab/<lab>/jupyter_tokens/<node>)."""
    return (LAB_STATE / "jupyter_tokens" / GPU).read_text().split()[0]


def status(url):
    try:
        with urllib.request.urlopen(url, timeout=15) as answer:  # noqa: S310 (the lab's jump host)
            return answer.status
    except urllib.error.HTTPError as exc:
        return exc.code


def fetch(extra=""):
    """hpcdl.gpu.cache_fetch on the node, as a role runs it: (rc, result)."""
    dest = f"/var/tmp/hpcdl-fault-{time.monotonic_ns()}.tar"
    rc, results = ansible_module(GPU, "hpcdl.gpu.cache_fetch",
                                 f"url={ARCHIVE} dest={dest} sha256={archive_sha256()} cache={CACHE} {extra}")
    host(GPU).run(f"rm -f {dest}")
    return rc, results[GPU]


def test_the_cold_run_went_through_the_cache():
    before = json.loads((LAB_STATE / "upstream-prepare.json").read_text())
    after = json.loads((LAB_STATE / "upstream-converge.json").read_text())
    cold = delta(after, before)
    say(f"cold run (site.yml, empty cache), bytes from upstream: {json.dumps(cold)}")
    jump, gpu = host("jump"), host(GPU)
    # The plain download and Debian's packages came through apt-cacher-ng and stay there.
    assert jump.file(CACHED_ARCHIVE).exists
    assert jump.run("find /var/cache/apt-cacher-ng -name 'docker.io_*.deb' | grep -q .").rc == 0
    # The notebook image came through the pull-through registry, each layer from upstream once.
    stored = int(jump.check_output(f"du -sb '/var/lib/hpcdl-cache/registry/{INTERNET_IP}:5000' | cut -f1"))
    assert stored > 100 * MB
    assert cold["internet_registry"] < 1.1 * stored, (cold, stored)
    inspect = json.loads(gpu.check_output(f"docker image inspect {IMAGE}"))[0]
    assert any(d.startswith(f"{JUMP_PRIVATE_IP}:5000/hpcdl-lab/jupyter@sha256:") for d in inspect["RepoDigests"])
    # The node's apt asks the cache; the stale proxy went (proxy_unset ran first in site.yml).
    conf = gpu.file("/etc/apt/apt.conf.d/01hpcdl-cache").content_string
    assert 'Acquire::http::Proxy-Auto-Detect "/usr/local/libexec/hpcdl-apt-cache";' in conf
    assert gpu.check_output("/usr/local/libexec/hpcdl-apt-cache http://deb.debian.org/debian") == CACHE
    assert ":3128" not in gpu.check_output("apt-config dump Acquire")
    daemon = json.loads(gpu.file("/etc/docker/daemon.json").content_string)
    assert f"{JUMP_PRIVATE_IP}:5000" in daemon["insecure-registries"]


def can_connect(address, port):
    try:
        with socket.create_connection((address, port), timeout=3):
            return True
    except OSError:
        return False


def test_no_cache_port_answers_from_the_public_network():
    gpu, internet = host(GPU), host("internet")
    # From the private network: they answer (apt-cacher-ng's usage page, the registry's /v2/).
    assert gpu.check_output(f"curl -s -o /dev/null -w '%{{http_code}}' {CACHE}/") == "406"
    assert gpu.check_output(f"curl -s -o /dev/null -w '%{{http_code}}' http://{JUMP_PRIVATE_IP}:5000/v2/") == "200"
    # From the controller, at the jump host's public address: nothing.
    for port in CACHE_PORTS:
        assert not can_connect(JUMP_IP, port), f"{JUMP_IP}:{port} answers the controller"
    # From the public network, at the private address (the internet host given a route through jump):
    # sshd answers there (the route works), the caches do not (the firewall drops them).
    subnet = gpu.check_output(f"ip -o -4 route show scope link | awk '/ src {GPU_IP}( |$)/ {{print $1}}'")
    internet.run_expect([0], f"ip route replace {subnet} via {JUMP_IP}")
    try:
        probe = "timeout 3 bash -c 'exec 3<>/dev/tcp/{}/{}'"
        assert internet.run(probe.format(JUMP_PRIVATE_IP, 22)).rc == 0, "the route to the private address fails"
        for port in CACHE_PORTS:
            assert internet.run(probe.format(JUMP_PRIVATE_IP, port)).rc != 0, f"{JUMP_PRIVATE_IP}:{port} answers"
    finally:
        internet.run(f"ip route del {subnet} via {JUMP_IP}")
    rules = host("jump").check_output("iptables -S INPUT")
    assert f"-s {subnet} -d {JUMP_PRIVATE_IP}/32 -p tcp -m multiport --dports 3142,5000" in rules


def test_proxy_unset_after_the_cache_keeps_the_cache_and_removes_the_stale_proxy():
    gpu = host(GPU)
    stale = f'Acquire::http::Proxy "http://{JUMP_PRIVATE_IP}:3128/";'
    gpu.run_test(f"printf '%s\\n' '{stale}' > /etc/apt/apt.conf.d/96lab-stale")
    ours = {path: gpu.file(path).sha256sum for path in
            ("/etc/apt/apt.conf.d/01hpcdl-cache", "/usr/local/libexec/hpcdl-apt-cache")}
    rc, out = ansible_playbook("-l", GPU, playbook=PLAYBOOKS / "proxy_unset.yml")
    assert rc == 0, out[-3000:]
    assert stale not in gpu.file("/etc/apt/apt.conf.d/96lab-stale").content_string
    assert {path: gpu.file(path).sha256sum for path in ours} == ours
    assert "01hpcdl-cache" not in out and "hpcdl-apt-cache" not in out  # neither removed nor reported
    # And the cache's stage after it finds nothing to change.
    rc, out = ansible_playbook("-l", GPU, playbook=PLAYBOOKS / "cache.yml")
    assert rc == 0 and re.search(rf"^{GPU}\s+: ok=\d+\s+changed=0\s", out, re.M), out[-3000:]
    assert "directly, past the jump host's cache" not in out


def test_a_repository_sent_past_the_cache_is_named():
    gpu = host(GPU)
    direct = 'Acquire::http::Proxy::deb.debian.org "DIRECT";'
    gpu.run_test(f"printf '%s\\n' '{direct}' > /etc/apt/apt.conf.d/96lab-direct")
    try:
        rc, out = ansible_playbook("-l", GPU, playbook=PLAYBOOKS / "cache.yml")
    finally:
        gpu.run_test("rm -f /etc/apt/apt.conf.d/96lab-direct")
    assert rc == 0, out[-3000:]
    assert f"WARNING: apt on {GPU} fetches from deb.debian.org directly, past the jump host's cache" in out, out[-3000:]
    # The cache's own settings are left as they were.
    assert gpu.check_output("/usr/local/libexec/hpcdl-apt-cache http://deb.debian.org/debian") == CACHE


def test_a_wiped_node_comes_back_from_the_warm_cache_with_one_command():
    known_hosts = LAB_STATE / "known_hosts"
    old = subprocess.run(["ssh-keygen", "-l", "-F", GPU_IP, "-f", str(known_hosts)],
                         capture_output=True, text=True, check=True).stdout.split()[-1]
    same_token = token()
    before = upstream()
    started = time.monotonic()
    wipe = subprocess.run([sys.executable, str(PROJECT / "lab" / "lab.py"), "wipe", "--name", LAB, GPU],
                          capture_output=True, text=True, check=False)
    wiped = time.monotonic() - started
    assert wipe.returncode == 0, wipe.stderr
    keys = json.loads(wipe.stdout[wipe.stdout.index("\n{") + 1:])  # after the lab's own line
    assert keys["address"] == GPU_IP and keys["new_key"] != keys["old_key"]
    # What a re-rented node does to a user: SSH refuses it.
    rc, document = ansible_json(["ansible", GPU, "-m", "ansible.builtin.ping"])
    refused = json.dumps(document)
    assert rc != 0 and "Host key verification failed" in refused, refused[-2000:]

    started = time.monotonic()
    rc, out = ansible_playbook("-l", GPU, playbook=PLAYBOOKS / "reprovision.yml")
    took = time.monotonic() - started
    assert rc == 0, out[-4000:]
    moved = delta(upstream(), before)
    say(f"wipe {wiped:.0f} s; reprovision.yml -l {GPU} {took:.0f} s; bytes from upstream: {json.dumps(moved)}")
    assert f"replaced the host key {old} with" in out and keys["new_key"] in out
    assert keys["new_key"] in subprocess.run(["ssh-keygen", "-l", "-F", GPU_IP, "-f", str(known_hosts)],
                                             capture_output=True, text=True, check=True).stdout
    assert moved["total"] < MB, moved
    # Jupyter answers through Tengine again, under the node's own path, with the same token, and asks for it.
    url = f"http://{JUMP_IP}:8888/{GPU}/api/status"
    assert token() == same_token
    assert status(f"{url}?token={same_token}") == 200
    assert status(url) == 403
    # And the run's own summary says so, though no jump host was in it.
    flat = " ".join(out.split())
    assert re.search(rf"{GPU}: Jupyter \S+ answers at http://{re.escape(JUMP_IP)}:8888/{GPU}/ "
                     r"\(through the jump host's Tengine\)", flat), out[-4000:]


def test_a_corrupt_cached_file_is_named_evicted_and_replaced():
    jump = host("jump")
    good = archive_sha256()
    jump.run_test(f"printf '\\377' | dd of={CACHED_ARCHIVE} bs=1 seek=4096 conv=notrunc status=none")
    assert jump.file(CACHED_ARCHIVE).sha256sum != good
    rc, result = fetch()
    assert rc == 0 and result["source"] == "cache_refreshed", result
    (warning,) = result["warnings"]
    assert ARCHIVE in warning and CACHE in warning and "corrupt" in warning
    assert jump.file(CACHED_ARCHIVE).sha256sum == good  # evicted and replaced, in the same run
    rc, result = fetch()
    assert rc == 0 and result["source"] == "cache" and not result.get("warnings"), result


@pytest.fixture
def cache_down():
    jump = host("jump")
    jump.run_test("systemctl stop apt-cacher-ng")
    yield
    jump.run_test("systemctl start apt-cacher-ng")


@pytest.mark.usefixtures("cache_down")
def test_the_cache_down_falls_back_to_upstream_or_fails_naming_it():
    rc, result = fetch("fallback=upstream")
    assert rc == 0 and result["source"] == "upstream", result
    assert f"The cache {CACHE} could not deliver {ARCHIVE}" in result["warnings"][0]
    rc, result = fetch("fallback=fail")
    assert rc != 0 and result["msg"].startswith(f"The cache {CACHE} could not deliver {ARCHIVE}: "), result
    # apt goes direct while the cache is down (its proxy script says DIRECT)...
    gpu = host(GPU)
    assert gpu.check_output("/usr/local/libexec/hpcdl-apt-cache http://deb.debian.org/debian 2>/dev/null") == "DIRECT"
    # ... and with hpcdl_cache_fallback: fail the cache's stage stops, naming the cache.
    rc, out = ansible_playbook("-l", GPU, "-e", "hpcdl_cache_fallback=fail", playbook=PLAYBOOKS / "cache.yml")
    assert rc != 0 and f"The jump host's cache at {CACHE} (hpcdl_cache_host) does not answer from {GPU}" in out


@pytest.fixture
def cache_disk_full():
    jump = host("jump")
    jump.run_test("mount -t tmpfs -o size=256k hpcdl-full /var/cache/apt-cacher-ng && "
                  "chown apt-cacher-ng: /var/cache/apt-cacher-ng && systemctl restart apt-cacher-ng")
    yield
    jump.run_test("umount /var/cache/apt-cacher-ng && systemctl restart apt-cacher-ng")


@pytest.mark.usefixtures("cache_disk_full")
def test_a_full_cache_disk_is_said_and_the_node_falls_back():
    rc, result = fetch("fallback=upstream")
    assert rc == 0 and result["source"] == "upstream", result
    # apt-cacher-ng with a full disk either cuts the transfer short or answers 500 "Cache Error" (both seen
    # in the lab): either way the node falls back, and the warning names the cache and where to look.
    (warning,) = result["warnings"]
    assert "the transfer stopped after" in warning or "HTTP Error 500" in warning, warning
    assert CACHE in warning and "df -h /var/cache/apt-cacher-ng" in warning, warning
    rc, out = ansible_playbook("-l", "jump", "--tags", "verify", playbook=PLAYBOOKS / "cache.yml")
    assert rc == 0, out[-3000:]
    assert "the cache's disk on jump is full: /var/cache/apt-cacher-ng has 0 MB free" in out, out[-3000:]


def test_a_node_pointed_at_a_cache_that_is_not_there():
    dead = f"http://{INTERNET_IP}:3142"  # a lab host where nothing listens on 3142
    rc, out = ansible_playbook("-l", GPU, "-e", f"hpcdl_cache_host={INTERNET_IP}", "-e", "hpcdl_cache_fallback=fail",
                               playbook=PLAYBOOKS / "cache.yml")
    assert rc != 0 and f"The jump host's cache at {dead} (hpcdl_cache_host) does not answer from {GPU}" in out
    rc, out = ansible_playbook("-l", GPU, "--check", "-e", f"hpcdl_cache_host={INTERNET_IP}",
                               playbook=PLAYBOOKS / "cache.yml")
    assert rc == 0 and f"WARNING: the jump host's cache at {dead} does not answer from {GPU}" in out, out[-3000:]
    assert INTERNET_IP not in host(GPU).file("/etc/apt/apt.conf.d/01hpcdl-cache").content_string  # nothing written
