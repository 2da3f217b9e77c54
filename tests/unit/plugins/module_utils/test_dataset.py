"""The dataset logic (plugins/module_utils/dataset.py): fetch, sync, install, status.

fetch runs the real curl (and aria2c where it is installed) against the lab's range server
(molecule/dataset/files/range_http.py) on loopback, so that resuming a cut download is the real
thing; the branches that need a misbehaving server run against a scripted host.
"""
import hashlib
import importlib.util
import io
import json
import os
import shutil
import subprocess
import tarfile
import threading
import time
import zipfile
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest
from ansible_collections.hpcdl.gpu.plugins.module_utils import dataset

ROOT = Path(__file__).resolve().parents[4]
DATA = hashlib.shake_256(b"hpcdl unit test data").digest(3 << 20)  # 3 MiB
SHA = hashlib.sha256(DATA).hexdigest()


def load_range_server():
    path = ROOT / "molecule" / "dataset" / "files" / "range_http.py"
    spec = importlib.util.spec_from_file_location("range_http", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def upstream(tmp_path):
    """The range server on loopback serving DATA as /data.bin: (base URL, control folder, log entries())."""
    module = load_range_server()
    www, control = tmp_path / "www", tmp_path / "control"
    www.mkdir()
    control.mkdir()
    (www / "data.bin").write_bytes(DATA)
    server = ThreadingHTTPServer(("127.0.0.1", 0), module.Handler)
    server.daemon_threads = True
    server.root, server.log, server.control = str(www), str(tmp_path / "log.jsonl"), str(control)
    server.log_lock = threading.Lock()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    def entries(at_least=0, last=None):
        """The log's entries. The server writes an entry once the response is sent (it logs the bytes
        really sent), so the client may be done before its entry is there: wait (up to 10 s) for
        at_least entries, and for the last one to have the items of `last`."""
        log = Path(server.log)
        deadline = time.monotonic() + 10
        while True:
            found = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
            done = len(found) >= at_least and (not last or (found and last.items() <= found[-1].items()))
            if done or time.monotonic() > deadline:
                return found
            time.sleep(0.05)

    yield f"http://127.0.0.1:{server.server_address[1]}", control, entries
    server.shutdown()
    server.server_close()


class Host:
    """The real machine, as ModuleHost gives it to the module (commands, clock), warnings kept."""

    def __init__(self):
        self.warnings, self.commands = [], []

    def run(self, argv):
        self.commands.append(list(argv))
        proc = subprocess.run(argv, capture_output=True, text=True, check=False, env=dict(os.environ, LC_ALL="C"))
        return proc.returncode, proc.stdout, proc.stderr

    def now(self):
        return time.time()

    def sleep(self, seconds):
        pass

    def which(self, name):
        return shutil.which(name)

    def warn(self, text):
        self.warnings.append(text)


def fetch_params(tmp_path, url, **extra):
    params = dict(name="data", urls=[url], sha256=SHA, path=str(tmp_path / "relay" / "data" / "data.bin"),
                  downloader="curl", retries=0, retry_wait=0, timeout=10, rate_limit="", connections=1,
                  rehash=False)
    params.update(extra)
    return params


needs_curl = pytest.mark.skipif(not shutil.which("curl"), reason="curl is not installed")


# -- fetch ----------------------------------------------------------------------------------------
@needs_curl
def test_a_download_is_verified_recorded_and_not_repeated(tmp_path, upstream):
    base, _control, entries = upstream
    params = fetch_params(tmp_path, f"{base}/data.bin")
    result = dataset.fetch(params, False, Host())
    assert result["state"] == "downloaded" and result["changed"] is True
    assert result["bytes"] == len(DATA) and result["size"] == len(DATA) and result["sha256"] == SHA
    assert result["mbps"] > 0 and result["attempts"] == 1
    record = json.loads(Path(params["path"] + ".hpcdl.json").read_text())
    assert record["sha256"] == SHA and record["size"] == len(DATA) and record["verified"] is True
    assert not Path(result["partial"]).exists()
    again = dataset.fetch(params, False, Host())
    assert again["changed"] is False and again["state"] == "present" and again["bytes"] == 0
    assert len(entries(at_least=1)) == 1  # the second run asked the upstream nothing


@needs_curl
def test_a_cut_download_keeps_its_partial_file_and_the_next_run_resumes_it(tmp_path, upstream):
    base, control, entries = upstream
    params = fetch_params(tmp_path, f"{base}/data.bin", retries=1)
    (control / "cut-at").write_text(str(len(DATA) // 2))
    with pytest.raises(dataset.DatasetError) as cut:
        dataset.fetch(params, False, Host())
    message, found = cut.value.args
    partial = Path(found["partial"])
    kept = partial.stat().st_size
    assert 0 < kept <= len(DATA) // 2
    assert "dataset item data: the download failed after 2 attempt(s)" in message
    assert f"The partial copy ({kept} bytes) is kept at {partial}: the next run resumes from it." in message
    assert not Path(params["path"]).exists()
    (control / "cut-at").unlink()
    (control / "down").unlink()
    result = dataset.fetch(params, False, Host())
    assert result["state"] == "resumed" and result["resumed_from"] == kept
    assert result["bytes"] == len(DATA) - kept
    resumed = entries(last={"range": f"bytes={kept}-"})[-1]
    assert resumed["range"] == f"bytes={kept}-" and resumed["bytes"] == len(DATA) - kept
    assert dataset.sha256_file(params["path"]) == SHA


@needs_curl
def test_a_download_whose_sha256_differs_is_removed_and_named(tmp_path, upstream):
    base, _control, _entries = upstream
    params = fetch_params(tmp_path, f"{base}/data.bin", sha256="0" * 64)
    with pytest.raises(dataset.DatasetError) as bad:
        dataset.fetch(params, False, Host())
    message, found = bad.value.args
    zeros = "0" * 64
    assert f"dataset item data: the download from {base}/data.bin has sha256 {SHA}, not the expected {zeros}" in message
    assert "the bad copy was removed" in message and found["removed"] == [found["partial"]]
    assert list((tmp_path / "relay" / "data").iterdir()) == []


@needs_curl
def test_a_missing_file_fails_after_the_retries_and_leaves_nothing(tmp_path, upstream):
    base, _control, entries = upstream
    params = fetch_params(tmp_path, f"{base}/nothing.bin", retries=2)
    with pytest.raises(dataset.DatasetError) as missing:
        dataset.fetch(params, False, Host())
    assert "failed after 3 attempt(s)" in missing.value.args[0] and "404" in missing.value.args[0]
    assert "Nothing was kept." in missing.value.args[0]
    assert len(entries(at_least=3)) == 3


@needs_curl
def test_mirrors_are_tried_in_turn(tmp_path, upstream):
    base, _control, _entries = upstream
    params = fetch_params(tmp_path, f"{base}/data.bin", urls=[f"{base}/gone.bin", f"{base}/data.bin"], retries=1)
    result = dataset.fetch(params, False, Host())
    assert result["state"] == "downloaded" and result["attempts"] == 2 and result["url"] == f"{base}/data.bin"


@pytest.mark.skipif(not shutil.which("aria2c"), reason="aria2c is not installed")
def test_aria2c_resumes_a_cut_download(tmp_path, upstream):
    base, control, entries = upstream
    params = fetch_params(tmp_path, f"{base}/data.bin", downloader="aria2c")
    (control / "cut-at").write_text(str(len(DATA) // 2))
    with pytest.raises(dataset.DatasetError):
        dataset.fetch(params, False, Host())
    (control / "cut-at").unlink()
    (control / "down").unlink()
    result = dataset.fetch(params, False, Host())
    assert result["state"] == "resumed" and 0 < result["resumed_from"] < len(DATA)
    resumed = entries(last={"status": 206})[-1]
    assert resumed["status"] == 206 and resumed["bytes"] < len(DATA)
    assert dataset.sha256_file(params["path"]) == SHA
    assert not Path(result["partial"] + ".aria2").exists()


def test_check_mode_downloads_nothing(tmp_path):
    params = fetch_params(tmp_path, "http://127.0.0.1:9/data.bin")
    result = dataset.fetch(params, True, Host())
    assert result["changed"] is True and result["state"] == "would download"
    assert not (tmp_path / "relay").exists()


def write_copy(params, data=DATA, record=True):
    path = Path(params["path"])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    if record:
        dataset.write_record(params["path"] + ".hpcdl.json", params, hashlib.sha256(data).hexdigest(), params["path"])
    return path


def test_a_copy_placed_by_hand_is_verified_and_recorded(tmp_path):
    params = fetch_params(tmp_path, "http://127.0.0.1:9/data.bin")
    write_copy(params, record=False)
    result = dataset.fetch(params, False, Host())
    assert result["state"] == "present (verified again)" and result["changed"] is True
    assert json.loads(Path(params["path"] + ".hpcdl.json").read_text())["sha256"] == SHA


def test_a_damaged_copy_is_only_noticed_when_rehashing_then_removed(tmp_path):
    params = fetch_params(tmp_path, "http://127.0.0.1:9/data.bin")
    path = write_copy(params)
    st = path.stat()
    damaged = bytearray(DATA)
    damaged[10] ^= 0xFF
    path.write_bytes(bytes(damaged))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert dataset.fetch(params, False, Host())["state"] == "present"  # size and mtime as recorded
    host = Host()
    with pytest.raises(dataset.DatasetError) as refetch:  # removed, then fetched again: nothing answers on :9
        dataset.fetch(dict(params, rehash=True), False, host)
    assert refetch.value.args[1]["removed"] == [str(path)] and not path.exists()
    assert host.warnings and "dataset item data: the copy at" in host.warnings[0]


class Scripted(Host):
    """A host whose downloader answers from a script: [(rc, stdout, stderr, bytes appended)]."""

    def __init__(self, answers):
        super().__init__()
        self.answers = list(answers)

    def which(self, name):
        return "/usr/bin/" + name

    def run(self, argv):
        self.commands.append(list(argv))
        rc, out, err, data = self.answers.pop(0)
        if data is not None:
            if "--output" in argv:
                output = argv[argv.index("--output") + 1]
            else:
                option = {a.split("=", 1)[0]: a.split("=", 1)[1] for a in argv if a.startswith("--") and "=" in a}
                output = os.path.join(option["--dir"], option["--out"])
            with open(output, "ab") as handle:
                handle.write(data)
        return rc, out, err


def test_a_server_that_cannot_resume_starts_again_from_zero(tmp_path):
    params = fetch_params(tmp_path, "http://127.0.0.1:9/data.bin", retries=1)
    Path(dataset.partial_path(params["path"], SHA)).parent.mkdir(parents=True)
    Path(dataset.partial_path(params["path"], SHA)).write_bytes(DATA[:100])
    host = Scripted([(33, "200 0\n", "curl: (33) HTTP server doesn't seem to support byte ranges", None),
                     (0, f"200 {len(DATA)}\n", "", DATA)])
    result = dataset.fetch(params, False, host)
    assert result["state"] == "downloaded" and result["resumed_from"] == 0 and result["bytes"] == len(DATA)


def test_a_whole_partial_file_answered_416_goes_to_the_checksum(tmp_path):
    params = fetch_params(tmp_path, "http://127.0.0.1:9/data.bin")
    partial = Path(dataset.partial_path(params["path"], "0" * 64))
    partial.parent.mkdir(parents=True)
    partial.write_bytes(DATA)
    host = Scripted([(22, "416 0\n", "curl: (22) The requested URL returned error: 416", None)])
    with pytest.raises(dataset.DatasetError, match="has sha256 " + SHA):
        dataset.fetch(dict(params, sha256="0" * 64), False, host)


def test_a_whole_verified_partial_file_is_not_downloaded_again(tmp_path):
    params = fetch_params(tmp_path, "http://127.0.0.1:9/data.bin")
    partial = Path(dataset.partial_path(params["path"], SHA))
    partial.parent.mkdir(parents=True)
    partial.write_bytes(DATA)
    host = Scripted([])
    result = dataset.fetch(params, False, host)
    assert host.commands == [] and result["state"] == "resumed" and Path(params["path"]).exists()


def test_an_unverified_item_is_recorded_with_the_sha256_it_came_with(tmp_path):
    params = fetch_params(tmp_path, "http://127.0.0.1:9/data.bin", sha256="")
    host = Scripted([(0, f"200 {len(DATA)}\n", "", DATA)])
    result = dataset.fetch(params, False, host)
    assert result["sha256"] == SHA and result["verified"] is False
    assert "unverified" in host.warnings[0] and SHA in host.warnings[0]


def test_the_downloaders_command_lines():
    params = dict(timeout=30, rate_limit="20M", connections=4)
    curl = dataset.curl_argv("/usr/bin/curl", "https://h/x.bin", "/r/.x.part", params)
    assert curl[:2] == ["/usr/bin/curl", "-q"] and "--fail" in curl and curl[-1] == "https://h/x.bin"
    assert curl[curl.index("--continue-at") + 1] == "-" and curl[curl.index("--limit-rate") + 1] == "20M"
    aria = dataset.aria2c_argv("/usr/bin/aria2c", ["https://a/x", "https://b/x"], "/r/.x.part", params)
    assert "--continue=true" in aria and "--split=4" in aria and "--max-download-limit=20M" in aria
    assert "--dir=/r" in aria and "--out=.x.part" in aria and aria[-2:] == ["https://a/x", "https://b/x"]


# -- sync -----------------------------------------------------------------------------------------
STATS = """
Number of files: 1 (reg: 1)
Number of created files: 0
Number of deleted files: 0
Number of regular files transferred: 1
Total file size: 268,435,456 bytes
Total transferred file size: 268,435,456 bytes
Literal data: 134,217,728 bytes
Matched data: 134,217,728 bytes
File list size: 0
Total bytes sent: 134,283,311
Total bytes received: 65,571
"""


def test_rsync_stats_are_read_with_or_without_separators():
    figures = dataset.parse_rsync_stats(STATS)
    assert figures == {"transferred": 1, "size": 268435456, "literal": 134217728, "matched": 134217728,
                       "sent": 134283311, "received": 65571}
    assert dataset.parse_rsync_stats(STATS.replace(",", ""))["sent"] == 134283311
    assert dataset.parse_rsync_stats("Number of files transferred: 0")["transferred"] == 0  # rsync 3.0
    assert dataset.parse_rsync_stats("")["sent"] is None


def test_the_rsync_command_line():
    argv = dataset.rsync_argv("/usr/bin/rsync", dict(
        src="/relay/x.bin", dest="root@10.0.0.20:/srv/datasets/.hpcdl-staging/x/", partial_dir=".rsync-partial",
        timeout=60, bwlimit=40000, compress=False,
        ssh_args=["ssh", "-i", "/run/k dir/id", "-o", "StrictHostKeyChecking=yes"]))
    assert "--partial-dir=.rsync-partial" in argv and "--stats" in argv and "--bwlimit=40000" in argv
    assert argv[argv.index("-e") + 1] == "ssh -i '/run/k dir/id' -o StrictHostKeyChecking=yes"
    assert argv[-2:] == ["/relay/x.bin", "root@10.0.0.20:/srv/datasets/.hpcdl-staging/x/"]


def test_a_failed_rsync_names_the_item_and_what_ssh_said(tmp_path):
    src = tmp_path / "x.bin"
    src.write_bytes(b"x")
    host = Scripted([(255, "", "Host key verification failed.\nrsync: connection unexpectedly closed\n"
                      "rsync error: unexplained error (code 255) at io.c(232) [sender=3.2.7]\n", None)])
    with pytest.raises(dataset.DatasetError) as failed:
        dataset.sync(dict(name="x", src=str(src), dest="root@10.0.0.20:/s/", ssh_args=["ssh"], partial_dir=".p",
                          bwlimit=0, timeout=60, compress=False), False, host)
    message = failed.value.args[0]
    assert message.startswith("dataset item x: rsync to root@10.0.0.20:/s/ failed (exit 255, ssh failed")
    assert "Host key verification failed." in message and "the next run resumes from it" in message


@pytest.mark.skipif(not shutil.which("rsync"), reason="rsync is not installed")
def test_a_local_sync_reports_rsync_s_figures(tmp_path):
    src = tmp_path / "relay.bin"
    src.write_bytes(DATA)
    (tmp_path / "staging").mkdir()
    params = dict(name="x", src=str(src), dest=str(tmp_path / "staging") + "/", ssh_args=[], partial_dir=".p",
                  bwlimit=0, timeout=60, compress=False)
    result = dataset.sync(params, False, Host())
    assert result["transferred"] is True and result["literal"] == len(DATA) and result["bytes"] >= len(DATA)
    assert (tmp_path / "staging" / "relay.bin").read_bytes() == DATA
    again = dataset.sync(params, False, Host())
    assert again["transferred"] is False and again["changed"] is False and again["literal"] == 0


# -- install and status ---------------------------------------------------------------------------------
def tar_bytes(members):
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w:gz") as tar:
        for name, (kind, payload, mode) in members.items():
            info = tarfile.TarInfo(name)
            info.mode = mode
            if kind == "dir":
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            elif kind == "link":
                info.type, info.linkname = tarfile.SYMTYPE, payload
                tar.addfile(info)
            else:
                info.size = len(payload)
                tar.addfile(info, io.BytesIO(payload))
    return raw.getvalue()


SAMPLES = {"s/": ("dir", None, 0o700), "s/a.txt": ("file", b"alpha\n", 0o600),
           "s/bin/run": ("file", b"#!/bin/sh\n", 0o700)}


def install_params(tmp_path, data, unpack, name="item.tar.gz"):
    staging = tmp_path / "root" / ".hpcdl-staging" / "item"
    staging.mkdir(parents=True, exist_ok=True)
    (staging / name).write_bytes(data)
    return dict(name="item", staged=str(staging / name), sha256=hashlib.sha256(data).hexdigest(),
                dest=str(tmp_path / "root" / "item" if unpack else tmp_path / "root" / "item" / name), unpack=unpack,
                format="auto", state_file=str(tmp_path / "state" / "item.json"),
                partial_dir=str(staging / ".rsync-partial"))


def status_of(params, rehash=False):
    return dataset.status(dict(items=[dict(name="item", dest=params["dest"], state_file=params["state_file"])],
                               sha256={"item": params["sha256"]}, rehash=rehash), False, Host())


def test_a_verified_file_is_moved_into_place_and_recorded(tmp_path):
    params = install_params(tmp_path, DATA, unpack=False, name="data.bin")
    assert status_of(params)["needed"] == ["item"]
    result = dataset.install(params, False, Host())
    assert result["changed"] is True and result["kind"] == "file" and result["size"] == len(DATA)
    dest = Path(params["dest"])
    assert dest.read_bytes() == DATA and oct(dest.stat().st_mode & 0o777) == "0o644"
    assert not Path(params["staged"]).exists()
    assert status_of(params) == {"changed": False, "items": [
        {"name": "item", "dest": params["dest"], "state": "ok", "reason": "as recorded (size and mtime)"}],
        "needed": []}
    os.utime(dest, (1, 1))  # touched: hashed again, still the item
    assert status_of(params)["items"][0]["reason"] == "hashed again: matches"
    dest.write_bytes(b"changed")
    assert status_of(params)["items"][0]["state"] == "changed"
    dest.unlink()
    assert status_of(params)["items"][0]["state"] == "missing"
    assert status_of(dict(params, sha256="1" * 64))["items"][0]["state"] == "outdated"


def test_a_verified_archive_is_unpacked_into_a_new_folder_swapped_in_whole(tmp_path):
    params = install_params(tmp_path, tar_bytes(SAMPLES), unpack=True)
    old = Path(params["dest"])
    old.mkdir(parents=True)
    (old / "stale.txt").write_text("from the last version")
    result = dataset.install(params, False, Host())
    assert result["kind"] == "tree" and result["files"] == 2
    dest = Path(params["dest"])
    assert (dest / "s" / "a.txt").read_bytes() == b"alpha\n" and not (dest / "stale.txt").exists()
    assert oct((dest / "s" / "a.txt").stat().st_mode & 0o777) == "0o644"
    assert oct((dest / "s" / "bin" / "run").stat().st_mode & 0o777) == "0o755"
    assert oct((dest / "s").stat().st_mode & 0o777) == "0o755"
    assert not Path(params["staged"]).exists() and not Path(params["dest"] + ".hpcdl-new").exists()
    assert status_of(params)["needed"] == []
    (dest / "s" / "a.txt").write_bytes(b"ALPHA\n")  # same size: only a rehash sees it
    assert status_of(params)["needed"] == []
    assert status_of(params, rehash=True)["items"][0]["state"] == "changed"
    (dest / "s" / "a.txt").unlink()
    assert status_of(params)["items"][0]["state"] == "changed"


def test_a_zip_is_unpacked_too(tmp_path):
    raw = io.BytesIO()
    with zipfile.ZipFile(raw, "w") as zipped:
        zipped.writestr("z/one.txt", "one\n")
    params = install_params(tmp_path, raw.getvalue(), unpack=True, name="item.zip")
    assert dataset.install(params, False, Host())["files"] == 1
    assert (Path(params["dest"]) / "z" / "one.txt").read_text() == "one\n"


def test_a_staged_copy_whose_sha256_differs_is_removed_and_the_destination_kept(tmp_path):
    params = install_params(tmp_path, DATA, unpack=False, name="data.bin")
    Path(params["dest"]).parent.mkdir(parents=True)
    Path(params["dest"]).write_bytes(b"the version the node had")
    Path(params["partial_dir"]).mkdir()
    with pytest.raises(dataset.DatasetError) as bad:
        dataset.install(dict(params, sha256="0" * 64), False, Host())
    zeros = "0" * 64
    assert bad.value.args[0].startswith(f"dataset item item: the copy synced to this node has sha256 {SHA}, "
                                        f"not {zeros}")
    assert not Path(params["staged"]).exists() and not Path(params["partial_dir"]).exists()
    assert Path(params["dest"]).read_bytes() == b"the version the node had"


@pytest.mark.parametrize(("members", "why"), [
    ({"../evil.txt": ("file", b"x", 0o644)}, "would be written outside the folder"),
    ({"/etc/evil": ("file", b"x", 0o644)}, "would be written outside the folder"),
    ({"s/link": ("link", "/etc/passwd", 0o777)}, "is a link or a device"),
])
def test_an_archive_that_would_leave_its_folder_is_not_unpacked(tmp_path, members, why):
    params = install_params(tmp_path, tar_bytes(members), unpack=True)
    with pytest.raises(dataset.DatasetError) as refused:
        dataset.install(params, False, Host())
    assert why in refused.value.args[0] and "was left as it was" in refused.value.args[0]
    assert not Path(params["dest"]).exists() and not Path(params["dest"] + ".hpcdl-new").exists()
    assert not (tmp_path / "evil.txt").exists()


def test_check_mode_verifies_and_installs_nothing(tmp_path):
    params = install_params(tmp_path, DATA, unpack=False, name="data.bin")
    assert dataset.install(params, True, Host())["changed"] is True
    assert Path(params["staged"]).exists() and not Path(params["dest"]).exists()
