"""Where a download or an image comes from through the jump host's cache (module_utils/cache.py)."""
import pytest
from ansible_collections.hpcdl.gpu.plugins.module_utils.cache import (
    CacheError,
    cache_image,
    cache_url,
    image_reference,
)

CACHE = "http://10.0.0.1:3142"
REGISTRIES = [
    {"name": "docker.io", "upstream": "https://registry-1.docker.io", "port": 5000},
    {"name": "quay.io", "upstream": "https://quay.io", "port": 5001},
    {"name": "172.18.0.2:5000", "upstream": "http://172.18.0.2:5000", "port": 5003},
]


@pytest.mark.parametrize(("url", "through"), [
    ("http://172.18.0.2/jupyter/jupyter.tar", f"{CACHE}/172.18.0.2/jupyter/jupyter.tar"),
    ("https://download.docker.com/linux/debian", f"{CACHE}/HTTPS///download.docker.com/linux/debian"),
    ("https://developer.download.nvidia.com/compute/cuda/repos/debian12/x86_64/",
     f"{CACHE}/HTTPS///developer.download.nvidia.com/compute/cuda/repos/debian12/x86_64/"),
    ("http://mirror.example:8080/x.rpm?y=1", f"{CACHE}/mirror.example:8080/x.rpm?y=1"),
    ("http://host.example", f"{CACHE}/host.example/"),
])
def test_urls_through_apt_cacher_ng_url_prefix_mode(url, through):
    assert cache_url(url, CACHE) == through
    assert cache_url(url, CACHE + "/") == through


@pytest.mark.parametrize("url", ["file:///srv/mirror/docker", "https://user:secret@files.example/x.tar", "ftp://x/y"])
def test_what_the_cache_cannot_serve_stays_as_it_is(url):
    assert cache_url(url, CACHE) == url


def test_no_cache_no_change():
    assert cache_url("https://download.docker.com/linux/debian", "") == "https://download.docker.com/linux/debian"


@pytest.mark.parametrize(("name", "registry", "repository", "tag", "digest"), [
    ("ubuntu", "docker.io", "library/ubuntu", "latest", None),
    ("nvidia/cuda:12.4.1-base-ubuntu22.04", "docker.io", "nvidia/cuda", "12.4.1-base-ubuntu22.04", None),
    ("docker.io/library/busybox:1", "docker.io", "library/busybox", "1", None),
    ("index.docker.io/busybox", "docker.io", "library/busybox", "latest", None),
    ("quay.io/jupyter/pytorch-notebook:cuda12-2026-08-24", "quay.io", "jupyter/pytorch-notebook",
     "cuda12-2026-08-24", None),
    ("172.18.0.2:5000/hpcdl-lab/jupyter:1", "172.18.0.2:5000", "hpcdl-lab/jupyter", "1", None),
    ("localhost/x", "localhost", "x", "latest", None),
    ("quay.io/a/b@sha256:" + "a" * 64, "quay.io", "a/b", None, "sha256:" + "a" * 64),
    ("quay.io/a/b:t@sha256:" + "b" * 64, "quay.io", "a/b", "t", "sha256:" + "b" * 64),
])
def test_image_names_read_as_docker_reads_them(name, registry, repository, tag, digest):
    ref = image_reference(name)
    assert (ref["registry"], ref["repository"], ref["tag"], ref["digest"]) == (registry, repository, tag, digest)


@pytest.mark.parametrize("name", ["", "a b", "Quay.io/UPPER/x", "x@sha256:short", "x:bad tag", "quay.io/a/b@md5:00"])
def test_names_docker_would_refuse_are_refused(name):
    with pytest.raises(CacheError):
        image_reference(name)


def test_an_image_of_a_served_registry_is_pulled_from_the_cache_by_its_port():
    got = cache_image("quay.io/jupyter/pytorch-notebook:cuda12-2026-08-24", "10.0.0.1", REGISTRIES)
    assert got == {"name": "quay.io/jupyter/pytorch-notebook:cuda12-2026-08-24", "upstream": "quay.io",
                   "cache_registry": "quay.io", "registry": "10.0.0.1:5001", "repository": "jupyter/pytorch-notebook",
                   "reference": "cuda12-2026-08-24", "pull": "10.0.0.1:5001/jupyter/pytorch-notebook:cuda12-2026-08-24"}
    lab = cache_image("172.18.0.2:5000/hpcdl-lab/jupyter:1", "10.0.0.1", REGISTRIES)
    assert (lab["registry"], lab["cache_registry"], lab["pull"]) == (
        "10.0.0.1:5003", "172.18.0.2:5000", "10.0.0.1:5003/hpcdl-lab/jupyter:1")
    hub = cache_image("registry-1.docker.io/library/ubuntu:24.04", "10.0.0.1", REGISTRIES)
    assert (hub["cache_registry"], hub["pull"]) == ("docker.io", "10.0.0.1:5000/library/ubuntu:24.04")
    pinned = cache_image("quay.io/a/b@sha256:" + "c" * 64, "10.0.0.1", REGISTRIES)
    assert pinned["reference"] == "sha256:" + "c" * 64 and pinned["pull"] == "10.0.0.1:5001/a/b@sha256:" + "c" * 64


def test_an_image_of_another_registry_or_without_a_cache_is_not_the_cache_s():
    assert cache_image("ghcr.io/owner/image:1", "10.0.0.1", REGISTRIES) is None
    assert cache_image("quay.io/a/b:1", "", REGISTRIES) is None
    assert cache_image("quay.io/a/b:1", "10.0.0.1", []) is None
