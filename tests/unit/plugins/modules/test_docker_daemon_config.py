"""hpcdl.gpu.docker_daemon_config end to end: main() on a daemon.json under tmp_path."""
import json

import pytest
from ansible_collections.hpcdl.gpu.plugins.modules import docker_daemon_config as module_file

USER = {"runtimes": {"hpcdl-lab-runc": {"path": "/usr/local/libexec/hpcdl-lab-runc"}},
        "default-runtime": "hpcdl-lab-runc", "max-concurrent-downloads": 2}
NVIDIA = {"runtimes": {"nvidia": {"path": "nvidia-container-runtime"}}}


@pytest.fixture
def run(run_main):
    """The module's main() with these arguments (tests/unit/plugins/modules/conftest.py)."""
    return lambda args: run_main(module_file, args)


@pytest.fixture
def daemon_json(tmp_path):
    path = tmp_path / "docker" / "daemon.json"
    path.parent.mkdir()
    path.write_text(json.dumps(USER, indent=4) + "\n")
    return path


def backups(path):
    return sorted(p.name for p in path.parent.iterdir() if p.name != path.name)


def test_merges_the_runtime_keeps_the_users_keys_and_backs_up(run, daemon_json):
    done = run({"path": str(daemon_json), "options": NVIDIA})
    assert not done.failed and done.result["changed"] is True
    assert done.result["modified_keys"] == ["runtimes.nvidia"]
    written = json.loads(daemon_json.read_text())
    assert written == dict(USER, runtimes=dict(USER["runtimes"], **NVIDIA["runtimes"]))
    assert done.result["backup_file"].startswith(str(daemon_json) + ".")
    with open(done.result["backup_file"]) as backup:
        assert json.load(backup) == USER
    assert oct(daemon_json.stat().st_mode & 0o777) == "0o644"


def test_a_second_run_changes_nothing_and_writes_nothing(run, daemon_json):
    run({"path": str(daemon_json), "options": NVIDIA})
    before = (daemon_json.read_text(), daemon_json.stat().st_mtime_ns, backups(daemon_json))
    done = run({"path": str(daemon_json), "options": NVIDIA})
    assert done.result["changed"] is False and done.result["modified_keys"] == []
    assert (daemon_json.read_text(), daemon_json.stat().st_mtime_ns, backups(daemon_json)) == before


def test_formatting_alone_is_not_a_change(run, daemon_json):
    merged = dict(USER, runtimes=dict(USER["runtimes"], **NVIDIA["runtimes"]))
    daemon_json.write_text(json.dumps(merged))  # one line, no indentation
    text = daemon_json.read_text()
    done = run({"path": str(daemon_json), "options": NVIDIA})
    assert done.result["changed"] is False
    assert daemon_json.read_text() == text


def test_check_mode_reports_and_writes_nothing(run, daemon_json):
    text = daemon_json.read_text()
    done = run({"path": str(daemon_json), "options": NVIDIA, "_ansible_check_mode": True, "_ansible_diff": True})
    assert done.result["changed"] is True
    assert '"nvidia"' in done.result["diff"]["after"] and '"nvidia"' not in done.result["diff"]["before"]
    assert daemon_json.read_text() == text and backups(daemon_json) == []


def test_a_missing_file_and_folder_are_created(run, tmp_path):
    path = tmp_path / "etc" / "docker" / "daemon.json"
    done = run({"path": str(path), "options": {"registry-mirrors": ["https://mirror.example"]}})
    assert done.result["changed"] is True and "backup_file" not in done.result
    assert json.loads(path.read_text()) == {"registry-mirrors": ["https://mirror.example"]}


def test_an_invalid_file_stops_the_module_and_stays_untouched(run, daemon_json):
    daemon_json.write_text('{"max-concurrent-downloads": 2,\n "runtimes": {\n')
    done = run({"path": str(daemon_json), "options": NVIDIA})
    assert done.failed
    assert done.result["msg"].startswith(f"{daemon_json} is not valid JSON (")
    assert "fix or remove it and run again. It was left untouched." in done.result["msg"]
    assert daemon_json.read_text() == '{"max-concurrent-downloads": 2,\n "runtimes": {\n'
    assert backups(daemon_json) == []


def test_options_docker_refuses_are_refused_before_reading_the_file(run, daemon_json):
    text = daemon_json.read_text()
    done = run({"path": str(daemon_json), "options": {"registry-mirrors": ["mirror.example"], "live-restore": "yes"}})
    assert done.failed
    assert done.result["msg"].startswith("Refusing the Docker daemon options: ")
    assert len(done.result["problems"]) == 2
    assert daemon_json.read_text() == text


def test_an_undefined_default_runtime_is_refused(run, daemon_json):
    done = run({"path": str(daemon_json), "options": {"default-runtime": "nvidia"}})
    assert done.failed
    assert 'default-runtime "nvidia" is not a runtime defined in' in done.result["msg"]


def test_validate_only_does_not_read_the_file(run, tmp_path):
    path = tmp_path / "daemon.json"
    path.write_text("not json")
    done = run({"path": str(path), "options": NVIDIA, "validate_only": True})
    assert not done.failed and done.result == {"changed": False, "path": str(path), "problems": []}
