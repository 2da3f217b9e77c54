"""The cache_url and cache_image filters: the module_utils' answers, and errors Ansible can show."""
import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.hpcdl.gpu.plugins.filter.cache import FilterModule, cache_image, cache_url


def test_registered():
    assert FilterModule().filters() == {"cache_url": cache_url, "cache_image": cache_image}


def test_cache_url_rewrites_https_through_the_remap():
    assert (cache_url("https://nvidia.github.io/libnvidia-container", "http://10.0.0.1:3142")
            == "http://10.0.0.1:3142/HTTPS///nvidia.github.io/libnvidia-container")
    assert cache_url("https://nvidia.github.io/libnvidia-container", "") == "https://nvidia.github.io/libnvidia-container"
    assert cache_url("https://nvidia.github.io/libnvidia-container", None) == "https://nvidia.github.io/libnvidia-container"


def test_cache_image_answers_a_dict_or_none():
    regs = [{"name": "quay.io", "port": 5001}]
    assert cache_image("quay.io/a/b:1", "10.0.0.1", regs)["pull"] == "10.0.0.1:5001/a/b:1"
    assert cache_image("docker.io/a/b:1", "10.0.0.1", regs) is None


@pytest.mark.parametrize(("call", "message"), [
    (lambda: cache_url(42, "http://c"), "expected a URL"),
    (lambda: cache_image("bad name", "10.0.0.1", []), "is not an image name"),
    (lambda: cache_image("quay.io/a:1", "10.0.0.1", {"quay.io": 1}), "must be a list"),
    (lambda: cache_image("quay.io/a:1", "10.0.0.1", [{"name": "quay.io"}]), "cache_image"),
])
def test_errors_name_the_filter(call, message):
    with pytest.raises(AnsibleFilterError, match=message):
        call()
