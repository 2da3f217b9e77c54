"""The dataset role on the lab, judged by what the hosts hold and what the upstream served.

The upstream is the internet host's range server (prepare.yml, files/range_http.py): every request is
a JSON line in /var/log/hpcdl-lab-range.jsonl with the bytes really sent, and writing a byte offset to
/run/hpcdl-lab-range/cut-at makes it reset the connection there (and every later one, until the test
clears it). The relay host is jump (the default: the lab has no relay_hosts group); gpu1 reaches the
internet host only through its tunnel, jump directly.

The tests run in this order: what converge left (relay copies, node copies, the figures it reported,
the upstream log, no key left); a download cut halfway and resumed; a sync cut halfway and resumed; a
corrupted download refused; a damaged relay copy stopped on the node; bad input refused before anything
moves; and last, gpu1 wiped (removed and created again: same address, new host key) and brought back,
the datasets from the relay host with no upstream byte, the notebook container seeing them read-only at
/home/jovyan/datasets. gpu1 lacks the small archive after the fourth (it is synced again by the wipe test).
"""
import json
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml
from labhosts import GPUS, INTERNET_IP, INVENTORY, LAB_VARS, LOG, PROJECT, RUNNER, SCENARIO_DIR, ansible_playbook, host

GPU = GPUS[0]
GPU_IP = RUNNER.get_variables(GPU)["ansible_host"]
LAB = LAB_VARS["hpcdl_lab_name"]
LAB_STATE = Path(LAB_VARS["ansible_control_path_dir"]).parent
UPSTREAM = f"http://{INTERNET_IP}:8080/dataset"
RANGE_LOG = "/var/log/hpcdl-lab-range.jsonl"
CONTROL = "/run/hpcdl-lab-range"

BIG, BIG_FILE, BIG_SIZE = "lab-random", "hpcdl-lab-random-256M.bin", 268435456
SAMPLES, SAMPLES_FILE = "lab-samples", "hpcdl-lab-samples.tar.gz"
RELAY_DIR, ROOT, STATE = "/srv/hpcdl-datasets", "/srv/datasets", "/var/lib/hpcdl/dataset"
RELAY_BIG = f"{RELAY_DIR}/{BIG}/{BIG_FILE}"
RELAY_SAMPLES = f"{RELAY_DIR}/{SAMPLES}/{SAMPLES_FILE}"
NODE_BIG = f"{ROOT}/{BIG}/{BIG_FILE}"
NODE_SAMPLES = f"{ROOT}/{SAMPLES}"
STAGING_BIG = f"{ROOT}/.hpcdl-staging/{BIG}"
NOTEBOOK_DATASETS = "/home/jovyan/datasets"  # jupyter_container_dataset_dir
REPORT_TASK = "TASK [hpcdl.gpu.dataset : Record what moved, per item and leg"


def published_sha256(name):
    """The sha256 the lab publishes beside a file (read from the lab's own web server, port 80)."""
    out = subprocess.run(["curl", "-sS", "--noproxy", "*", f"http://{INTERNET_IP}/dataset/{name}.sha256"],
                         capture_output=True, text=True, check=True).stdout
    return out.split()[0]


SHA = {BIG: published_sha256(BIG_FILE), SAMPLES: published_sha256(SAMPLES_FILE)}
PARTIAL_BIG = f"{RELAY_DIR}/{BIG}/.{BIG_FILE}.{SHA[BIG][:16]}.part"


def sha256(name, path):
    return host(name).check_output(f"sha256sum {path}").split()[0]


def size(name, path):
    result = host(name).run(f"stat -c %s {path}")
    return int(result.stdout) if result.rc == 0 else None


def upstream_log():
    """Every request the upstream answered, in order."""
    text = host("internet").file(RANGE_LOG).content_string
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def served(entries, name=None):
    return sum(e["bytes"] for e in entries if e["method"] == "GET" and (name is None or e["path"].endswith(name)))


def report(output):
    """The dataset_report fact of the run (the role records it per node): {item name: entry}."""
    lines = output.splitlines()
    for index, line in enumerate(lines):
        if line.startswith(REPORT_TASK):
            for after in lines[index + 1:]:
                match = re.match(rf"^ok: \[{GPU}\] => (\{{.*\}})$", after)
                if match:
                    entries = json.loads(match.group(1))["ansible_facts"]["dataset_report"]
                    return {entry["name"]: entry for entry in entries}
    raise AssertionError(f"the run recorded no dataset_report:\n{output[-3000:]}")


RESULT = re.compile(r"^(ok|changed|fatal|failed): \[([^\]]+)\](?::? FAILED!)?(?: (?:=> )?\(item=[^)]*\))? => (\{.*\})$")


def results(output, task):
    """[(status, host, result)] of the task whose name starts with `task` (one JSON line per result)."""
    found, inside = [], False
    for line in output.splitlines():
        if line.startswith("TASK ["):
            inside = line.startswith(f"TASK [{task}")
        elif inside and (match := RESULT.match(line)):
            found.append((match.group(1), match.group(2), json.loads(match.group(3))))
    return found


def failure(output):
    """The failed task's message, whole."""
    for line in output.splitlines():
        match = RESULT.match(line)
        if match and match.group(1) in ("fatal", "failed"):
            result = json.loads(match.group(3))
            if result.get("msg") and not str(result["msg"]).startswith("One or more items failed"):
                return result["msg"]
    raise AssertionError(f"no failed task in:\n{output[-3000:]}")


def play(*args, extra=None, playbook=None):
    """The scenario's converge.yml (or `playbook`) with -v, so that every result is printed (as one JSON line)."""
    return ansible_playbook("-v", *args, playbook=playbook, extra=extra, cwd=SCENARIO_DIR)


def molecule_sections():
    """[(action, text)] of this scenario's log, each step's text with Molecule's frame and wrapping
    undone (its lines joined with single spaces), so that a sentence the play printed is found whole."""
    assert LOG.is_file(), f"{LOG} is missing: run the scenario through tests/test_molecule.py"
    parts = re.split(r"^===== molecule (\S+) -s dataset \([0-9.]+ s, rc=-?\d+\)\n", LOG.read_text(), flags=re.M)
    return [(parts[i], " ".join(re.sub(r"[│┌└─]", " ", parts[i + 1]).split())) for i in range(1, len(parts) - 1, 2)]


# -- 1. what converge left ------------------------------------------------------------------------
@pytest.mark.parametrize(("item", "path"), [(BIG, RELAY_BIG), (SAMPLES, RELAY_SAMPLES)])
def test_the_relay_host_keeps_a_verified_copy(item, path):
    assert sha256("jump", path) == SHA[item]
    record = json.loads(host("jump").file(path + ".hpcdl.json").content_string)
    assert record["sha256"] == SHA[item] and record["verified"] is True
    assert record["size"] == size("jump", path)


def test_the_node_holds_the_verified_items_and_nothing_unverified():
    node = host(GPU)
    assert sha256(GPU, NODE_BIG) == SHA[BIG]
    assert node.file(NODE_BIG).mode == 0o644
    readme = node.file(f"{NODE_SAMPLES}/samples/README.txt")
    assert readme.content_string.startswith("hpcdl lab samples")
    assert node.file(f"{NODE_SAMPLES}/samples/tools/show.sh").mode == 0o755
    assert node.file(f"{NODE_SAMPLES}/samples/images").mode == 0o755
    assert len(node.check_output(f"ls {NODE_SAMPLES}/samples/images").split()) == 20
    assert node.check_output(f"find {NODE_SAMPLES} ! -user root | wc -l") == "0"  # not the archive's owners
    # The staging folder holds nothing once the items are in place, and only root reads it.
    assert node.check_output(f"find {ROOT}/.hpcdl-staging -type f | wc -l") == "0"
    assert node.file(f"{ROOT}/.hpcdl-staging").mode == 0o700
    for item in (BIG, SAMPLES):
        assert json.loads(node.file(f"{STATE}/{item}.json").content_string)["sha256"] == SHA[item]


def test_the_converge_reported_each_leg_and_the_rerun_moved_nothing():
    sections = molecule_sections()
    converge = [text for action, text in sections if action == "converge"][-1]
    idempotence = [text for action, text in sections if action == "idempotence"][-1]
    up = re.search(rf"{BIG}: upstream -> jump: (\d+) bytes in ([0-9.]+) s \(([0-9.]+) MB/s\)", converge)
    down = re.search(rf"jump -> {GPU}: (\d+) bytes in ([0-9.]+) s \(([0-9.]+) MB/s; literal (\d+), matched (\d+)\)",
                     converge[up.end():] if up else "")
    assert up and down, f"the converge did not report both legs of {BIG}: {converge[-3000:]}"
    print(f"converge, {BIG}: upstream -> jump {up.group(1)} bytes in {up.group(2)} s ({up.group(3)} MB/s); "
          f"jump -> {GPU} {down.group(1)} bytes in {down.group(2)} s ({down.group(3)} MB/s)")
    assert int(up.group(1)) == BIG_SIZE and float(up.group(3)) > 0
    assert int(down.group(4)) == BIG_SIZE and int(down.group(5)) == 0 and int(down.group(1)) >= BIG_SIZE
    for item in (BIG, SAMPLES):
        assert (f"{item}: upstream -> jump: 0 bytes (already on jump, verified) | jump -> {GPU}: 0 bytes "
                f"(already on {GPU}, verified)") in idempotence, idempotence[-3000:]
    # The upstream served each file once, whole (converge), and nothing after (idempotence, check).
    entries = upstream_log()
    assert [(e["path"].rsplit("/", 1)[1], e["status"], e["bytes"]) for e in entries] == [
        (BIG_FILE, 200, BIG_SIZE), (SAMPLES_FILE, 200, size("jump", RELAY_SAMPLES))]


def test_the_data_came_over_the_private_network_not_the_tunnel():
    """gpu1's tunnel (its only way to the internet host) carried less than the dataset; eth0 more."""
    node = host(GPU)
    tunnel = int(node.check_output("cat /sys/class/net/wg0/statistics/rx_bytes"))
    private = int(node.check_output("cat /sys/class/net/eth0/statistics/rx_bytes"))
    print(f"{GPU}: wg0 received {tunnel} bytes, eth0 {private}")
    assert tunnel < BIG_SIZE < private


def test_no_sync_key_is_left_behind():
    assert "hpcdl-dataset-sync" not in host(GPU).file("/root/.ssh/authorized_keys").content_string
    assert host("jump").check_output("find /run -maxdepth 1 -name 'hpcdl-dataset-sync.*' | wc -l") == "0"
    assert "PRIVATE KEY" not in LOG.read_text(errors="replace")


# -- 2. a download cut halfway resumes on the rerun ---------------------------------------------------
def test_a_download_cut_halfway_resumes_on_the_rerun():
    jump, internet = host("jump"), host("internet")
    assert jump.run(f"rm -f {RELAY_BIG} {RELAY_BIG}.hpcdl.json").rc == 0
    before = len(upstream_log())
    internet.check_output(f"echo {BIG_SIZE // 2} > {CONTROL}/cut-at")
    try:
        rc, out = play("-e", "dataset_download_retries=1", "-e", "dataset_download_retry_wait=1")
    finally:
        internet.run(f"rm -f {CONTROL}/cut-at {CONTROL}/down")
    assert rc == 2, out[-3000:]
    message = failure(out)
    print(message)
    kept = size("jump", PARTIAL_BIG)
    assert f"dataset item {BIG}: the download failed after 2 attempt(s)" in message
    assert f"The partial copy ({kept} bytes) is kept at {PARTIAL_BIG}: the next run resumes from it." in message
    cut = upstream_log()[before:]
    assert cut[0]["bytes"] == BIG_SIZE // 2 and cut[0]["complete"] is False, cut
    assert 0 < kept <= BIG_SIZE // 2
    assert not jump.file(RELAY_BIG).exists  # nothing unverified under the final name

    rc, out = play()
    assert rc == 0, out[-3000:]
    entry = report(out)[BIG]["upstream"]
    resumed = upstream_log()[before + len(cut):]
    print(f"rerun: resumed from {entry['resumed_from']} bytes, {entry['bytes']} bytes in {entry['seconds']} s "
          f"({entry['mbps']} MB/s); the upstream served {resumed}")
    assert entry["state"] == "resumed" and entry["resumed_from"] == kept
    assert entry["bytes"] == BIG_SIZE - kept < BIG_SIZE
    assert [(e["range"], e["status"], e["bytes"]) for e in resumed] == [(f"bytes={kept}-", 206, BIG_SIZE - kept)]
    assert sha256("jump", RELAY_BIG) == SHA[BIG]
    assert not jump.file(PARTIAL_BIG).exists


# -- 3. a sync cut halfway resumes on the rerun --------------------------------------------------------
CUT_SYNC = f"""
for i in $(seq 1200); do
  f=$(ls {STAGING_BIG}/.{BIG_FILE}.* 2>/dev/null | head -n 1)
  if [ -n "$f" ] && [ "$(stat -c %s "$f" 2>/dev/null || echo 0)" -ge {BIG_SIZE // 2} ]; then
    rsync=$(pgrep -o -f '^rsync --server')
    session=$(ps -o ppid= -p "$rsync" | tr -d ' ')
    echo "$(stat -c %s "$f") bytes in $f: killing sshd $session (the session of rsync $rsync)"
    kill -9 "$session"
    exit 0
  fi
  sleep 0.05
done
echo "the sync never reached half of {BIG_FILE}"
exit 1
"""


def test_a_sync_cut_halfway_resumes_on_the_rerun():
    node = host(GPU)
    assert node.run(f"rm -f {NODE_BIG} {STATE}/{BIG}.json").rc == 0
    done = {}

    # About 41 MB/s, so that the cut lands mid-transfer; the watcher on gpu1 kills the SSH session that
    # carries rsync once half the file has arrived: the connection drops under both ends.
    def converge_slowly():
        done["rc"], done["out"] = play("-e", "dataset_sync_bwlimit=40000")

    runner = threading.Thread(target=converge_slowly)
    runner.start()
    watcher = node.run(CUT_SYNC)
    runner.join(timeout=300)
    print(watcher.stdout)
    assert watcher.rc == 0, watcher.stdout + watcher.stderr
    assert done["rc"] == 2, done["out"][-3000:]
    message = failure(done["out"])
    print(message)
    assert f"dataset item {BIG}: rsync to root@{GPU_IP}:{STAGING_BIG}/ failed" in message
    assert "the next run resumes from it" in message
    kept = size(GPU, f"{STAGING_BIG}/.rsync-partial/{BIG_FILE}")
    assert kept and 0 < kept < BIG_SIZE, f"no partial file kept in {STAGING_BIG}/.rsync-partial"
    assert not node.file(NODE_BIG).exists  # nothing unverified reached the destination
    test_no_sync_key_is_left_behind()  # the key went although the sync failed

    rc, out = play()
    assert rc == 0, out[-3000:]
    entry = report(out)[BIG]
    leg = entry["node_leg"]
    print(f"rerun: {leg['bytes']} bytes on the wire in {leg['seconds']} s ({leg['mbps']} MB/s), literal "
          f"{leg['literal']}, matched {leg['matched']} (the partial file held {kept})")
    assert entry["upstream"]["bytes"] == 0
    assert leg["state"] == "synced" and leg["literal"] + leg["matched"] == BIG_SIZE
    assert leg["literal"] < BIG_SIZE and leg["bytes"] < BIG_SIZE and leg["matched"] >= kept - 2 ** 20
    assert sha256(GPU, NODE_BIG) == SHA[BIG]
    assert not node.file(f"{STAGING_BIG}/.rsync-partial").exists
    test_no_sync_key_is_left_behind()


# -- 4. checksums --------------------------------------------------------------------------------------
def test_a_download_whose_sha256_does_not_match_is_removed_and_never_synced():
    bad = "lab-samples-bad"
    item = {"name": bad, "url": f"{UPSTREAM}/hpcdl-lab-samples-corrupt.tar.gz", "sha256": SHA[SAMPLES], "unpack": True}
    rc, out = play(extra={"dataset_items": [item]})
    assert rc == 2, out[-3000:]
    message = failure(out)
    print(message)
    assert re.search(rf"dataset item {bad}: the download from {UPSTREAM}/hpcdl-lab-samples-corrupt.tar.gz has sha256 "
                     rf"[0-9a-f]{{64}}, not the expected {SHA[SAMPLES]}", message)
    assert "the bad copy was removed from" in message and "nothing was synced to the nodes" in message
    assert host("jump").check_output(f"ls -A {RELAY_DIR}/{bad}") == ""
    assert not host(GPU).file(f"{ROOT}/{bad}").exists


FLIP = ("import os, sys; p = sys.argv[1]; st = os.stat(p); f = open(p, 'r+b'); f.seek(100); b = f.read(1); "
        "f.seek(100); f.write(bytes([b[0] ^ 255])); f.close(); os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns))")


def test_a_damaged_relay_copy_never_reaches_the_node():
    """One byte of the relay's copy flipped in place, size and mtime kept: the relay's record still matches
    (it is not rehashed without dataset_rehash), so only the node's own check can catch it."""
    jump, node = host("jump"), host(GPU)
    jump.check_output(f"python3 -c \"{FLIP}\" {RELAY_SAMPLES}")
    try:
        node.check_output(f"rm -rf {NODE_SAMPLES} {STATE}/{SAMPLES}.json")
        rc, out = play()
        assert rc == 2, out[-3000:]
        message = failure(out)
        print(message)
        assert re.search(rf"dataset item {SAMPLES}: the copy synced to this node has sha256 [0-9a-f]{{64}}, not "
                         rf"{SHA[SAMPLES]}: it was removed from {ROOT}/.hpcdl-staging/{SAMPLES}/{SAMPLES_FILE} and "
                         rf"{NODE_SAMPLES} was left as it was", message)
        assert not node.file(NODE_SAMPLES).exists
        assert node.check_output(f"find {ROOT}/.hpcdl-staging -type f | wc -l") == "0"
    finally:
        jump.check_output(f"python3 -c \"{FLIP}\" {RELAY_SAMPLES}")  # flipped back (the unit tests cover a rehash)
    assert sha256("jump", RELAY_SAMPLES) == SHA[SAMPLES]


# -- 5. bad input --------------------------------------------------------------------------------------
def test_a_relay_host_not_in_the_inventory_is_refused_before_anything_moves():
    before = len(upstream_log())
    node_before = host(GPU).check_output(f"ls -A {ROOT}")
    rc, out = play("-e", "dataset_relay_host=relay-nowhere")
    assert rc == 2, out[-3000:]
    assert 'dataset_relay_host is "relay-nowhere", which is not a host of this inventory' in failure(out)
    assert len(upstream_log()) == before
    assert host(GPU).check_output(f"ls -A {ROOT}") == node_before


# -- 6. a wiped node gets its data back from the relay host ------------------------------------------------
def stop_control_masters():
    """The controller's ControlPersist masters still talk to the removed container: end them."""
    for sock in (LAB_STATE / "cp").iterdir():
        subprocess.run(["ssh", "-o", f"ControlPath={sock}", "-O", "exit", "lab"], capture_output=True, check=False)


def test_a_wiped_node_gets_its_data_back_from_the_relay_host_with_no_upstream_byte():
    before = len(upstream_log())
    started = host("internet").check_output("date +%s")
    subprocess.run(["docker", "rm", "-f", f"hpcdl-{LAB}-{GPU}"], check=True, capture_output=True)
    # The node comes back at the same address with a new host key: the lab's known_hosts
    # (StrictHostKeyChecking=accept-new) still holds the old one, and SSH would refuse the new node
    # (REMOTE HOST IDENTIFICATION HAS CHANGED), `lab up` first, until it goes; a re-rented cloud node, the same.
    subprocess.run(["ssh-keygen", "-R", GPU_IP, "-f", str(LAB_STATE / "known_hosts")], capture_output=True, check=True)
    stop_control_masters()
    up = subprocess.run([sys.executable, str(PROJECT / "lab" / "lab.py"), "up", "--name", LAB,
                         "--inventory", str(INVENTORY / "lab_hosts.yml")], capture_output=True, text=True, check=False)
    assert up.returncode == 0, up.stdout + up.stderr
    assert f"created {GPU}" in up.stdout, up.stdout
    inventory = yaml.safe_load((INVENTORY / "lab_hosts.yml").read_text())
    assert inventory["all"]["children"]["gpu_nodes"]["hosts"][GPU]["ansible_host"] == GPU_IP  # the same address

    rc, out = play(playbook=SCENARIO_DIR / "reprovision.yml")
    assert rc == 0, out[-4000:]
    entries = report(out)
    for item in (BIG, SAMPLES):
        print(f"{item}: upstream {entries[item]['upstream']}, relay -> node {entries[item]['node_leg']}")
        assert entries[item]["upstream"]["state"] == "present" and entries[item]["upstream"]["bytes"] == 0
        assert entries[item]["node_leg"]["state"] == "synced"
    assert entries[BIG]["node_leg"]["literal"] == BIG_SIZE
    # No upstream byte: no request reached the range server, nor the lab's own web server for /dataset/.
    assert upstream_log()[before:] == []
    www = host("internet").check_output(f"journalctl -u lab-www --since @{started} --no-pager -o cat")
    data = [line for line in www.splitlines() if re.search(r'"GET /dataset/\S*(?<!\.sha256) HTTP', line)]
    assert data == [], data  # (the controller reads the published .sha256 files there: not data)
    assert sha256(GPU, NODE_BIG) == SHA[BIG]

    # The notebook container sees the datasets, read-only, at the documented path, as its own user.
    node = host(GPU)
    mounts = json.loads(node.check_output("docker inspect --format '{{json .Mounts}}' hpcdl-jupyter"))
    mount = next(m for m in mounts if m["Destination"] == NOTEBOOK_DATASETS)
    assert mount["Source"] == ROOT and mount["RW"] is False, mount
    seen = node.check_output(f"docker exec -u 1000 hpcdl-jupyter sha256sum {NOTEBOOK_DATASETS}/{BIG}/{BIG_FILE}")
    assert seen.split()[0] == SHA[BIG]
    readme = f"{NOTEBOOK_DATASETS}/{SAMPLES}/samples/README.txt"
    assert node.check_output(f"docker exec -u 1000 hpcdl-jupyter cat {readme}").startswith("hpcdl lab samples")
    write = node.run(f"docker exec hpcdl-jupyter touch {NOTEBOOK_DATASETS}/written-by-the-notebook")
    assert write.rc != 0 and "Read-only file system" in write.stderr, write
    # The notebook's token (made into the lab's state folder) is in nothing this scenario printed.
    token = (LAB_STATE / "jupyter_tokens" / GPU).read_text().split()[0]
    assert token not in LOG.read_text(errors="replace")
