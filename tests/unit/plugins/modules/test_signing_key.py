"""hpcdl.gpu.signing_key end to end: main() (the real AnsibleModule and fetch_url) downloading keys
that gpg made for the run from an HTTP server on 127.0.0.1, writing under tmp_path."""
import hashlib

import pytest
from ansible_collections.hpcdl.gpu.plugins.modules import signing_key as module_file
from loopback import FileHandler, serve, stop


@pytest.fixture
def server():
    """server.files[path] = bytes; server.url(path). Loopback only."""
    httpd = serve(type("Handler", (FileHandler,), {"files": {}, "hits": []}))
    httpd.files = httpd.RequestHandlerClass.files
    yield httpd
    stop(httpd)


@pytest.fixture
def run(run_offline):
    """The module's main() with these arguments, no proxy in the environment (tests/unit/plugins/conftest.py)."""
    return lambda args, check_mode=False: run_offline(module_file, args, check_mode)


@pytest.fixture
def docker_key(gpg_keys, server, tmp_path):
    """The arguments for the RSA key served at /linux/debian/gpg, to a folder that does not exist yet."""
    server.files["/linux/debian/gpg"] = gpg_keys.rsa.armored
    spaced = " ".join(gpg_keys.rsa.fingerprint[i:i + 4] for i in range(0, 40, 4)).lower()
    return {"url": server.url("/linux/debian/gpg"), "fingerprint": spaced,
            "dest": str(tmp_path / "keyrings" / "docker.asc"), "pinned_by": "docker_repo_gpg_fingerprint"}


def test_a_key_with_the_pinned_fingerprint_is_written_as_served(run, docker_key, gpg_keys, tmp_path):
    done = run(docker_key)
    assert not done.failed, done.result
    dest = tmp_path / "keyrings" / "docker.asc"
    assert done.result["changed"] is True
    assert dest.read_bytes() == gpg_keys.rsa.armored
    assert oct(dest.stat().st_mode & 0o777) == "0o644"
    assert oct(dest.parent.stat().st_mode & 0o777) == "0o755"
    assert done.result["fingerprints"] == [gpg_keys.rsa.fingerprint]
    assert done.result["sha256"] == hashlib.sha256(gpg_keys.rsa.armored).hexdigest()
    assert done.result["dest"] == str(dest) and done.result["url"] == docker_key["url"]
    assert done.result["keys"][0]["user_ids"] == ["hpcdl test RSA <rsa@test.invalid>"]
    assert [p.name for p in dest.parent.iterdir()] == ["docker.asc"]  # no temporary file left


def test_a_second_run_changes_nothing_and_writes_nothing(run, docker_key, tmp_path):
    run(docker_key)
    dest = tmp_path / "keyrings" / "docker.asc"
    before = dest.stat().st_mtime_ns, dest.stat().st_ino
    done = run(docker_key)
    assert done.result["changed"] is False
    assert (dest.stat().st_mtime_ns, dest.stat().st_ino) == before


def test_a_changed_mode_alone_is_a_change(run, docker_key, tmp_path):
    run(docker_key)
    dest = tmp_path / "keyrings" / "docker.asc"
    dest.chmod(0o600)
    assert run(docker_key).result["changed"] is True
    assert oct(dest.stat().st_mode & 0o777) == "0o644"


def test_check_mode_verifies_reports_the_change_and_writes_nothing(run, docker_key, gpg_keys, tmp_path):
    done = run(docker_key, check_mode=True)
    assert not done.failed and done.result["changed"] is True
    assert done.result["fingerprints"] == [gpg_keys.rsa.fingerprint]
    assert not (tmp_path / "keyrings").exists()
    run(docker_key)
    assert run(docker_key, check_mode=True).result["changed"] is False


def test_check_mode_refuses_a_wrong_key_too(run, docker_key, server, gpg_keys):
    server.files["/linux/debian/gpg"] = gpg_keys.other.armored
    done = run(docker_key, check_mode=True)
    assert done.failed and "is not the one docker_repo_gpg_fingerprint pins" in done.result["msg"]


def test_a_newer_key_replaces_the_old_file_atomically(run, docker_key, server, gpg_keys, tmp_path):
    dest = tmp_path / "keyrings" / "docker.asc"
    dest.parent.mkdir()
    dest.write_bytes(gpg_keys.other.armored)
    inode = dest.stat().st_ino
    done = run(docker_key)
    assert done.result["changed"] is True
    assert dest.read_bytes() == gpg_keys.rsa.armored
    assert dest.stat().st_ino != inode  # moved into place, not rewritten in place


def test_a_key_with_another_fingerprint_is_refused_and_nothing_is_written(run, docker_key, server, gpg_keys,
                                                                          tmp_path):
    server.files["/linux/debian/gpg"] = gpg_keys.other.armored
    dest = tmp_path / "keyrings" / "docker.asc"
    done = run(docker_key)
    assert done.failed
    message = done.result["msg"]
    print(message)
    assert message == (
        f"The key at {docker_key['url']} is not the one docker_repo_gpg_fingerprint pins ({gpg_keys.rsa.fingerprint}):"
        f" it holds the key {gpg_keys.other.fingerprint} (Not the pinned key <other@test.invalid>). Nothing was"
        f" written to {dest} and nothing was installed. Check the mirror, or set docker_repo_gpg_fingerprint to the"
        " fingerprint of the key that really signs it.")
    assert done.result["fingerprints"] == [gpg_keys.other.fingerprint]
    assert done.result["expected"] == [gpg_keys.rsa.fingerprint]
    assert not dest.parent.exists()


def test_a_refused_key_leaves_the_installed_one_alone(run, docker_key, server, gpg_keys, tmp_path):
    run(docker_key)
    dest = tmp_path / "keyrings" / "docker.asc"
    server.files["/linux/debian/gpg"] = gpg_keys.other.armored
    assert run(docker_key).failed
    assert dest.read_bytes() == gpg_keys.rsa.armored


def test_a_file_that_carries_another_primary_key_besides_the_pinned_one_is_refused(run, docker_key, server,
                                                                                   gpg_keys):
    both = gpg_keys.gpg("--armor", "--export", gpg_keys.rsa.fingerprint, gpg_keys.other.fingerprint)
    server.files["/linux/debian/gpg"] = both
    done = run(docker_key)
    assert done.failed
    assert "it holds 2 primary keys, " in done.result["msg"]
    assert "A key file must hold the pinned keys and no other" in done.result["msg"]
    assert sorted(done.result["fingerprints"]) == sorted([gpg_keys.rsa.fingerprint, gpg_keys.other.fingerprint])


def test_a_list_of_fingerprints_accepts_a_file_with_exactly_those_keys(run, docker_key, server, gpg_keys):
    both = gpg_keys.gpg("--armor", "--export", gpg_keys.rsa.fingerprint, gpg_keys.other.fingerprint)
    server.files["/linux/debian/gpg"] = both
    done = run(dict(docker_key, fingerprint=[gpg_keys.other.fingerprint, gpg_keys.rsa.fingerprint]))
    assert not done.failed, done.result
    assert done.result["changed"] is True


def test_a_binary_key_with_subkeys_is_verified_by_its_primary_key(run, docker_key, server, gpg_keys):
    server.files["/nvidia/gpgkey"] = gpg_keys.ed25519.binary
    done = run(dict(docker_key, url=server.url("/nvidia/gpgkey"), fingerprint=gpg_keys.ed25519.fingerprint))
    assert not done.failed, done.result
    assert done.result["fingerprints"] == [gpg_keys.ed25519.fingerprint]
    # A subkey's fingerprint is not the key's.
    done = run(dict(docker_key, url=server.url("/nvidia/gpgkey"), fingerprint=gpg_keys.ed25519.subkeys[0]))
    assert done.failed and f"it holds the key {gpg_keys.ed25519.fingerprint} " in done.result["msg"]


@pytest.mark.parametrize(("served", "reason"), [
    (b"<html><body>It works!</body></html>\n", "neither an armoured key block nor OpenPGP packets"),
    (b"", "the data is empty"),
])
def test_a_page_that_is_no_key_is_refused(run, docker_key, server, served, reason):
    server.files["/linux/debian/gpg"] = served
    done = run(docker_key)
    assert done.failed
    assert f"it holds no readable OpenPGP key ({reason}" in done.result["msg"]
    assert done.result["fingerprints"] == []


def test_a_truncated_download_is_refused(run, docker_key, server, gpg_keys):
    server.files["/linux/debian/gpg"] = gpg_keys.rsa.binary[:200]
    done = run(docker_key)
    assert done.failed and "is truncated" in done.result["msg"]


def test_a_missing_key_says_the_url_and_the_http_status(run, docker_key, tmp_path):
    done = run(dict(docker_key, url=docker_key["url"] + ".missing"))
    assert done.failed
    assert done.result["msg"].startswith(f"Cannot download the key at {docker_key['url']}.missing (HTTP Error 404")
    assert "Nothing was written to" in done.result["msg"]
    assert not (tmp_path / "keyrings").exists()


def test_a_closed_port_says_the_url(run, docker_key):
    done = run(dict(docker_key, url="http://127.0.0.1:9/gpg", timeout=3))
    assert done.failed and done.result["msg"].startswith("Cannot download the key at http://127.0.0.1:9/gpg (")


def test_content_instead_of_a_url(run, gpg_keys, tmp_path):
    done = run({"content": gpg_keys.ed25519.armored.decode(), "fingerprint": gpg_keys.ed25519.fingerprint,
                "dest": str(tmp_path / "k.asc")})
    assert not done.failed, done.result
    assert (tmp_path / "k.asc").read_bytes() == gpg_keys.ed25519.armored
    assert done.result["url"] is None
    done = run({"content": gpg_keys.other.armored.decode(), "fingerprint": gpg_keys.ed25519.fingerprint,
                "dest": str(tmp_path / "k.asc")})
    assert done.failed and done.result["msg"].startswith(
        f"The key given as content is not the expected one ({gpg_keys.ed25519.fingerprint}): it holds the key ")
    assert (tmp_path / "k.asc").read_bytes() == gpg_keys.ed25519.armored


def test_a_key_id_is_not_a_fingerprint(run, docker_key, gpg_keys):
    done = run(dict(docker_key, fingerprint=gpg_keys.rsa.fingerprint[-8:]))
    assert done.failed and "which anyone can forge" in done.result["msg"]


def test_url_and_content_together_are_refused(run, docker_key):
    done = run(dict(docker_key, content="x"))
    assert done.failed and "mutually exclusive" in done.result["msg"]


def test_a_folder_as_dest_is_refused(run, docker_key, tmp_path):
    done = run(dict(docker_key, dest=str(tmp_path)))
    assert done.failed and "is a folder" in done.result["msg"]
