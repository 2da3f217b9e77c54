"""hpcdl.gpu.dataset end to end on localhost, the node its own relay host (dataset_relay_host: localhost).

A real run (not check mode), every path under tmp_path, the upstream the lab's range server
(molecule/dataset/files/range_http.py) on loopback: the item is fetched, verified, copied into
dataset_root and reported; a second run changes nothing and asks the upstream nothing; a check-mode
run changes nothing either. It needs curl and rsync on this machine (the role would install rsync
with the package manager otherwise), so it is skipped without them. The lab (molecule/dataset)
runs the same role across hosts, over SSH.
"""
import hashlib
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import threading
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest
from check_play import BIN, role_play

ROOT = Path(__file__).resolve().parents[2]
DATA = hashlib.shake_256(b"hpcdl local dataset").digest(5 << 20)
SHA = hashlib.sha256(DATA).hexdigest()
RECAP = re.compile(r"^localhost\s+:\s+ok=\d+\s+changed=(\d+)\s+unreachable=0\s+failed=(\d+)", re.M)

pytestmark = pytest.mark.skipif(not (shutil.which("curl") and shutil.which("rsync")), reason="needs curl and rsync")


@pytest.fixture
def upstream(tmp_path):
    path = ROOT / "molecule" / "dataset" / "files" / "range_http.py"
    spec = importlib.util.spec_from_file_location("range_http", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    (tmp_path / "www").mkdir()
    (tmp_path / "www" / "data.bin").write_bytes(DATA)
    server = ThreadingHTTPServer(("127.0.0.1", 0), module.Handler)
    server.daemon_threads = True
    server.root, server.log, server.control = str(tmp_path / "www"), str(tmp_path / "log.jsonl"), str(tmp_path)
    server.log_lock = threading.Lock()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", Path(server.log)
    server.shutdown()
    server.server_close()


def run(tmp_path, base, *args):
    variables = {"dataset_relay_host": "localhost", "dataset_root": str(tmp_path / "datasets"),
                 "dataset_relay_dir": str(tmp_path / "relay"), "dataset_state_dir": str(tmp_path / "state"),
                 "dataset_items": [{"name": "data", "url": f"{base}/data.bin", "sha256": SHA}]}
    (tmp_path / "play.yml").write_text(role_play("dataset"))
    (tmp_path / "vars.json").write_text(json.dumps(variables))
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_LOCALHOST_WARNING="false", ANSIBLE_DEPRECATION_WARNINGS="false",
               ANSIBLE_INVENTORY_UNPARSED_WARNING="false")
    proc = subprocess.run([str(BIN / "ansible-playbook"), "-i", "localhost,", "-c", "local", "play.yml",
                           "-e", f"ansible_python_interpreter={sys.executable}", "-e", "@vars.json", *args],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False)
    recap = RECAP.search(proc.stdout)
    assert proc.returncode == 0 and recap, proc.stdout[-4000:] + proc.stderr[-2000:]
    return int(recap.group(1)), proc.stdout


def test_fetched_copied_reported_then_nothing_moves(tmp_path, upstream):
    base, log = upstream
    changed, out = run(tmp_path, base)
    assert changed > 0
    dest = tmp_path / "datasets" / "data" / "data.bin"
    assert hashlib.sha256(dest.read_bytes()).hexdigest() == SHA
    assert oct(dest.stat().st_mode & 0o777) == "0o644"
    assert f"data: upstream -> localhost: {len(DATA)} bytes in" in out
    assert "localhost -> localhost: " in out and f"literal {len(DATA)}, matched 0" in out
    assert len(log.read_text().splitlines()) == 1

    changed, out = run(tmp_path, base)
    assert changed == 0, out[-3000:]
    assert ("data: upstream -> localhost: 0 bytes (already on localhost, verified) | localhost -> localhost: "
            "0 bytes") in out
    changed, out = run(tmp_path, base, "--check")
    assert changed == 0, out[-3000:]
    assert len(log.read_text().splitlines()) == 1  # neither rerun asked the upstream anything
