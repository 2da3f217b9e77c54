"""proxy_unset removed the planted stale proxy, and only it: every other line, backups, sessions."""
import json
import re
import subprocess
from pathlib import Path

import pytest
from labhosts import GPUS, INTERNET_IP, JUMP_PRIVATE_IP, RUNNER, host

PROXY_NAMES = {"http_proxy", "https_proxy", "ftp_proxy", "all_proxy",
               "HTTP_PROXY", "HTTPS_PROXY", "FTP_PROXY", "ALL_PROXY"}
MARKER = "hpcdl lab: planted stale proxy"


def plant(name):
    return json.loads(host(name).file("/var/lib/hpcdl-lab/stale-proxy-plant.json").content_string)


def proxies_in(env_text):
    return sorted(line for line in env_text.splitlines() if line.split("=", 1)[0] in PROXY_NAMES)


def planted_files():
    """(gpu, planted file) pairs, read from the plant's own record on each node."""
    return [(gpu, item) for gpu in GPUS for item in plant(gpu)["files"]]


@pytest.mark.parametrize(("gpu", "planted"), planted_files(), ids=lambda v: v["path"] if isinstance(v, dict) else v)
def test_only_the_proxy_lines_are_gone(gpu, planted):
    node = host(gpu)
    path = planted["path"]
    current = node.file(path).content_string
    kinds = {line[0] for line in planted["lines"]}
    for kind, text, *after in planted["lines"]:
        if kind in ("keep", "stays"):
            assert text + "\n" in current, f"{path}: {text!r} should have stayed"
        elif kind == "proxy":
            assert text not in current, f"{path}: {text!r} should be gone"
        else:
            assert after[0] + "\n" in current and text not in current
    backups = node.check_output(f"ls -1 {path}.*~ 2>/dev/null || true").split()
    if kinds <= {"keep", "stays"}:
        assert backups == [], f"{path} was not to be edited, yet has backups {backups}"
        return
    # One backup (the planted file, from the first converge; idempotence and check add none),
    # and the file is that backup minus exactly the proxy lines: every other byte is the same.
    assert len(backups) == 1, f"{path}: expected one backup, found {backups}"
    assert backups[0].startswith(path + ".") and backups[0].endswith("~")
    before = node.file(backups[0]).content_string
    assert MARKER in before
    expected = before
    for kind, text, *after in planted["lines"]:
        if kind == "proxy":
            assert expected.count(text + "\n") == 1
            expected = expected.replace(text + "\n", "", 1)
        elif kind == "edit":
            expected = expected.replace(text + "\n", after[0] + "\n", 1)
    assert current == expected
    mode = node.file(path)
    assert (mode.user, mode.mode) == (planted.get("owner", "root"), 0o644)


@pytest.mark.parametrize("gpu", GPUS)
def test_only_matching_left_the_working_proxy(gpu):
    node = host(gpu)
    content = node.file("/etc/hpcdl-lab/only-matching.sh").content_string
    assert f"export http_proxy=http://{JUMP_PRIVATE_IP}:3128/" not in content
    assert f"export https_proxy=http://{INTERNET_IP}:3129/\n" in content
    assert "export LAB_KEEP_ONLY_MATCHING=kept\n" in content


@pytest.mark.parametrize("gpu", GPUS)
def test_login_shells_have_no_proxy(gpu):
    node = host(gpu)
    for shell in ("bash -lc env", "bash -lic env", "su - hpcdl-lab-user -c env"):
        out = node.check_output(f"env -i HOME=/root PATH=/usr/bin:/bin {shell} 2>/dev/null")
        assert proxies_in(out) == [], f"{shell}: {proxies_in(out)}"
        assert "LAB_KEEP_PROFILE=kept" in out  # the files around the proxy still load


@pytest.mark.parametrize("gpu", GPUS)
def test_a_fresh_ssh_session_has_no_proxy(gpu):
    """A new SSH connection (no ControlPersist master): pam_env reads /etc/environment afresh."""
    lab_dir = Path(RUNNER.get_variables(gpu)["ansible_ssh_private_key_file"]).parent
    proc = subprocess.run(
        ["ssh", "-F", str(lab_dir / "ssh_config"), "-o", "ControlMaster=no", "-o", "ControlPath=none",
         "-o", "BatchMode=yes", gpu, "env"],
        capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proxies_in(proc.stdout) == []
    assert "LAB_KEEP_ENVIRONMENT=kept" in proc.stdout


@pytest.mark.parametrize("gpu", GPUS)
def test_the_fetch_no_longer_goes_to_the_proxy(gpu):
    """The node has no egress yet (that is the VPN's job): the fetch now fails on the route, not the proxy."""
    node = host(gpu)
    url = RUNNER.get_variables(gpu)["hpcdl_lab_probe_url"]
    result = node.run(f"env -i HOME=/root PATH=/usr/bin:/bin bash -lc 'curl -sS -m 5 {url}'")
    assert "3128" not in result.stderr


@pytest.mark.parametrize("gpu", GPUS)
def test_apt_has_no_proxy(gpu):
    dump = host(gpu).check_output("apt-config dump Acquire").splitlines()
    # A child key (the DIRECT exception) makes apt print its parent with an empty value.
    proxies = [line for line in dump if re.match(r'^Acquire::\w+::Proxy "(?!"|DIRECT")', line)]
    assert proxies == []
    assert 'Acquire::http::Proxy::deb.debian.org "DIRECT";' in dump
    assert 'Acquire::Retries "3";' in dump


@pytest.mark.parametrize("gpu", GPUS)
def test_docker_dropin_keeps_its_other_variable(gpu):
    """docker is not installed in the lab, so systemd does not load the drop-in: read it."""
    content = host(gpu).file("/etc/systemd/system/docker.service.d/http-proxy.conf").content_string
    env = [line for line in content.splitlines() if line.startswith("Environment=")]
    assert env == ['Environment="DOCKER_LAB_KEEP=kept"', 'Environment="NO_PROXY=localhost,127.0.0.1"']
