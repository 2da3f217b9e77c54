"""The proxy removal logic (plugins/module_utils/proxy_unset.py) on its own: what goes, line by
line, for each kind of file; which files are read; and run() with a recording host."""
import pwd
import shutil
import subprocess
from collections import namedtuple

import pytest
from ansible_collections.hpcdl.gpu.plugins.module_utils import proxy_unset as pu

NAMES = ["http_proxy", "https_proxy", "ftp_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "FTP_PROXY", "ALL_PROXY"]
# A dead proxy like the seed's, on a loopback address (nothing is ever sent to it).
DEAD = "http://127.0.0.9:3128/"
WORKING = "http://proxy.corp.example:8080/"
ONLY_DEAD = r"^http://127\.0\.0\.9:3128/?$"


def scrub(kind, text, only=""):
    new, removed, kept = pu.Scrubber(NAMES, only).scrub(kind, text.splitlines(True))
    return "".join(new), removed, kept


# ---- shell -------------------------------------------------------------------------------------

@pytest.mark.parametrize("line", [
    f"http_proxy={DEAD}",
    f'https_proxy="{DEAD}"',
    f"export HTTPS_PROXY='{DEAD}'",
    f"  export http_proxy={DEAD} # set by the image",
    f"declare -x https_proxy={DEAD}",
    f"export ftp_proxy={DEAD};",
    "export all_proxy=",
])
def test_shell_assignments_go(line):
    text = f"# head\n{line}\nexport LAB_KEEP=kept\n"
    new, removed, kept = scrub("shell", text)
    assert new == "# head\nexport LAB_KEEP=kept\n"
    assert removed == [line] and kept == []


@pytest.mark.parametrize("line", [
    "export http_proxy",                     # no value: sets nothing once the assignment is gone
    "no_proxy=localhost,127.0.0.1",          # not in the names
    f"# export http_proxy={DEAD}",           # a comment
    f"my_http_proxy={DEAD}",                 # another variable that ends like one
    f"Http_Proxy={DEAD}",                    # names are case-sensitive in shell files
])
def test_shell_lines_that_stay_silently(line):
    text = line + "\n"
    assert scrub("shell", text) == (text, [], [])


def test_two_assignments_on_a_line_stay_and_are_reported():
    line = f"export LANG=C http_proxy={DEAD}"
    new, removed, kept = scrub("shell", line + "\n")
    assert new == line + "\n" and removed == [] and kept == [line]


def test_shell_only_matching_keeps_the_working_proxy_without_a_warning():
    text = f"export http_proxy={DEAD}\nexport https_proxy={WORKING}\nexport LANG=C https_proxy={WORKING}\n"
    new, removed, kept = scrub("shell", text, ONLY_DEAD)
    assert removed == [f"export http_proxy={DEAD}"]
    assert new == f"export https_proxy={WORKING}\nexport LANG=C https_proxy={WORKING}\n"
    assert kept == []


def test_only_matching_compares_the_unquoted_value():
    new, removed, kept = scrub("shell", f'http_proxy="{DEAD}"\n', ONLY_DEAD)
    assert kept == []
    assert removed == [f'http_proxy="{DEAD}"'] and new == ""


def test_line_endings_and_a_missing_last_newline_are_kept():
    text = f"A=1\r\nexport http_proxy={DEAD}\r\nB=2"
    new, removed, kept = scrub("shell", text)
    assert kept == []
    assert new == "A=1\r\nB=2" and removed == [f"export http_proxy={DEAD}"]


# ---- yum ---------------------------------------------------------------------------------------

YUM = f"""[main]
gpgcheck=1
proxy={DEAD}
proxy_username=lab
proxy_password=secret
proxy_auth_method=basic
"""


def test_yum_proxy_and_its_credentials_go():
    new, removed, kept = scrub("yum", YUM)
    assert kept == []
    assert new == "[main]\ngpgcheck=1\n"
    assert removed == [f"proxy={DEAD}", "proxy_username=lab", "proxy_password=secret", "proxy_auth_method=basic"]


def test_yum_proxy_none_stays():
    text = "[main]\nproxy=_none_\n"
    assert scrub("yum", text) == (text, [], [])


def test_yum_credentials_stay_with_a_proxy_that_stays():
    text = YUM.replace(DEAD, WORKING)
    assert scrub("yum", text, ONLY_DEAD) == (text, [], [])


def test_yum_credentials_go_with_the_matching_proxy():
    new, removed, kept = scrub("yum", YUM, ONLY_DEAD)
    assert kept == []
    assert new == "[main]\ngpgcheck=1\n" and len(removed) == 4


# ---- apt ---------------------------------------------------------------------------------------

def test_apt_one_line_proxies_go_direct_stays_blocks_are_reported():
    text = (f'Acquire::http::Proxy "{DEAD}";\n'
            f'Acquire::https::Proxy "{DEAD}"; // the image\n'
            'Acquire::http::Proxy::deb.debian.org "DIRECT";\n'
            'Acquire::ftp::Proxy "false";\n'
            'Acquire::Retries "3";\n'
            f'Acquire {{ http {{ Proxy "{DEAD}"; }} }}\n'
            f'// Acquire::http::Proxy "{DEAD}";\n')
    new, removed, kept = scrub("apt", text)
    assert removed == [f'Acquire::http::Proxy "{DEAD}";', f'Acquire::https::Proxy "{DEAD}"; // the image']
    assert new == text.split("\n", 2)[2]
    assert kept == [f'Acquire {{ http {{ Proxy "{DEAD}"; }} }}']


def test_apt_host_specific_proxy_goes():
    line = f'Acquire::http::Proxy::mirror.example "{DEAD}";'
    assert scrub("apt", line + "\n") == ("", [line], [])


# ---- wget --------------------------------------------------------------------------------------

def test_wget_names_are_case_insensitive_and_use_proxy_on_goes():
    text = f"HTTP_Proxy = {DEAD}\nuse_proxy = on\ntries = 3\n"
    new, removed, kept = scrub("wget", text)
    assert kept == []
    assert new == "tries = 3\n" and removed == [f"HTTP_Proxy = {DEAD}", "use_proxy = on"]


def test_wget_use_proxy_off_stays_and_on_stays_with_a_filter():
    assert scrub("wget", "use_proxy = off\n") == ("use_proxy = off\n", [], [])
    text = f"http_proxy = {DEAD}\nhttps_proxy = {WORKING}\nuse_proxy = on\n"
    new, removed, kept = scrub("wget", text, ONLY_DEAD)
    assert kept == []
    assert new == f"https_proxy = {WORKING}\nuse_proxy = on\n" and removed == [f"http_proxy = {DEAD}"]


# ---- systemd -----------------------------------------------------------------------------------

def test_systemd_only_the_proxy_assignments_go():
    text = ("[Service]\n"
            f'Environment="HTTP_PROXY={DEAD}" "DOCKER_LAB_KEEP=kept"\n'
            f"Environment=HTTPS_PROXY={DEAD}\n"
            'Environment="NO_PROXY=localhost,127.0.0.1"\n')
    new, removed, kept = scrub("systemd_env", text)
    assert new == '[Service]\nEnvironment="DOCKER_LAB_KEEP=kept"\nEnvironment="NO_PROXY=localhost,127.0.0.1"\n'
    assert removed == [f'Environment="HTTP_PROXY={DEAD}" "DOCKER_LAB_KEEP=kept"', f"Environment=HTTPS_PROXY={DEAD}"]


def test_systemd_filter_keeps_the_working_proxy():
    text = f'Environment="HTTP_PROXY={DEAD}" "HTTPS_PROXY={WORKING}"\r\n'
    new, removed, kept = scrub("systemd_env", text, ONLY_DEAD)
    assert kept == []
    assert removed == [f'Environment="HTTP_PROXY={DEAD}" "HTTPS_PROXY={WORKING}"']
    assert new == f'Environment="HTTPS_PROXY={WORKING}"\r\n'


# ---- files -------------------------------------------------------------------------------------

def test_expand_skips_missing_files_backups_leftovers_and_duplicates(tmp_path):
    conf = tmp_path / "apt.conf.d"
    conf.mkdir()
    for name in ("10proxy", "20other", "10proxy.1.2026-01-01@00:00:00~", "30x.dpkg-old", "40y.bak", "50z.ucf-dist"):
        (conf / name).write_text("x\n")
    (conf / "60link").symlink_to(conf / "10proxy")
    (conf / "sub").mkdir()
    targets = [{"path": str(conf / "*"), "kind": "apt"}, {"path": str(conf / "10proxy"), "kind": "shell"},
               {"path": str(tmp_path / "missing"), "kind": "shell"}]
    assert pu.expand(targets, [], []) == [(str(conf / "10proxy"), "apt"), (str(conf / "20other"), "apt")]


def test_expand_adds_the_rc_files_of_each_home(tmp_path):
    homes = [tmp_path / "root", tmp_path / "alice"]
    for home in homes:
        home.mkdir()
        (home / ".bashrc").write_text("x\n")
    (tmp_path / "alice" / ".profile").write_text("x\n")
    files = pu.expand([], [str(h) for h in homes], [".bashrc", ".profile"])
    assert files == [(str(homes[0] / ".bashrc"), "shell"), (str(homes[1] / ".bashrc"), "shell"),
                     (str(homes[1] / ".profile"), "shell")]


Entry = namedtuple("Entry", "pw_name pw_uid pw_dir")


def test_find_users_takes_root_and_the_uid_range(monkeypatch):
    entries = [Entry("alice", 1000, "/home/alice"), Entry("root", 0, "/root"), Entry("svc", 999, "/var/lib/svc"),
               Entry("bob", 1001, "/home/alice"), Entry("nobody", 65534, "/nonexistent"),
               Entry("odd", 1002, ""), Entry("rel", 1003, "home/rel")]
    monkeypatch.setattr(pwd, "getpwall", lambda: entries)
    assert pu.find_users(1000, 60000, True) == ["/root", "/home/alice"]
    assert pu.find_users(1000, 60000, False) == ["/home/alice"]
    assert pu.find_users(999, 999, False) == ["/var/lib/svc"]


@pytest.mark.parametrize(("path", "kind", "validate", "expected"), [
    ("/etc/profile", "shell", True, True),
    ("/etc/environment", "shell", True, False),
    ("/root/.zshrc", "shell", True, False),
    ("/etc/profile", "shell", False, False),
    ("/etc/yum.conf", "yum", True, False),
])
def test_needs_validation(path, kind, validate, expected):
    assert pu.needs_validation(path, kind, validate) is expected


def test_text_round_trips_bytes_that_are_not_utf8(tmp_path):
    path = tmp_path / "f"
    raw = b"caf\xe9 \xff\xfe\n\xe4\xb8\xad\n"
    path.write_bytes(raw)
    assert pu.to_bytes(pu.read_text(str(path))) == raw


# ---- run ---------------------------------------------------------------------------------------

class RecordingHost:
    """Stands in for ModuleHost: bash -n through the real bash (if any), writes in place."""

    def __init__(self, bash="bash"):
        self._bash = shutil.which(bash) if bash else None
        self.checked, self.backups, self.writes = [], [], []

    def bash(self):
        return self._bash

    def syntax_error(self, path, text):
        self.checked.append(path)
        proc = subprocess.run([self._bash, "-n"], input=text, capture_output=True, text=True, check=False)
        return None if proc.returncode == 0 else proc.stderr.strip()

    def backup(self, path):
        target = path + ".backup~"
        shutil.copy2(path, target)
        self.backups.append(path)
        return target

    def write(self, path, text):
        self.writes.append(path)
        with open(path, "wb") as handle:
            handle.write(pu.to_bytes(text))


@pytest.fixture
def etc(tmp_path):
    (tmp_path / "profile").write_text(f"# head\nexport http_proxy={DEAD}\nexport LAB_KEEP=kept\n")
    (tmp_path / "environment").write_text(f"LANG=C\nhttps_proxy={DEAD}\n")
    (tmp_path / "yum.conf").write_text("[main]\ngpgcheck=1\n")
    return tmp_path


def params(etc, **more):
    base = {"shell_files": [str(etc / "profile"), str(etc / "environment")], "yum_files": [str(etc / "yum.conf")],
            "names": NAMES}
    base.update(more)
    return base


def test_run_removes_backs_up_and_reports(etc):
    host = RecordingHost()
    result = pu.run(params(etc), False, host)
    assert result == {
        "changed": True,
        "removed": [
            {"path": str(etc / "profile"), "kind": "shell", "lines": [f"export http_proxy={DEAD}"],
             "backup_file": str(etc / "profile") + ".backup~"},
            {"path": str(etc / "environment"), "kind": "shell", "lines": [f"https_proxy={DEAD}"],
             "backup_file": str(etc / "environment") + ".backup~"},
        ],
        "kept": [],
        "scanned": [str(etc / "profile"), str(etc / "environment"), str(etc / "yum.conf")],
    }
    assert (etc / "profile").read_text() == "# head\nexport LAB_KEEP=kept\n"
    assert (etc / "environment").read_text() == "LANG=C\n"
    assert host.writes == [str(etc / "profile"), str(etc / "environment")]
    if host.bash():  # only the real /etc/environment is not a shell script; this one is checked
        assert host.checked == [str(etc / "profile"), str(etc / "environment")]


def test_run_in_check_mode_writes_nothing(etc):
    host = RecordingHost()
    result = pu.run(params(etc), True, host)
    assert result["changed"] is True
    assert [e["path"] for e in result["removed"]] == [str(etc / "profile"), str(etc / "environment")]
    assert all("backup_file" not in entry for entry in result["removed"])
    assert host.writes == [] and host.backups == []


def test_run_without_backup(etc):
    host = RecordingHost()
    result = pu.run(params(etc, backup=False), False, host)
    assert all("backup_file" not in entry for entry in result["removed"]) and host.backups == []
    assert len(host.writes) == 2


def test_run_with_nothing_to_remove_is_not_a_change(etc):
    host = RecordingHost()
    result = pu.run(params(etc, names=["no_such_proxy"]), False, host)
    scanned = [str(etc / "profile"), str(etc / "environment"), str(etc / "yum.conf")]
    assert result == {"changed": False, "removed": [], "kept": [], "scanned": scanned}
    assert host.writes == []


@pytest.mark.skipif(not shutil.which("bash"), reason="needs bash")
def test_run_refuses_an_edit_bash_cannot_parse_and_writes_nothing(etc):
    broken = f"if true; then\n  export http_proxy={DEAD}\nfi\n"
    (etc / "profile.d.sh").write_text(broken)
    host = RecordingHost()
    result = pu.run(params(etc, shell_files=[str(etc / "profile"), str(etc / "profile.d.sh")]), False, host)
    assert result["failed"] is True and result["changed"] is False
    assert result["msg"].startswith("Removing the proxy lines would leave a shell file that bash cannot parse, "
                                    f"so nothing was changed: {etc / 'profile.d.sh'} (")
    assert "set validate_shell to false" in result["msg"]
    assert [e["path"] for e in result["removed"]] == [str(etc / "profile"), str(etc / "profile.d.sh")]
    assert host.writes == [] and host.backups == []
    assert (etc / "profile.d.sh").read_text() == broken


def test_run_does_not_validate_when_told_not_to_or_without_bash(etc):
    broken = f"if true; then\n  export http_proxy={DEAD}\nfi\n"
    (etc / "profile").write_text(broken)
    for host, extra in ((RecordingHost(), {"validate_shell": False}), (RecordingHost(bash=None), {})):
        (etc / "profile").write_text(broken)
        result = pu.run(params(etc, **extra), False, host)
        assert result["changed"] is True and host.checked == []
        assert (etc / "profile").read_text() == "if true; then\nfi\n"


@pytest.mark.parametrize(("extra", "message"), [
    ({"names": []}, "names is empty: give at least one proxy variable name."),
    ({"only_matching": "127\\.0\\.0\\.9:(3128"},
     "only_matching is not a valid regular expression: missing ), unterminated subpattern at position 13"),
])
def test_run_refuses_bad_input(etc, extra, message):
    host = RecordingHost()
    assert pu.run(params(etc, **extra), False, host) == {"failed": True, "msg": message}
    assert host.writes == []


def test_run_reads_the_users_rc_files_only_when_asked(etc, monkeypatch):
    home = etc / "home" / "alice"
    home.mkdir(parents=True)
    (home / ".bashrc").write_text(f"export http_proxy={DEAD}\n")
    monkeypatch.setattr(pwd, "getpwall", lambda: [Entry("alice", 1000, str(home))])
    host = RecordingHost()
    result = pu.run({"names": NAMES}, True, host)
    assert result["scanned"] == []
    result = pu.run({"names": NAMES, "users_rc_files": [".bashrc"], "uid_min": 1000, "uid_max": 1000}, True, host)
    assert result["scanned"] == [str(home / ".bashrc")]
    result = pu.run({"names": NAMES, "users_rc_files": [".bashrc"], "uid_min": 1001, "uid_max": 2000}, True, host)
    assert result["scanned"] == []


# ---- keep: the jump host's cache, which the collection sets itself (roles/jump_cache) ----------

CACHE = "http://127.0.0.9:3142/"  # the same host as the dead proxy, another port
KEEP = [r"^http://127\.0\.0\.9:3142/?$", r"^/usr/local/libexec/hpcdl-apt-cache$"]


def scrub_keep(kind, text, only=""):
    new, removed, kept = pu.Scrubber(NAMES, only, KEEP).scrub(kind, text.splitlines(True))
    return "".join(new), removed, kept


def test_the_cache_s_apt_settings_stay_and_are_not_reported_while_the_dead_proxy_goes():
    text = ("# Managed by Ansible\n"
            'Acquire::http::Proxy-Auto-Detect "/usr/local/libexec/hpcdl-apt-cache";\n'
            'Acquire::http::Proxy::127.0.0.9 "DIRECT";\n'
            f'Acquire::http::Proxy "{CACHE}";\n'
            f'Acquire::http::Proxy "{DEAD}";\n')
    new, removed, kept = scrub_keep("apt", text)
    assert removed == [f'Acquire::http::Proxy "{DEAD}";']
    assert kept == []
    assert new == text.replace(f'Acquire::http::Proxy "{DEAD}";\n', "")


def test_without_keep_the_auto_detect_line_is_reported_as_a_proxy_left_behind():
    line = 'Acquire::http::Proxy-Auto-Detect "/usr/local/libexec/hpcdl-apt-cache";'
    assert scrub("apt", line + "\n") == (line + "\n", [], [line])


def test_the_cache_in_yum_stays_with_its_credentials_the_dead_proxy_does_not():
    text = f"[main]\nproxy={CACHE.rstrip('/')}\nproxy_username=u\n"
    assert scrub_keep("yum", text) == (text, [], [])
    assert scrub_keep("yum", f"[main]\nproxy={DEAD}\n") == ("[main]\n", [f"proxy={DEAD}"], [])


def test_a_shell_assignment_of_the_cache_stays_silently_and_keep_wins_over_only_matching():
    text = f"export http_proxy={CACHE}\n"
    assert scrub_keep("shell", text) == (text, [], [])
    assert scrub_keep("shell", text, only=r"127\.0\.0\.9") == (text, [], [])
