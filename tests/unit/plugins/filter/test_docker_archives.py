"""The docker role's image-archive filters: archive_file, archive_checksum_problems, archive_download_problems."""
import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.hpcdl.gpu.plugins.filter.docker_archives import (
    FilterModule,
    archive_checksum_problems,
    archive_download_problems,
    archive_file,
)

GOOD = "3f1c" + "0" * 60
BAD = "ab12" + "f" * 60
BUSYBOX_URL = {"image": "hpcdl-lab/busybox:1", "url": "http://127.0.0.1:8080/images/busybox.tar?sig=x#y",
               "sha256": GOOD}
JUPYTER_SRC = {"image": "hpcdl-lab/jupyter:1", "src": "/srv/archives/jupyter.tar", "sha256": GOOD.upper()}


def test_filters_are_registered():
    assert set(FilterModule().filters()) == {"archive_file", "archive_checksum_problems", "archive_download_problems"}


@pytest.mark.parametrize(("archive", "name"), [
    (BUSYBOX_URL, "busybox.tar"),  # the URL's path, without query or fragment
    (JUPYTER_SRC, "jupyter.tar"),
    ({"image": "x:1", "url": "", "src": "relative/dir/x.tar"}, "x.tar"),  # an empty url falls back to src
])
def test_archive_file(archive, name):
    assert archive_file(archive) == name


@pytest.mark.parametrize("archive", [{"image": "x:1", "url": "http://127.0.0.1/"}, {"image": "x:1"}, "x.tar"])
def test_archive_file_refuses_an_entry_without_a_file_name(archive):
    with pytest.raises(AnsibleFilterError, match="archive_file"):
        archive_file(archive)


def test_checksum_problems_name_each_missing_or_mismatching_archive():
    results = [
        {"item": JUPYTER_SRC, "stat": {"exists": True, "checksum": GOOD}},  # matches (case-insensitive sha256)
        {"item": dict(JUPYTER_SRC, src="/srv/gone.tar"), "stat": {"exists": False}},
        {"item": dict(JUPYTER_SRC, image="other:2"), "stat": {"exists": True, "checksum": BAD}},
        {"item": BUSYBOX_URL, "skipped": True},  # not a controller file: no stat
    ]
    assert archive_checksum_problems(results) == [
        "hpcdl-lab/jupyter:1: /srv/gone.tar does not exist on the controller.",
        f"other:2: /srv/archives/jupyter.tar has sha256 {BAD}, not {GOOD}.",
    ]
    assert archive_checksum_problems(results[:1]) == []
    assert archive_checksum_problems(None) == []


def test_download_problems_say_both_sums_of_a_mismatch_and_keep_other_messages():
    mismatch = (f"The checksum for /var/tmp/hpcdl-docker-images/busybox.tar did not match {GOOD}; "
                f"it was {BAD}.")  # get_url's own words (ansible/modules/get_url.py)
    results = [
        {"item": BUSYBOX_URL, "failed": True, "msg": mismatch},
        {"item": dict(BUSYBOX_URL, image="other:2"), "failed": True,
         "msg": "Request failed: <urlopen error [Errno 111] Connection refused>"},
        {"item": JUPYTER_SRC, "failed": False, "changed": True},
    ]
    assert archive_download_problems(results) == [
        f"hpcdl-lab/busybox:1 from {BUSYBOX_URL['url']}: the sha256 of the download is {BAD}, not the expected {GOOD}.",
        f"other:2 from {BUSYBOX_URL['url']}: Request failed: <urlopen error [Errno 111] Connection refused>",
    ]
    assert archive_download_problems([{"item": BUSYBOX_URL, "failed": True}]) == [
        f"hpcdl-lab/busybox:1 from {BUSYBOX_URL['url']}: download failed"]
