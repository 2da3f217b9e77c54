"""hpcdl.gpu.dataset refuses bad input in its preflight, before anything is fetched or synced.

Runs the role on localhost with `-c local --check` (check_play.py): each case asserts the message a
user sees, naming the variable, and that nothing but the first step, the plan (read-only) and the
preflight ran. Every URL is a closed port on loopback. Good input passes the preflight, and in check
mode the fetch says it would download and moves nothing. The jupyter role's dataset mount is
refused the same way when its folder is a relative path. The lab (molecule/dataset) proves the
good path, and one refusal there (a relay host not in the inventory) on real hosts.
"""
import json

import pytest
from check_play import ARGSPEC_TASK, FIRST_STEP, assert_refused, role_play, run_check_play, task_names

PLAY = role_play("dataset")
SHA = "a100b636f28b6f5cf8226589ce16bc00e0451ead6af9c68189dc6530c2d9811c"
ITEM = {"name": "random", "url": "http://127.0.0.1:9/dataset/random.bin", "sha256": SHA}
PLAN = {
    "Work out each item's paths on the relay host and the node, and the node's relay host",
    "Gather the relay host's facts (its OS family names its packages)",
}
PREFLIGHT = {
    "Check that this OS is one the role has values for",
    "Check dataset_items, dataset_root and the other folders",
    "Check that the relay host is a host of the inventory",
    "Check that the relay host's OS is one the role has values for",
    "Check that the nodes of one relay host agree on every item",
    "Check the download and sync settings",
}


def settings(tmp_path, **overrides):
    return {"dataset_relay_host": "localhost", "dataset_items": [ITEM], "dataset_root": str(tmp_path / "datasets"),
            "dataset_relay_dir": str(tmp_path / "relay"), "dataset_state_dir": str(tmp_path / "state"), **overrides}


CASES = {
    "relative_dest": (
        {"dataset_items": [dict(ITEM, dest="random/random.bin")]},
        'dataset_items[0] (random): dest is "random/random.bin", a relative path: give an absolute path under '
        "dataset_root"),
    "dest_outside_the_root": (
        {"dataset_items": [dict(ITEM, dest="/etc/random.bin")]},
        'dataset_items[0] (random): dest is "/etc/random.bin", outside dataset_root'),
    "dest_escaping_the_root": (
        {"dataset_items": [dict(ITEM, dest="/DATASETS/../etc/cron.d/random")]}, "outside dataset_root"),
    "missing_sha256": (
        {"dataset_items": [{"name": "random", "url": ITEM["url"]}]},
        "dataset_items[0] (random) has no sha256: give its sha256 (64 hex digits), or set dataset_allow_unverified "
        "to true to fetch it unverified on purpose."),
    "duplicate_names": (
        {"dataset_items": [ITEM, dict(ITEM, url="http://127.0.0.1:9/dataset/other.bin")]},
        'dataset_items holds the name "random" twice (dataset_items[0] and dataset_items[1])'),
    "relay_not_in_the_inventory": (
        {"dataset_relay_host": "relay-nowhere"},
        'dataset_relay_host is "relay-nowhere", which is not a host of this inventory'),
    "relative_root": (
        {"dataset_root": "datasets"}, 'dataset_root is "datasets", a relative path: give an absolute path'),
    "relative_relay_dir": ({"dataset_relay_dir": "relay"}, 'dataset_relay_dir is "relay", a relative path'),
    "not_a_url": (
        {"dataset_items": [dict(ITEM, url="file:///etc/shadow")]},
        '"file:///etc/shadow" is not an http, https or ftp URL of a file'),
    "unpack_a_file_that_is_not_an_archive": (
        {"dataset_items": [dict(ITEM, unpack=True)]}, 'unpack is true, but "random.bin" is not an archive'),
    "rate_limit_not_a_rate": (
        {"dataset_download_rate_limit": "fast"}, 'dataset_download_rate_limit ("fast") empty or bytes a second'),
}


def run_play(tmp_path, overrides, args=()):
    variables = settings(tmp_path, **overrides)
    # "/DATASETS" in a case stands for the root under tmp_path.
    variables = json.loads(json.dumps(variables).replace("/DATASETS", variables["dataset_root"]))
    return run_check_play(tmp_path, PLAY, variables, args=args)


@pytest.mark.parametrize(("overrides", "message"), CASES.values(), ids=CASES.keys())
def test_bad_input_is_refused_before_anything_moves(tmp_path, overrides, message):
    assert_refused(run_play(tmp_path, overrides), "dataset", message, PLAN | PREFLIGHT)
    assert not (tmp_path / "relay").exists() and not (tmp_path / "datasets").exists()


def test_an_unknown_key_in_an_item_is_refused_by_the_argument_specs(tmp_path):
    proc = run_play(tmp_path, {"dataset_items": [dict(ITEM, sha265=SHA)]})
    output = proc.stdout + proc.stderr
    assert proc.returncode == 2, output
    assert "sha265" in output and "dataset_items" in output
    assert task_names("dataset", proc.stdout)[-1].startswith(ARGSPEC_TASK)


def test_good_input_passes_and_check_mode_moves_nothing(tmp_path):
    proc = run_play(tmp_path, {})
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    ran = task_names("dataset", proc.stdout)
    assert PREFLIGHT - {"Check that the relay host's OS is one the role has values for"} <= set(ran), ran
    assert "Fetch each item on the relay host (resuming a partial download) and verify its sha256" in ran
    assert "random: upstream -> localhost: would download | localhost -> localhost: would sync" in proc.stdout
    assert not (tmp_path / "relay").exists() and not (tmp_path / "datasets").exists()


def test_an_unverified_item_passes_when_allowed_on_purpose(tmp_path):
    proc = run_play(tmp_path, {"dataset_items": [{"name": "random", "url": ITEM["url"]}],
                               "dataset_allow_unverified": True})
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_no_items_do_nothing(tmp_path):
    proc = run_play(tmp_path, {"dataset_items": []})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    ran = [n for n in task_names("dataset", proc.stdout) if not n.startswith(ARGSPEC_TASK) and n not in FIRST_STEP]
    assert "Fetch each item on the relay host (resuming a partial download) and verify its sha256" in ran  # skipped
    assert "changed=0" in proc.stdout and "ok: [localhost] => (item=" not in proc.stdout


def test_the_notebook_refuses_a_relative_dataset_folder(tmp_path):
    good = {"jupyter_token": "hpcdl-test-token-0123456789abcdef", "jupyter_bind_address": "127.0.0.1",
            "jupyter_runtime": "", "jupyter_image": "hpcdl-test/no-such-image:0", "jupyter_image_pull": True}
    proc = run_check_play(tmp_path, role_play("jupyter"), {**good, "jupyter_dataset_dir": "datasets"})
    assert_refused(proc, "jupyter", 'jupyter_dataset_dir ("datasets") and jupyter_container_dataset_dir when the '
                   "first is set", {"Check that the notebook asks for a token or a password",
                                    "Check the ports, the GPU list and the folders", "Look for the container engine",
                                    "Note whether Docker is missing in a check-mode run (the docker role comes first "
                                    "in a real one)", "Look for the image on the node"})
