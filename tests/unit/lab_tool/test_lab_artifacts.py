"""Artifact recipes: built once per version, cached, published into a lab's www folder."""
import pytest
from hpcdl_lab import artifacts
from hpcdl_lab.common import LabError

BASE = "hpcdl-lab-base:0123456789ab"


@pytest.fixture
def recipes(tmp_path):
    folder = tmp_path / "artifacts"
    folder.mkdir()
    # Each run appends to runs.log, so a test can count the builds.
    (folder / "plain.sh").write_text(f'echo plain >> {tmp_path}/runs.log; echo hello > "$1/hello.txt"\n')
    (folder / "based.sh").write_text(f'echo based >> {tmp_path}/runs.log; echo "$LAB_BASE_IMAGE" > "$1/base"\n')
    (folder / "plain").mkdir()
    (folder / "plain" / "input.txt").write_text("one\n")
    return folder


def runs(tmp_path):
    log = tmp_path / "runs.log"
    return log.read_text().split() if log.exists() else []


def test_digest_follows_the_script_its_folder_and_for_some_the_base_image(recipes):
    plain, based = recipes / "plain.sh", recipes / "based.sh"
    first = artifacts.recipe_digest(plain, BASE)
    assert artifacts.recipe_digest(plain, "hpcdl-lab-base:other") == first  # does not use it
    assert artifacts.recipe_digest(based, "hpcdl-lab-base:other") != artifacts.recipe_digest(based, BASE)
    (recipes / "plain" / "input.txt").write_text("two\n")
    second = artifacts.recipe_digest(plain, BASE)
    assert second != first
    plain.write_text(plain.read_text() + "# edited\n")
    assert artifacts.recipe_digest(plain, BASE) not in (first, second)


def test_each_recipe_runs_once_per_version(recipes, tmp_path):
    cache = tmp_path / "cache"
    outs = artifacts.build_artifacts(BASE, recipes, cache)
    assert [o.name for o in outs] == ["based", "plain"]
    assert (outs[0] / "base").read_text() == BASE + "\n"
    assert (outs[1] / "hello.txt").read_text() == "hello\n"
    assert artifacts.build_artifacts(BASE, recipes, cache) == outs
    assert sorted(runs(tmp_path)) == ["based", "plain"]
    again = artifacts.build_artifacts("hpcdl-lab-base:other", recipes, cache)
    assert again[1] == outs[1] and again[0] != outs[0]
    assert sorted(runs(tmp_path)) == ["based", "based", "plain"]
    assert (cache / ".lock").exists()


def test_a_failed_recipe_leaves_no_output_behind(recipes, tmp_path):
    (recipes / "broken.sh").write_text('echo half > "$1/half"; echo "no mirror" >&2; exit 3\n')
    cache = tmp_path / "cache"
    with pytest.raises(LabError, match="no mirror"):
        artifacts.build_artifacts(BASE, recipes, cache)
    assert not list(cache.glob("broken-*/broken"))
    (recipes / "broken.sh").write_text('echo whole > "$1/whole"\n')
    outs = artifacts.build_artifacts(BASE, recipes, cache)
    assert [p.name for p in outs[1].iterdir()] == ["whole"]


def test_publish_hard_links_and_replaces_an_earlier_copy(recipes, tmp_path):
    www = tmp_path / "www"
    (www / "plain").mkdir(parents=True)
    (www / "plain" / "stale.txt").write_text("from an earlier up\n")
    built = artifacts.build_artifacts(BASE, recipes, tmp_path / "cache")
    artifacts.publish(built, www)
    assert sorted(p.name for p in (www / "plain").iterdir()) == ["hello.txt"]
    assert (www / "plain" / "hello.txt").samefile(built[1] / "hello.txt")
    assert (www / "based" / "base").read_text() == BASE + "\n"


def test_link_or_copy_copies_where_a_link_is_refused(tmp_path, monkeypatch):
    src = tmp_path / "src"
    src.write_text("data\n")

    def refuse(_src, _dst):
        raise OSError(18, "Invalid cross-device link")

    monkeypatch.setattr(artifacts.os, "link", refuse)
    dst = artifacts.link_or_copy(src, tmp_path / "dst")
    assert dst.read_text() == "data\n"
    assert not dst.samefile(src)
