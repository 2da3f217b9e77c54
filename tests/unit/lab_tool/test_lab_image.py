"""The base image's cache key and the Debian mirror it is built from."""
import hashlib

import pytest
from hpcdl_lab import image

MIRROR = "http://127.0.0.1:3142/debian"  # a local apt cache's address: the parser only reads it


@pytest.fixture
def recipe(tmp_path):
    folder = tmp_path / "image"
    (folder / "files").mkdir(parents=True)
    (folder / "build-rootfs.sh").write_text("#!/bin/bash\necho build\n")
    (folder / "files" / "sshd.conf").write_text("PermitRootLogin prohibit-password\n")
    return folder


def test_recipe_hash_is_the_digest_of_names_and_contents_in_order(recipe):
    """The algorithm the image tags already built were named with: a change would rebuild them."""
    expected = hashlib.sha256()
    for name in ("build-rootfs.sh", "files/sshd.conf"):
        expected.update(name.encode())
        expected.update((recipe / name).read_bytes())
    assert image.recipe_hash(recipe) == expected.hexdigest()[:12]


def test_recipe_hash_is_stable_and_follows_every_change(recipe):
    first = image.recipe_hash(recipe)
    assert image.recipe_hash(recipe) == first
    (recipe / "files" / "sshd.conf").write_text("PermitRootLogin no\n")
    edited = image.recipe_hash(recipe)
    assert edited != first
    (recipe / "files" / "motd").write_text("lab\n")
    added = image.recipe_hash(recipe)
    assert added not in (first, edited)
    (recipe / "files" / "motd").rename(recipe / "files" / "issue")
    assert image.recipe_hash(recipe) not in (first, edited, added)


@pytest.fixture
def apt(tmp_path, monkeypatch):
    monkeypatch.delenv("HPCDL_LAB_MIRROR", raising=False)
    (tmp_path / "sources.list.d").mkdir()
    return tmp_path


def mirror(apt):
    return image.host_mirror(apt / "sources.list.d", apt / "sources.list")


def test_deb822_sources_for_bookworm(apt):
    (apt / "sources.list.d" / "debian.sources").write_text(
        f"Types: deb\nURIs: {MIRROR}\nSuites: bookworm bookworm-updates\nComponents: main\n")
    (apt / "sources.list").write_text("deb http://127.0.0.2/other bookworm main\n")
    assert mirror(apt) == MIRROR


def test_deb822_sources_for_another_suite_are_passed_over(apt):
    (apt / "sources.list.d" / "a-trixie.sources").write_text(
        "Types: deb\nURIs: http://127.0.0.2/trixie\nSuites: trixie\nComponents: main\n")
    (apt / "sources.list.d" / "b-debian.sources").write_text(
        f"Types: deb\nURIs: {MIRROR}\nSuites: bookworm\nComponents: main\n")
    assert mirror(apt) == MIRROR


def test_sources_list_when_no_deb822_file_names_bookworm(apt):
    (apt / "sources.list").write_text(
        "# deb http://127.0.0.2/commented bookworm main\n"
        "deb-src http://127.0.0.3/src bookworm main\n"
        "deb http://127.0.0.4/security bookworm-security main\n"
        f"deb {MIRROR} bookworm main contrib\n")
    assert mirror(apt) == MIRROR


def test_debians_own_mirror_when_nothing_names_bookworm(apt):
    assert mirror(apt) == image.DEFAULT_MIRROR == "http://deb.debian.org/debian"


def test_the_environment_wins(apt, monkeypatch):
    (apt / "sources.list").write_text("deb http://127.0.0.2/debian bookworm main\n")
    monkeypatch.setenv("HPCDL_LAB_MIRROR", MIRROR)
    assert mirror(apt) == MIRROR


def test_each_release_has_a_tag_of_its_own_and_bookworm_keeps_the_plain_digest(recipe):
    plain = image.recipe_hash(recipe)
    tags = {release: image.image_tag(release, recipe) for release in image.RELEASES}
    assert tags["bookworm"] == f"hpcdl-lab-base:{plain}"  # the default's tag: what every lab host and artifact uses
    assert tags["trixie"].startswith("hpcdl-lab-base:trixie-")
    assert tags["bullseye"].startswith("hpcdl-lab-base:bullseye-")
    assert len(set(tags.values())) == 3
    assert tags["trixie"].split("-")[-1] != plain  # the release is part of the digest, not only of the name
    (recipe / "build-rootfs.sh").write_text("#!/bin/bash\necho changed\n")
    assert all(image.image_tag(release, recipe) != tags[release] for release in image.RELEASES)


def test_an_unknown_release_is_refused_naming_the_ones_the_lab_builds(recipe):
    with pytest.raises(image.LabError, match=r"Debian release 'buster': the lab builds bookworm, trixie, bullseye"):
        image.image_tag("buster", recipe)
