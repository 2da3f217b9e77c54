"""docker, nvidia_docker and cuda refuse a repository key that is not the pinned one, with the
same message, through hpcdl.gpu.signing_key.

Each role runs against localhost with `-c local --check` (tests/integration/check_play.py), its
mirror a server on 127.0.0.1 that serves a key that is not the pinned one (the RFC 9580 sample
certificate) or a page that is no key. Check mode changes nothing, and the module downloads and
verifies in check mode too: the play stops at the key, and no keyring appears. (The lab's
scenarios refuse wrong keys on a real node: molecule/docker and molecule/cuda.)
"""
from pathlib import Path

import pytest
from check_play import assert_refused, fact_cache, role_play, run_check_play
from loopback import FileHandler, serve, stop

KEY = (Path(__file__).resolve().parents[1] / "unit" / "fixtures" / "signing_key" / "rfc9580-a3-v6.asc").read_bytes()
KEY_FPR = "CB186C4F0609A697E4D52DFA6C722B0C1F1E27C18A56708F6525EC27BAD9ACC9"
PAGE = b"<html><body><h1>Welcome to the mirror</h1></body></html>\n"
FILES = {
    "/docker-ce/linux/debian/gpg": KEY,
    "/docker-ce/linux/centos/gpg": KEY,
    "/libnvidia-container/gpgkey": KEY,
    "/cuda/repos/debian12/x86_64/3bf863cc.pub": KEY,
    "/cuda/repos/debian12/x86_64/index.html": PAGE,
}
DOCKER_FPR = "9DC858229FC7DD38854AE2D88D81803C0EBFCD88"
NVIDIA_FPR = "C95B321B61E88C1809C4F759DDCAE044F796ECB0"
CUDA_FPR = "EB693B3035CD5710E231E123A4B469963BF863CC"
EL9_FACTS = {"ansible_distribution": "Rocky", "ansible_distribution_release": "Blue Onyx",
             "ansible_distribution_version": "9.4", "ansible_distribution_major_version": "9",
             "ansible_os_family": "RedHat", "ansible_architecture": "x86_64", "ansible_pkg_mgr": "dnf",
             "module_setup": True}


@pytest.fixture(scope="module")
def mirror():
    """The base URL of a mirror on 127.0.0.1."""
    httpd = serve(type("Mirror", (FileHandler,), {"files": FILES, "hits": []}))
    yield httpd.url()
    stop(httpd)


def refusal(url, variable, pinned, holds, dest):
    return (f"The key at {url} is not the one {variable} pins ({pinned}): it holds {holds}. Nothing was written to "
            f"{dest} and nothing was installed. Check the mirror, or set {variable} to the fingerprint of the key "
            "that really signs it.")


def el9_cache(tmp_path):
    return fact_cache(tmp_path, EL9_FACTS)


def refused_at_the_key(tmp_path, role, variables, message, key_task, *, extra_env=None):
    proc = run_check_play(tmp_path, role_play(role), variables, extra_env=extra_env)
    ran = assert_refused(proc, role, message, lambda name: True)
    assert ran[-1] == key_task, ran
    return ran


def test_docker_refuses_a_key_that_is_not_dockers(tmp_path, mirror):
    url = f"{mirror}/docker-ce/linux/debian/gpg"
    refused_at_the_key(tmp_path, "docker", {"docker_source": "docker", "docker_repo_mirror": f"{mirror}/docker-ce"},
                       refusal(url, "docker_repo_gpg_fingerprint", DOCKER_FPR, f"the key {KEY_FPR}",
                               "/etc/apt/keyrings/docker.asc"),
                       "Add Docker's signing key, verified")
    assert not Path("/etc/apt/keyrings/docker.asc").exists() or Path("/etc/apt/keyrings/docker.asc").read_bytes() != KEY


def test_docker_on_el_refuses_it_before_rpm_sees_it(tmp_path, mirror):
    url = f"{mirror}/docker-ce/linux/centos/gpg"
    ran = refused_at_the_key(tmp_path, "docker", {"docker_repo_mirror": f"{mirror}/docker-ce"},
                             refusal(url, "docker_repo_gpg_fingerprint", DOCKER_FPR, f"the key {KEY_FPR}",
                                     "/etc/pki/rpm-gpg/docker-ce.asc"),
                             "Add Docker's signing key, verified", extra_env=el9_cache(tmp_path))
    assert "Import the verified key into rpm" not in ran


def test_nvidia_docker_refuses_a_key_that_is_not_nvidias(tmp_path, mirror):
    url = f"{mirror}/libnvidia-container/gpgkey"
    refused_at_the_key(tmp_path, "nvidia_docker", {"nvidia_docker_repo_mirror": f"{mirror}/libnvidia-container"},
                       refusal(url, "nvidia_docker_repo_gpg_fingerprint", NVIDIA_FPR, f"the key {KEY_FPR}",
                               "/usr/share/keyrings/nvidia-container-toolkit-keyring.asc"),
                       "Add the toolkit repository's signing key, verified")


def test_cuda_refuses_a_key_that_is_not_the_pinned_one(tmp_path, mirror):
    url = f"{mirror}/cuda/repos/debian12/x86_64/3bf863cc.pub"
    refused_at_the_key(tmp_path, "cuda", {"cuda_repo_mirror": f"{mirror}/cuda", "cuda_gpu_checks": False},
                       refusal(url, "cuda_repo_key_fingerprint", CUDA_FPR, f"the key {KEY_FPR}",
                               "/etc/apt/keyrings/cuda-archive-keyring.asc"),
                       "Add the repository's signing key, verified")


def test_cuda_refuses_a_page_that_is_no_key(tmp_path, mirror):
    url = f"{mirror}/cuda/repos/debian12/x86_64/index.html"
    refused_at_the_key(tmp_path, "cuda", {"cuda_repo_mirror": f"{mirror}/cuda", "cuda_repo_key_file": "index.html",
                                          "cuda_gpu_checks": False},
                       refusal(url, "cuda_repo_key_fingerprint", CUDA_FPR,
                               "no readable OpenPGP key (neither an armoured key block nor OpenPGP packets; "
                               "it starts with '<html><body><h1>Welcome to the mirror</h')",
                               "/etc/apt/keyrings/cuda-archive-keyring.asc"),
                       "Add the repository's signing key, verified")


def test_a_key_that_is_not_there_is_named_with_its_url(tmp_path, mirror):
    url = f"{mirror}/cuda/repos/debian12/x86_64/missing.pub"
    refused_at_the_key(tmp_path, "cuda", {"cuda_repo_mirror": f"{mirror}/cuda", "cuda_repo_key_file": "missing.pub",
                                          "cuda_gpu_checks": False},
                       f"Cannot download the key at {url} (HTTP Error 404: Not Found). Nothing was written to "
                       "/etc/apt/keyrings/cuda-archive-keyring.asc and nothing was installed.",
                       "Add the repository's signing key, verified")
