"""The runtime wrapper's entry in daemon.json, merged by the collection's docker_daemon code."""
import json
import subprocess
import sys
from pathlib import Path

import pytest
from hpcdl_lab.common import LabError
from hpcdl_lab.engine import BACKUP_NAME, add_runtime

ROOT = Path(__file__).resolve().parents[3]
WRAPPER = "/usr/local/libexec/hpcdl-lab-runc"


def test_a_missing_file_is_created_with_the_runtime(tmp_path):
    path = tmp_path / "docker" / "daemon.json"
    assert add_runtime(path, "hpcdl-lab-runc", WRAPPER) is True
    assert json.loads(path.read_text()) == {"runtimes": {"hpcdl-lab-runc": {"path": WRAPPER}}}
    assert not (path.parent / BACKUP_NAME).exists()


def test_other_keys_and_runtimes_are_kept_and_the_old_file_backed_up(tmp_path):
    path = tmp_path / "daemon.json"
    before = json.dumps({"log-level": "warn", "default-runtime": "nvidia",
                         "runtimes": {"nvidia": {"path": "nvidia-container-runtime", "runtimeArgs": []}}})
    path.write_text(before)
    assert add_runtime(path, "hpcdl-lab-runc", WRAPPER) is True
    assert json.loads(path.read_text()) == {
        "log-level": "warn", "default-runtime": "nvidia",
        "runtimes": {"nvidia": {"path": "nvidia-container-runtime", "runtimeArgs": []},
                     "hpcdl-lab-runc": {"path": WRAPPER}},
    }
    assert list(json.loads(path.read_text())) == ["log-level", "default-runtime", "runtimes"]  # order kept
    assert (tmp_path / BACKUP_NAME).read_text() == before


def test_a_registered_runtime_changes_nothing(tmp_path):
    path = tmp_path / "daemon.json"
    text = json.dumps({"runtimes": {"hpcdl-lab-runc": {"path": WRAPPER}}, "debug": True})
    path.write_text(text)
    assert add_runtime(path, "hpcdl-lab-runc", WRAPPER) is False
    assert path.read_text() == text
    assert not (tmp_path / BACKUP_NAME).exists()


def test_a_moved_wrapper_is_updated(tmp_path):
    path = tmp_path / "daemon.json"
    path.write_text('{"runtimes": {"hpcdl-lab-runc": {"path": "/old/hpcdl-lab-runc"}}}')
    assert add_runtime(path, "hpcdl-lab-runc", WRAPPER) is True
    assert json.loads(path.read_text())["runtimes"]["hpcdl-lab-runc"] == {"path": WRAPPER}


@pytest.mark.parametrize(("text", "complaint"), [
    ('{"runtimes": {', "is not valid JSON"),
    ('["runtimes"]', "not a JSON object"),
])
def test_a_file_docker_could_not_read_is_refused_and_left_alone(tmp_path, text, complaint):
    path = tmp_path / "daemon.json"
    path.write_text(text)
    with pytest.raises(LabError, match=complaint) as raised:
        add_runtime(path, "hpcdl-lab-runc", WRAPPER)
    assert str(path) in str(raised.value)
    assert path.read_text() == text
    assert not (tmp_path / BACKUP_NAME).exists()


def test_merge_works_without_ansible_under_a_bare_python(tmp_path):
    """`make lab-down` and friends run the system python3: no Ansible, no site-packages."""
    path = tmp_path / "daemon.json"
    path.write_text('{"debug": true}')
    code = ("import sys; sys.path.insert(0, sys.argv[1]); from hpcdl_lab.engine import add_runtime; "
            "print(add_runtime(sys.argv[2], 'hpcdl-lab-runc', '/x/runc'), 'ansible' in sys.modules)")
    proc = subprocess.run([sys.executable, "-S", "-c", code, str(ROOT / "lab"), str(path)],
                          capture_output=True, text=True, check=True)
    assert proc.stdout.split() == ["True", "False"]
    assert json.loads(path.read_text()) == {"debug": True, "runtimes": {"hpcdl-lab-runc": {"path": "/x/runc"}}}
