"""The dataset role's filters: dataset_plan (every path, every refusal) and dataset_relay_items."""
import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.hpcdl.gpu.plugins.filter.dataset import (
    FilterModule,
    dataset_by_name,
    dataset_expected_sha256,
    dataset_plan,
    dataset_relay_items,
    dataset_report,
    dataset_report_lines,
)

SHA = "a100b636f28b6f5cf8226589ce16bc00e0451ead6af9c68189dc6530c2d9811c"
OTHER = "4156270b99b66f1ba9bd784e74897717d310df7c8fa32bea9b98225a4463dd66"
BIG = {"name": "random", "url": "http://127.0.0.1:8080/dataset/random%20256M.bin?x=1", "sha256": SHA.upper()}
ARCHIVE = {"name": "samples", "urls": ["http://127.0.0.1:8080/s.tar.gz", "http://127.0.0.1:8081/s.tar.gz"],
           "sha256": OTHER, "unpack": True, "downloader": "aria2c"}


def plan(items, **kwargs):
    return dataset_plan(items, **kwargs)


def one_problem(items, **kwargs):
    problems = plan(items, **kwargs)["problems"]
    assert len(problems) == 1, problems
    return problems[0]


def test_filters_are_registered():
    assert set(FilterModule().filters()) == {"dataset_plan", "dataset_relay_items", "dataset_by_name",
                                             "dataset_expected_sha256", "dataset_report", "dataset_report_lines"}


def test_every_path_of_an_item_is_worked_out():
    result = plan([BIG, ARCHIVE], root="/srv/datasets/", relay_dir="/srv/relay", state_dir="/var/lib/ds")
    assert result["problems"] == []
    big, archive = result["items"]
    assert big == {
        "name": "random", "urls": [BIG["url"]], "sha256": SHA, "verified": True, "unpack": False,
        "downloader": "curl", "dest": "/srv/datasets/random/random 256M.bin", "file": "random 256M.bin",
        "relay_path": "/srv/relay/random/random 256M.bin",
        "staging": "/srv/datasets/.hpcdl-staging/random",
        "staged": "/srv/datasets/.hpcdl-staging/random/random 256M.bin",
        "partial_dir": "/srv/datasets/.hpcdl-staging/random/.rsync-partial",
        "state_file": "/var/lib/ds/random.json",
    }
    assert archive["dest"] == "/srv/datasets/samples"  # an archive is unpacked into a folder of its name
    assert archive["urls"] == ARCHIVE["urls"] and archive["downloader"] == "aria2c"


def test_a_dest_under_the_root_is_normalised():
    result = plan([dict(BIG, dest="/srv/datasets/./a//b/../c.bin")])
    assert result["problems"] == [] and result["items"][0]["dest"] == "/srv/datasets/a/c.bin"


def test_an_empty_list_plans_nothing():
    assert plan([]) == {"items": [], "problems": []}
    assert plan(None) == {"items": [], "problems": []}


@pytest.mark.parametrize(("items", "kwargs", "message"), [
    ([dict(BIG, dest="data/random.bin")], {},
     'dataset_items[0] (random): dest is "data/random.bin", a relative path: give an absolute path under '
     'dataset_root (/srv/datasets).'),
    ([dict(BIG, dest="/etc/random.bin")], {},
     'dataset_items[0] (random): dest is "/etc/random.bin", outside dataset_root (/srv/datasets)'),
    ([dict(BIG, dest="/srv/datasets/../etc/cron.d/x")], {}, "outside dataset_root (/srv/datasets)"),
    ([dict(BIG, dest="/srv/datasets")], {}, "outside dataset_root"),  # the root itself is no destination
    ([dict(BIG, dest="/srv/datasets-other/x")], {}, "outside dataset_root"),
    ([dict(BIG, dest="/srv/datasets/.hpcdl-staging/x")], {}, "inside the role's staging folder"),
    ([{"name": "random", "url": BIG["url"]}], {},
     "dataset_items[0] (random) has no sha256: give its sha256 (64 hex digits), or set dataset_allow_unverified "
     "to true to fetch it unverified on purpose."),
    ([dict(BIG, sha256="abc")], {}, 'dataset_items[0] (random): sha256 is "abc": give the 64 hex digits'),
    ([BIG, dict(ARCHIVE, name="random")], {},
     'dataset_items holds the name "random" twice (dataset_items[0] and dataset_items[1]): every item needs a '
     'name of its own.'),
    ([dict(BIG, name="../x")], {}, 'dataset_items[0] (../x): name is "../x": give a name of letters'),
    ([dict(BIG, url="file:///etc/passwd")], {}, '"file:///etc/passwd" is not an http, https or ftp URL of a file'),
    ([dict(BIG, url="http://host/")], {}, "is not an http, https or ftp URL of a file"),
    ([{"name": "x", "sha256": SHA}], {}, "dataset_items[0] (x) has no url"),
    ([dict(BIG, urls=[BIG["url"]])], {}, "gives both url and urls"),
    ([dict(BIG, unpack=True)], {}, 'unpack is true, but "random 256M.bin" is not an archive it can unpack'),
    ([dict(BIG, unpack="yes")], {}, 'unpack is "yes": give true or false'),
    ([dict(BIG, sha265=SHA)], {}, "dataset_items[0] (random) has unknown keys sha265"),
    ([dict(BIG, downloader="wget")], {}, 'downloader is "wget": give curl or aria2c'),
    ([BIG], {"root": "datasets"}, 'dataset_root is "datasets", a relative path: give an absolute path.'),
    ([BIG], {"root": "/"}, 'dataset_root is "/": give a folder of its own.'),
    ([BIG], {"relay_dir": "srv/relay"}, 'dataset_relay_dir is "srv/relay", a relative path'),
    ([BIG], {"state_dir": "/var/../tmp"}, 'dataset_state_dir is "/var/../tmp": give a path without ".."'),
    ([BIG], {"downloader": "wget"}, 'dataset_downloader is "wget": give curl or aria2c.'),
    ("random", {}, 'dataset_items is "random": give a list of items'),
    (["random"], {}, 'dataset_items[0] is "random": give a dict'),
])
def test_bad_input_is_named(items, kwargs, message):
    assert message in one_problem(items, **kwargs)


def test_overlapping_destinations_are_refused():
    problems = plan([dict(ARCHIVE, dest="/srv/datasets/a"), dict(BIG, dest="/srv/datasets/a/b.bin")])["problems"]
    assert problems and "overlap" in problems[0], problems


def test_an_item_without_sha256_passes_when_unverified_is_allowed():
    result = plan([{"name": "x", "url": "https://files.example.invalid/x.bin"}], allow_unverified=True)
    assert result["problems"] == []
    item = result["items"][0]
    assert item["sha256"] == "" and item["verified"] is False


def test_a_relay_serves_each_name_once_and_names_a_conflict():
    a = plan([BIG, ARCHIVE])["items"]
    b = plan([BIG])["items"]
    c = plan([dict(BIG, sha256=OTHER)])["items"]
    merged = dataset_relay_items([a, b])
    assert [i["name"] for i in merged["items"]] == ["random", "samples"] and merged["conflicts"] == []
    assert dataset_relay_items([a, c])["conflicts"] == ["random"]
    # Other nodes may put an item elsewhere on themselves: the relay's copy is the same.
    d = plan([dict(BIG, dest="/srv/datasets/elsewhere.bin")])["items"]
    assert dataset_relay_items([a, d])["conflicts"] == []


def test_relay_items_wants_a_list():
    with pytest.raises(AnsibleFilterError, match="dataset_relay_items"):
        dataset_relay_items("x")


# -- what a run moved ---------------------------------------------------------------------------------

FETCHED = {"results": [
    {"name": "random", "state": "resumed", "bytes": 134217728, "seconds": 0.49, "mbps": 276.74,
     "resumed_from": 134217728, "attempts": 1, "sha256": SHA},
    {"name": "samples", "state": "present", "bytes": 0, "seconds": 0.0, "mbps": 0.0, "resumed_from": 0,
     "attempts": 0, "sha256": OTHER},
    {"skipped": True, "item": {"name": "x"}},
]}
SYNCED = [{"name": "random", "bytes": 133118122, "literal": 133038976, "matched": 135396480, "seconds": 2.86,
           "mbps": 45.26, "transferred": True}]


def test_results_by_name_leave_skipped_items_out():
    assert set(dataset_by_name(FETCHED)) == {"random", "samples"}
    assert dataset_by_name(SYNCED)["random"]["literal"] == 133038976
    assert dataset_by_name({"skipped": True}) == {} and dataset_by_name(None) == {}


def test_the_expected_sha256_is_the_item_s_own_else_what_the_relay_got():
    items = plan([BIG, {"name": "free", "url": "http://127.0.0.1:9/f.bin"}], allow_unverified=True)["items"]
    fetched = {"free": {"name": "free", "sha256": OTHER}}
    assert dataset_expected_sha256(items, fetched) == {"random": SHA, "free": OTHER}
    assert dataset_expected_sha256(items, {}) == {"random": SHA, "free": ""}


def test_the_report_says_what_moved_on_each_leg():
    items = plan([BIG, ARCHIVE])["items"]
    report = dataset_report(items, dataset_by_name(FETCHED), dataset_by_name(SYNCED), ["random"],
                            relay="jump", node="gpu1")
    assert report[0]["upstream"] == {"state": "resumed", "bytes": 134217728, "seconds": 0.49, "mbps": 276.74,
                                     "resumed_from": 134217728, "attempts": 1}
    assert report[0]["node_leg"]["state"] == "synced" and report[0]["node_leg"]["literal"] == 133038976
    assert report[1]["node_leg"] == {"state": "present", "bytes": 0, "literal": 0, "matched": 0, "seconds": 0,
                                     "mbps": 0}
    assert dataset_report_lines(report) == [
        "random: upstream -> jump: 134217728 bytes in 0.49 s (276.74 MB/s), resumed from 134217728 bytes | "
        "jump -> gpu1: 133118122 bytes in 2.86 s (45.26 MB/s; literal 133038976, matched 135396480)",
        "samples: upstream -> jump: 0 bytes (already on jump, verified) | jump -> gpu1: 0 bytes (already on gpu1, "
        "verified)",
    ]
    checked = dataset_report(items, {}, {}, ["random", "samples"], relay="jump", node="gpu1", check_mode=True)
    assert [e["node_leg"]["state"] for e in checked] == ["would sync", "would sync"]
    assert dataset_report_lines(checked)[0] == "random: upstream -> jump: not run | jump -> gpu1: would sync"
