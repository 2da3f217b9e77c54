"""The internet host's upstream registry: its storage, built from `docker save` archives, is the
layout the Docker distribution registry serves (no registry or engine needed here)."""
import hashlib
import io
import json
import tarfile

import pytest
from hpcdl_lab import registry
from hpcdl_lab.common import LabError


def docker_save(path, tag="hpcdl-lab/busybox:1", layers=(b"layer one", b"layer two"), bad_diff=False):
    """A small archive laid out as `docker save` (20.10) writes it."""
    diff_ids = ["sha256:" + hashlib.sha256(data).hexdigest() for data in layers]
    if bad_diff:
        diff_ids[0] = "sha256:" + "0" * 64
    rootfs = {"type": "layers", "diff_ids": diff_ids}
    config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": rootfs}).encode()
    config_name = hashlib.sha256(config).hexdigest() + ".json"
    members = {config_name: config}
    names = []
    for index, data in enumerate(layers):
        names.append(f"l{index}/layer.tar")
        members[names[-1]] = data
    members["manifest.json"] = json.dumps([{"Config": config_name, "RepoTags": [tag], "Layers": names}]).encode()
    with tarfile.open(path, "w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return config, layers


def test_an_archive_becomes_a_tagged_schema2_image_with_its_layers_as_blobs(tmp_path):
    config, layers = docker_save(tmp_path / "busybox.tar")
    storage = registry.Storage(tmp_path / "storage")
    added = registry.add_archive(storage, tmp_path / "busybox.tar")
    (reference, manifest_digest), = added.items()
    assert reference == "hpcdl-lab/busybox:1"
    repo = storage.v2 / "repositories" / "hpcdl-lab" / "busybox"
    tag_link = repo / "_manifests" / "tags" / "1" / "current" / "link"
    assert tag_link.read_text() == manifest_digest
    manifest = json.loads(storage.blob_path(manifest_digest.split(":")[1]).read_bytes())
    assert manifest["mediaType"] == registry.MANIFEST_TYPE
    assert manifest["config"]["digest"] == "sha256:" + hashlib.sha256(config).hexdigest()
    assert [layer["mediaType"] for layer in manifest["layers"]] == [registry.LAYER_TYPE] * 2
    for layer, data in zip(manifest["layers"], layers, strict=True):
        hexdigest = layer["digest"].split(":")[1]
        assert storage.blob_path(hexdigest).read_bytes() == data and layer["size"] == len(data)
        assert (repo / "_layers" / "sha256" / hexdigest / "link").read_text() == layer["digest"]
    revision = repo / "_manifests" / "revisions" / "sha256" / manifest_digest.split(":")[1] / "link"
    assert revision.read_text() == manifest_digest


def test_an_archive_whose_layers_do_not_match_its_config_is_refused(tmp_path):
    docker_save(tmp_path / "x.tar", bad_diff=True)
    with pytest.raises(LabError, match="do not match the config's diff_ids"):
        registry.add_archive(registry.Storage(tmp_path / "s"), tmp_path / "x.tar")


def test_the_tree_is_built_once_per_version_of_the_archives(tmp_path, monkeypatch):
    www = tmp_path / "www"
    (www / "images").mkdir(parents=True)
    docker_save(www / "images" / "busybox.tar")
    fetched = []

    def fake_binary(dest):
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text("#!/bin/sh\n")
        fetched.append(dest)
        return "docker-registry_2.8.2+ds1-1_amd64.deb"

    monkeypatch.setattr(registry, "fetch_binary", fake_binary)
    first = registry.build_registry(www, cache=tmp_path / "cache")
    assert registry.build_registry(www, cache=tmp_path / "cache") == first and len(fetched) == 1
    assert json.loads((first / "images.json").read_text())["images"].keys() == {"hpcdl-lab/busybox:1"}
    assert "readonly:\n      enabled: true" in (first / "config.yml").read_text()
    docker_save(www / "images" / "busybox.tar", layers=(b"another",))
    assert registry.build_registry(www, cache=tmp_path / "cache") != first and len(fetched) == 2


def test_no_archive_no_registry(tmp_path):
    with pytest.raises(LabError, match="no image archive"):
        registry.build_registry(tmp_path, cache=tmp_path / "cache")
