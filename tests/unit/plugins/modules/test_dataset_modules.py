"""The dataset modules end to end: main() in this process (run_main), on files under tmp_path."""
import hashlib
import json

from ansible_collections.hpcdl.gpu.plugins.modules import dataset_fetch, dataset_info, dataset_install, dataset_sync

DATA = b"hpcdl dataset module test\n" * 1000
SHA = hashlib.sha256(DATA).hexdigest()


def test_fetch_in_check_mode_says_it_would_download_and_keeps_its_own_state(run_main, tmp_path):
    path = tmp_path / "relay" / "x" / "x.bin"
    done = run_main(dataset_fetch, {"name": "x", "urls": ["http://127.0.0.1:9/x.bin"], "sha256": SHA,
                                    "path": str(path), "_ansible_check_mode": True})
    assert not done.failed
    # Not the file attributes AnsibleModule adds for a "path" or "dest" key (their "state" would hide ours).
    assert done.result["state"] == "would download" and "mode" not in done.result
    assert done.result["copy"] == str(path) and not path.parent.exists()


def test_fetch_leaves_a_recorded_copy_alone(run_main, tmp_path):
    path = tmp_path / "x.bin"
    path.write_bytes(DATA)
    args = {"name": "x", "urls": ["http://127.0.0.1:9/x.bin"], "sha256": SHA, "path": str(path)}
    first = run_main(dataset_fetch, args)
    assert not first.failed and first.result["changed"] is True  # verified and recorded
    second = run_main(dataset_fetch, args)
    assert second.result["changed"] is False and second.result["state"] == "present" and second.result["bytes"] == 0


def test_sync_fails_naming_an_item_the_relay_does_not_hold(run_main, tmp_path):
    done = run_main(dataset_sync, {"name": "x", "src": str(tmp_path / "missing.bin"), "dest": str(tmp_path) + "/"})
    assert done.failed
    assert done.result["msg"].startswith(f"dataset item x: {tmp_path}/missing.bin is not on the relay host")


def test_install_then_status(run_main, tmp_path):
    staged = tmp_path / "staging" / "x.bin"
    staged.parent.mkdir()
    staged.write_bytes(DATA)
    dest, state = tmp_path / "root" / "x" / "x.bin", tmp_path / "state" / "x.json"
    item = {"name": "x", "dest": str(dest), "state_file": str(state), "unpack": False}  # other keys ignored
    before = run_main(dataset_info, {"items": [item], "sha256": {"x": SHA}})
    assert before.result["needed"] == ["x"] and before.result["changed"] is False
    done = run_main(dataset_install, {"name": "x", "staged": str(staged), "sha256": SHA, "dest": str(dest),
                                      "state_file": str(state)})
    assert not done.failed and done.result["destination"] == str(dest) and "mode" not in done.result
    assert json.loads(state.read_text())["sha256"] == SHA
    after = run_main(dataset_info, {"items": [item], "sha256": {"x": SHA}})
    assert after.result["needed"] == [] and after.result["items"][0]["state"] == "ok"


def test_info_fails_naming_an_item_without_its_paths(run_main):
    done = run_main(dataset_info, {"items": [{"name": "x"}]})
    assert done.failed and done.result["msg"].startswith("an item of items has no dest, state_file")


def test_install_refuses_a_copy_whose_sha256_differs(run_main, tmp_path):
    staged = tmp_path / "x.bin"
    staged.write_bytes(DATA)
    done = run_main(dataset_install, {"name": "x", "staged": str(staged), "sha256": "0" * 64,
                                      "dest": str(tmp_path / "dest.bin"), "state_file": str(tmp_path / "s.json")})
    assert done.failed and "dataset item x: the copy synced to this node has sha256" in done.result["msg"]
    assert not staged.exists() and not (tmp_path / "dest.bin").exists()
