"""hpcdl.gpu.proxy_unset end to end on files under tmp_path: main() with exit_json/fail_json
patched (the real AnsibleModule: bash -n through run_command, backup_local, atomic_move), and the
module run by ansible-playbook on localhost (packaged and executed as Ansible runs it)."""
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from ansible_collections.hpcdl.gpu.plugins.module_utils import proxy_unset as module_utils
from ansible_collections.hpcdl.gpu.plugins.modules import proxy_unset as module_file

BIN = Path(sys.executable).parent
NAMES = ["http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"]
# A dead proxy like the seed's, on a loopback address (nothing is ever sent to it).
DEAD = "http://127.0.0.9:3128/"
needs_bash = pytest.mark.skipif(not shutil.which("bash"), reason="needs bash")

# Around the proxy lines: CRLF, a tab, a line that is not UTF-8, and no newline at the end.
PROFILE = (b"# provider image\r\n"
           b"export http_proxy=" + DEAD.encode() + b"\r\n"
           b"export LAB_KEEP=kept\t# caf\xe9\n"
           b"export HTTPS_PROXY='" + DEAD.encode() + b"'\n"
           b"alias ll='ls -l'")
PROFILE_AFTER = b"# provider image\r\nexport LAB_KEEP=kept\t# caf\xe9\nalias ll='ls -l'"
BROKEN = f"if [ -n \"$LAB\" ]; then\n  export http_proxy={DEAD}\nfi\nexport LAB_KEEP=kept\n"


@pytest.fixture
def run(run_main):
    """The module's main() with these arguments (tests/unit/plugins/modules/conftest.py)."""
    return lambda args: run_main(module_file, args)


@pytest.fixture
def etc(tmp_path):
    root = tmp_path / "etc"
    (root / "profile.d").mkdir(parents=True)
    (root / "profile.d" / "proxy.sh").write_bytes(PROFILE)
    (root / "profile.d" / "proxy.sh").chmod(0o640)
    (root / "profile.d" / "other.sh").write_text("export LAB_OTHER=kept\n")
    (root / "docker.conf").write_text(f'[Service]\nEnvironment="HTTP_PROXY={DEAD}" "LAB_KEEP=kept"\n')
    return root


def backups(path):
    return sorted(p for p in path.parent.iterdir() if p.name.startswith(path.name + ".") and p.name.endswith("~"))


def snapshot(root):
    return {p: p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_removes_only_the_proxy_lines_keeps_every_other_byte_and_backs_up(run, etc):
    target = etc / "profile.d" / "proxy.sh"
    stat = target.stat()
    done = run({"names": NAMES, "shell_files": [str(etc / "profile.d" / "*.sh")],
                "systemd_env_files": [str(etc / "docker.conf")]})
    assert not done.failed and done.result["changed"] is True
    assert target.read_bytes() == PROFILE_AFTER
    assert (etc / "profile.d" / "other.sh").read_text() == "export LAB_OTHER=kept\n"
    assert (etc / "docker.conf").read_text() == '[Service]\nEnvironment="LAB_KEEP=kept"\n'
    (backup,) = backups(target)
    assert backup.read_bytes() == PROFILE
    assert re.fullmatch(re.escape(str(target)) + r"\.\d+\.\d{4}-\d\d-\d\d@\d\d:\d\d:\d\d~", str(backup))
    after = target.stat()
    assert (after.st_mode & 0o7777, after.st_uid, after.st_gid) == (0o640, stat.st_uid, stat.st_gid)
    removed = done.result["removed"]
    assert [(e["path"], e["kind"], e["lines"]) for e in removed] == [
        (str(target), "shell", [f"export http_proxy={DEAD}", f"export HTTPS_PROXY='{DEAD}'"]),
        (str(etc / "docker.conf"), "systemd_env", [f'Environment="HTTP_PROXY={DEAD}" "LAB_KEEP=kept"']),
    ]
    assert removed[0]["backup_file"] == str(backup)
    assert done.result["kept"] == []
    assert done.result["scanned"] == [str(etc / "profile.d" / "other.sh"), str(target), str(etc / "docker.conf")]
    assert not list(etc.rglob(".proxy_unset.*")), "a temporary file was left behind"


def test_a_second_run_changes_nothing_and_writes_nothing(run, etc):
    args = {"names": NAMES, "shell_files": [str(etc / "profile.d" / "*.sh")]}
    run(args)
    before = snapshot(etc)
    done = run(args)
    assert done.result["changed"] is False and done.result["removed"] == []
    assert snapshot(etc) == before


def test_check_mode_reports_and_writes_nothing(run, etc):
    before = snapshot(etc)
    done = run({"names": NAMES, "shell_files": [str(etc / "profile.d" / "*.sh")], "_ansible_check_mode": True})
    assert not done.failed and done.result["changed"] is True
    assert done.result["removed"] == [{"path": str(etc / "profile.d" / "proxy.sh"), "kind": "shell",
                                       "lines": [f"export http_proxy={DEAD}", f"export HTTPS_PROXY='{DEAD}'"]}]
    assert snapshot(etc) == before


def test_no_backup_when_told_not_to(run, etc):
    done = run({"names": NAMES, "shell_files": [str(etc / "profile.d" / "proxy.sh")], "backup": False})
    assert done.result["changed"] is True and "backup_file" not in done.result["removed"][0]
    assert backups(etc / "profile.d" / "proxy.sh") == []


@needs_bash
def test_an_edit_bash_cannot_parse_is_refused_and_nothing_is_written(run, etc):
    (etc / "profile.d" / "zz-broken.sh").write_text(BROKEN)
    before = snapshot(etc)
    done = run({"names": NAMES, "shell_files": [str(etc / "profile.d" / "*.sh")]})
    assert done.failed and done.result["changed"] is False
    msg = done.result["msg"]
    assert msg.startswith("Removing the proxy lines would leave a shell file that bash cannot parse, so nothing "
                          f"was changed: {etc / 'profile.d' / 'zz-broken.sh'} (")
    assert "syntax error" in msg and str(etc / "profile.d" / "zz-broken.sh") + ": line " in msg
    assert "/tmp/.proxy_unset." not in msg  # bash's message names the file, not the temporary copy
    paths = [e["path"] for e in done.result["removed"]]
    assert paths == [str(etc / "profile.d" / "proxy.sh"), str(etc / "profile.d" / "zz-broken.sh")]
    assert snapshot(etc) == before  # the valid edit of proxy.sh was not written either, and no backup


@needs_bash
def test_validation_off_writes_the_edit(run, etc):
    (etc / "profile.d" / "zz-broken.sh").write_text(BROKEN)
    done = run({"names": NAMES, "shell_files": [str(etc / "profile.d" / "zz-broken.sh")], "validate_shell": False})
    assert done.result["changed"] is True
    assert (etc / "profile.d" / "zz-broken.sh").read_text() == 'if [ -n "$LAB" ]; then\nfi\nexport LAB_KEEP=kept\n'


@pytest.mark.parametrize(("args", "message"), [
    ({"names": []}, "names is empty: give at least one proxy variable name."),
    ({"names": NAMES, "only_matching": "(3128"}, "only_matching is not a valid regular expression: "),
])
def test_bad_input_fails_with_a_message(run, etc, args, message):
    before = snapshot(etc)
    done = run(dict(args, shell_files=[str(etc / "profile.d" / "*.sh")]))
    assert done.failed and done.result["msg"].startswith(message)
    assert snapshot(etc) == before


def test_an_unexpected_error_fails_with_one_sentence(run, etc, monkeypatch):
    def unreadable(path):
        raise OSError(13, "Permission denied", path)

    monkeypatch.setattr(module_utils, "read_text", unreadable)
    done = run({"names": NAMES, "shell_files": [str(etc / "profile.d" / "proxy.sh")]})
    assert done.failed
    assert done.result["msg"] == f"PermissionError: [Errno 13] Permission denied: '{etc / 'profile.d' / 'proxy.sh'}'"


def test_the_argument_spec_matches_the_documentation():
    options = yaml.safe_load(module_file.DOCUMENTATION)["options"]
    assert set(options) == set(module_utils.ARGUMENT_SPEC)
    for name, spec in module_utils.ARGUMENT_SPEC.items():
        doc = options[name]
        assert doc["type"] == spec["type"] and doc.get("elements") == spec.get("elements"), name
        assert doc.get("default") == spec.get("default") and bool(doc.get("required")) == bool(spec.get("required"))


# ---- through ansible-playbook ------------------------------------------------------------------

def playbook(tmp_path, args, check=False):
    """Run the module once on localhost (-c local) with ``args``; return (rc, result, output)."""
    play = [{"name": "Run the module", "hosts": "localhost", "gather_facts": False,
             "tasks": [{"name": "Remove the proxy", "hpcdl.gpu.proxy_unset": args, "register": "result"}]}]
    (tmp_path / "play.yml").write_text(json.dumps(play))
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_LOCALHOST_WARNING="false",
               ANSIBLE_INVENTORY_UNPARSED_WARNING="false", ANSIBLE_STDOUT_CALLBACK="json",
               ANSIBLE_DEPRECATION_WARNINGS="false", ANSIBLE_RETRY_FILES_ENABLED="false")
    argv = [str(BIN / "ansible-playbook"), "-i", "localhost,", "-c", "local", "play.yml",
            "-e", f"ansible_python_interpreter={sys.executable}"] + (["--check"] if check else [])
    proc = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False)
    output = proc.stdout + proc.stderr
    report = json.loads(proc.stdout[proc.stdout.index("{"):])
    (task,) = report["plays"][0]["tasks"]
    return proc.returncode, task["hosts"]["localhost"], output


def test_playbook_run_edits_and_backs_up(tmp_path, etc):
    rc, result, output = playbook(tmp_path, {"names": NAMES, "shell_files": [str(etc / "profile.d" / "*.sh")]})
    assert rc == 0, output
    assert result["changed"] is True
    assert (etc / "profile.d" / "proxy.sh").read_bytes() == PROFILE_AFTER
    (backup,) = backups(etc / "profile.d" / "proxy.sh")
    assert backup.read_bytes() == PROFILE and result["removed"][0]["backup_file"] == str(backup)
    rc, result, output = playbook(tmp_path, {"names": NAMES, "shell_files": [str(etc / "profile.d" / "*.sh")]})
    assert rc == 0 and result["changed"] is False, output


def test_playbook_check_mode_reports_and_writes_nothing(tmp_path, etc):
    before = snapshot(etc)
    rc, result, output = playbook(tmp_path, {"names": NAMES, "shell_files": [str(etc / "profile.d" / "*.sh")]},
                                  check=True)
    assert rc == 0, output
    assert result["changed"] is True
    assert result["removed"][0]["lines"] == [f"export http_proxy={DEAD}", f"export HTTPS_PROXY='{DEAD}'"]
    assert snapshot(etc) == before


@needs_bash
def test_playbook_refuses_an_edit_bash_cannot_parse(tmp_path, etc):
    (etc / "profile.d" / "zz-broken.sh").write_text(BROKEN)
    before = snapshot(etc)
    rc, result, output = playbook(tmp_path, {"names": NAMES, "shell_files": [str(etc / "profile.d" / "*.sh")]})
    assert rc == 2, output
    assert result["failed"] is True and result["changed"] is False
    assert "bash cannot parse, so nothing was changed: " + str(etc / "profile.d" / "zz-broken.sh") in result["msg"]
    assert snapshot(etc) == before
