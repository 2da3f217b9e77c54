"""hpcdl.gpu.converged: the module's main() on records and managed files under tmp_path, and its state readers.

A role recorded after a run is converged on the next check while nothing changed; each kind of change (an
input, a managed file edited or removed, a package version, a stopped service or container, a URL that
stops answering or loses its text) makes it not converged, says why in words, and removes the record so a
failed rerun leaves none. Values never reach the record, only digests.
"""
import hashlib
import json
import os

import pytest
from ansible_collections.hpcdl.gpu.plugins.module_utils import converged as utils
from ansible_collections.hpcdl.gpu.plugins.modules import converged as module_file
from loopback import FileHandler, serve, stop


@pytest.fixture
def run(run_main, tmp_path):
    def call(**args):
        args.setdefault("path", str(tmp_path / "records"))
        return run_main(module_file, args)
    return call


@pytest.fixture
def managed(tmp_path):
    path = tmp_path / "etc" / "daemon.json"
    path.parent.mkdir()
    path.write_text('{"runtimes": {}}\n')
    return path


def test_a_recorded_role_is_converged_and_returns_its_facts(run, managed, tmp_path):
    manages = {"files": [str(managed)]}
    first = run(role="docker", inputs={"docker_x": "a1"}, manages=manages).result
    assert not first["converged"] and first["reasons"] == ["it has not converged on this host yet (no record)"]
    run(role="docker", state="record", inputs={"docker_x": "a1"}, manages=manages, facts={"published": {"port": 80}})
    record = tmp_path / "records" / "docker.json"
    assert oct(record.stat().st_mode & 0o777) == "0o600"
    assert oct(record.parent.stat().st_mode & 0o777) == "0o700"
    again = run(role="docker", inputs={"docker_x": "a1"}, manages=manages).result
    assert again["converged"] and again["reasons"] == [] and again["changed"] is False
    assert again["facts"] == {"published": {"port": 80}}


@pytest.mark.parametrize("change, reason", [
    ("input", "input changed: docker_x"),
    ("edit", "was sha256:"),
    ("remove", "and is absent now"),
])
def test_a_change_makes_it_run_again_and_removes_the_record(run, managed, tmp_path, change, reason):
    manages = {"files": [str(managed)]}
    run(role="docker", state="record", inputs={"docker_x": "a1"}, manages=manages)
    inputs = {"docker_x": "b2" if change == "input" else "a1"}
    if change == "edit":
        managed.write_text('{"runtimes": {}, "debug": true}\n')
    elif change == "remove":
        managed.unlink()
    result = run(role="docker", inputs=inputs, manages=manages).result
    assert not result["converged"]
    assert any(reason in line for line in result["reasons"]), result["reasons"]
    assert not (tmp_path / "records" / "docker.json").exists()
    print(result["reasons"])


def test_check_mode_changes_no_record(run, managed, tmp_path):
    manages = {"files": [str(managed)]}
    run(role="docker", state="record", manages=manages, _ansible_check_mode=True)
    assert not (tmp_path / "records").exists()
    run(role="docker", state="record", manages=manages)
    managed.write_text("{}\n")
    assert not run(role="docker", manages=manages, _ansible_check_mode=True).result["converged"]
    assert (tmp_path / "records" / "docker.json").exists()


def test_the_record_holds_digests_never_values(run, managed, tmp_path):
    run(role="jupyter", state="record", inputs={"jupyter_token": utils_digest("s3cret-token")},
        manages={"files": [str(managed)]})
    text = (tmp_path / "records" / "jupyter.json").read_text()
    assert "s3cret-token" not in text


def utils_digest(value):
    # What the action plugin sends: a sha256 of the value, never the value.
    return hashlib.sha256(json.dumps(value).encode()).hexdigest()


def test_bad_manages_is_refused_in_words(run):
    done = run(role="docker", manages={"file": ["/etc/x"]})
    assert done.failed and "manages has file, which is not one of files, packages" in done.result["msg"]
    done = run(role="docker", manages={"files": [""]})
    assert done.failed and "not a non-empty string" in done.result["msg"]
    done = run(role="../etc", manages={})
    assert done.failed and "role must be a role name" in done.result["msg"]
    print(done.result["msg"])


def test_globs_links_and_folders(tmp_path):
    folder = tmp_path / "conf.d"
    folder.mkdir()
    (folder / "a.conf").write_text("a")
    before = utils.files_state(str(folder / "*.conf"))
    (folder / "b.conf").write_text("b")
    assert utils.files_state(str(folder / "*.conf")) != before
    assert utils.files_state(str(tmp_path / "none" / "*.conf")) == "no match"
    os.symlink("/usr/local/cuda-12.2", tmp_path / "cuda")
    assert utils.files_state(str(tmp_path / "cuda")) == "link:/usr/local/cuda-12.2"
    assert utils.files_state(str(folder)).startswith("folder:")


def test_a_shared_json_file_is_watched_by_the_keys_the_role_sets(run, tmp_path):
    # docker and nvidia_docker both write daemon.json: each watches its own keys only.
    daemon = tmp_path / "daemon.json"
    runtimes = {"nvidia": {"path": "nvidia-container-runtime"}}
    daemon.write_text(json.dumps({"log-driver": "json-file", "runtimes": runtimes}))
    docker = {"files": [{"path": str(daemon), "keys": ["log-driver", "data-root"]}]}
    before = utils.current_state(docker, None)[f"file:{daemon}"]
    assert before.startswith("json:")
    daemon.write_text(json.dumps({"log-driver": "json-file"}))  # another role's key went
    assert utils.current_state(docker, None)[f"file:{daemon}"] == before
    daemon.write_text(json.dumps({"log-driver": "json-file", "data-root": "/data/docker"}))  # a key of its own came
    assert utils.current_state(docker, None)[f"file:{daemon}"] != before
    daemon.write_text("{not json")
    assert utils.json_keys_state(str(daemon), ["log-driver"]) == "unreadable: not JSON"
    assert utils.json_keys_state(str(tmp_path / "none.json"), ["log-driver"]) == "absent"
    done = run(role="docker", manages={"files": [{"path": str(daemon), "keys": "log-driver"}]})
    assert done.failed and "give a list of top-level JSON keys" in done.result["msg"]
    done = run(role="docker", manages={"files": [{"path": [str(daemon), "/etc/x.json"], "keys": ["log-driver"]}]})
    assert done.failed and "a keys entry names one JSON file" in done.result["msg"]
    print(done.result["msg"])


def test_shared_files_are_watched_by_the_lines_the_role_owns(run, tmp_path):
    # proxy_unset watches the proxy lines of /etc/profile.d/*.sh, where cuda writes cuda.sh afterwards.
    folder = tmp_path / "profile.d"
    folder.mkdir()
    (folder / "locale.sh").write_text("export LANG=C.UTF-8\n")
    watched = {"files": [{"path": str(folder / "*.sh"), "lines": "(?i)(proxy|http_proxy)"}]}
    key = f"file:{folder / '*.sh'}"
    before = utils.current_state(watched, None)[key]
    assert before.startswith("lines:0:")
    (folder / "cuda.sh").write_text("export PATH=/usr/local/cuda/bin:$PATH\n")  # another role's file
    assert utils.current_state(watched, None)[key] == before
    (folder / "cuda.sh").write_text("export PATH=/usr/local/cuda/bin:$PATH\nexport HTTP_PROXY=http://old:3128\n")
    after = utils.current_state(watched, None)[key]
    assert after.startswith("lines:1:") and after != before  # a proxy line put back
    assert utils.lines_state(str(tmp_path / "none.conf"), "proxy") == before  # a missing file holds no line
    several = utils.current_state({"files": [{"path": [str(folder / "*.sh"), "/none/x"], "lines": "proxy"}]}, None)
    assert set(several) == {key, "file:/none/x"}
    done = run(role="proxy_unset", manages={"files": [{"path": str(folder / "*.sh"), "lines": "(unclosed"}]})
    assert done.failed and "not a regular expression" in done.result["msg"]
    done = run(role="proxy_unset", manages={"files": [{"path": str(folder / "*.sh")}]})
    assert done.failed and "give either keys (JSON keys) or lines (a regular expression)" in done.result["msg"]
    print(done.result["msg"])


def fake_commands(outputs):
    calls = []

    def run_command(argv):
        calls.append(argv)
        return outputs[argv[0]]
    return run_command, calls


def test_packages_services_containers_images_are_read_in_few_calls():
    run_command, calls = fake_commands({
        "dpkg-query": (1, "docker.io installed 24.0.9+dfsg1-1\ncurl not-installed \n", "no packages found matching x"),
        "systemctl": (0, "Id=docker.service\nLoadState=loaded\nActiveState=active\nUnitFileState=enabled\n\n"
                         "Id=none.service\nLoadState=not-found\nActiveState=inactive\nUnitFileState=\n", ""),
        "/usr/bin/docker": (0, "true sha256:abc\n", ""),
    })
    state = utils.current_state({"packages": ["docker.io", "curl", "x"], "services": ["docker", "none"],
                                 "containers": ["hpcdl-jupyter"], "images": ["busybox:1"]},
                                run_command, bins={"docker": "/usr/bin/docker"})
    assert state["package:docker.io"] == "24.0.9+dfsg1-1"
    assert state["package:curl"] == "absent" and state["package:x"] == "absent"
    assert state["service:docker"] == "active enabled" and state["service:none"] == "absent"
    assert state["container:hpcdl-jupyter"] == "running sha256:abc"
    assert [argv[0] for argv in calls].count("dpkg-query") == 1 and [argv[0] for argv in calls].count("systemctl") == 1


def test_a_stopped_service_or_container_is_named():
    old = {"service:docker": "active enabled", "container:hpcdl-jupyter": "running sha256:abc"}
    new = {"service:docker": "inactive enabled", "container:hpcdl-jupyter": "stopped sha256:abc"}
    found = utils.state_reasons(old, new)
    assert "container:hpcdl-jupyter was running sha256:abc and is stopped sha256:abc now" in found
    assert "service:docker was active enabled and is inactive enabled now" in found


@pytest.fixture
def server():
    handler = type("Probe", (FileHandler,), {"files": {"/probe.html": b"ok hpcdl-token-1"}, "hits": []})
    httpd = serve(handler)
    yield httpd
    stop(httpd)


def test_urls_disprove_a_role_whatever_the_record_says(server):
    good = utils.url_state({"url": server.url("/probe.html"), "contains": "hpcdl-token-1"})
    assert good == "HTTP 200, text found"
    missing = utils.url_state({"url": server.url("/probe.html"), "contains": "other"})
    assert missing == "HTTP 200, text missing"
    expected = utils.url_state({"url": server.url("/nothing"), "status": [200, 404]})
    assert expected == "HTTP 404 (expected)"
    assert utils.url_state(server.url("/nothing")) == "HTTP 404"
    assert utils.url_state("http://127.0.0.1:9/").startswith("no answer")
    key = "url:" + server.url("/probe.html")
    # Recorded as good, but the text is gone now: not converged.
    assert utils.state_reasons({key: good}, {key: missing}) == [f"{key} answers HTTP 200, text missing"]
    # Recorded as failing (a node whose tunnel was down at record time): still not converged.
    assert utils.state_reasons({key: "no answer: x"}, {key: "no answer: x"}) == [f"{key} answers no answer: x"]
    assert utils.state_reasons({key: expected}, {key: expected}) == []


def test_a_snapshot_reads_every_other_record_in_one_call(run, managed, tmp_path):
    other = tmp_path / "etc" / "other.conf"
    other.write_text("x")
    run(role="docker", state="record", inputs={"a": "1"}, manages={"files": [str(managed)]})
    run(role="tengine", state="record", inputs={"b": "2"}, manages={"files": [str(other)]})
    other.write_text("y")
    result = run(role="docker", inputs={"a": "1"}, manages={"files": [str(managed)]}, snapshot=True).result
    assert result["converged"]
    assert set(result["snapshot"]) == {"tengine"}
    entry = result["snapshot"]["tengine"]
    assert entry["inputs_key"] == utils.manages_key({"b": "2"})
    assert entry["manages_key"] == utils.manages_key(utils.check_manages({"files": [str(other)]}))
    assert entry["state_reasons"] and "was sha256:" in entry["state_reasons"][0]


def test_iptables_rules_are_read_by_their_tag_in_one_call():
    save = ("*filter\n:INPUT ACCEPT [0:0]\n"
            "-A INPUT -p tcp -m tcp --dport 8888 -m comment --comment hpcdl-tengine -j DROP\n"
            "-A INPUT -p tcp --dport 22 -j ACCEPT\nCOMMIT\n*nat\n-A POSTROUTING -s 10.77.0.0/24 -m comment "
            "--comment \"hpcdl-vpn\" -j MASQUERADE\nCOMMIT\n")
    run_command, calls = fake_commands({"/usr/sbin/iptables-save": (0, save, "")})
    tags = ["hpcdl-tengine", "hpcdl-vpn", "hpcdl-cache"]
    before = utils.iptables_states(tags, run_command, "/usr/sbin/iptables-save")
    assert len(calls) == 1
    assert before["hpcdl-tengine"].startswith("1 rules:") and before["hpcdl-vpn"].startswith("1 rules:")
    assert before["hpcdl-cache"].startswith("0 rules:")
    # A rule deleted by hand is a difference; the untagged rule is not watched.
    run_command = fake_commands({"/usr/sbin/iptables-save": (0, save.replace("--comment hpcdl-tengine", "x"), "")})[0]
    after = utils.iptables_states(["hpcdl-tengine"], run_command, "/usr/sbin/iptables-save")
    assert after["hpcdl-tengine"] != before["hpcdl-tengine"]
    assert utils.iptables_states(["hpcdl-vpn"], run_command, None) == {"hpcdl-vpn": "absent"}
