"""hpcdl.gpu.cache_fetch end to end: main() (the real AnsibleModule and fetch_url) against two HTTP
servers on 127.0.0.1, an upstream and a stand-in for apt-cacher-ng in URL-prefix mode that can hold
a corrupt copy, cut a transfer short (as it does when its disk is full) or not be there at all."""
import hashlib
import http.server
import os
import socket

import pytest
from ansible_collections.hpcdl.gpu.plugins.modules import cache_fetch as module_file
from loopback import FileHandler, serve, stop

GOOD = b"hpcdl image archive\n" * 4096
GOOD_SHA = hashlib.sha256(GOOD).hexdigest()


class Upstream(FileHandler):
    files, hits = {}, []


class Cache(http.server.BaseHTTPRequestHandler):
    """/<host:port>/<path>: its stored copy if any (``store``), else the upstream's, stored; a
    request with Cache-Control: no-cache fetches the upstream's again and replaces the copy."""
    store, requests, mode = {}, [], {}

    def do_GET(self):  # noqa: N802
        no_cache = "no-cache" in (self.headers.get("Cache-Control") or "")
        self.requests.append((self.path, no_cache))
        if self.mode.get("status"):
            self.send_error(self.mode["status"])
            return
        if self.path not in self.store or no_cache:
            host, _sep, path = self.path[1:].partition("/")
            with socket.create_connection(tuple(host.split(":"))) as conn:
                conn.sendall(f"GET /{path} HTTP/1.0\r\nHost: {host}\r\n\r\n".encode())
                raw = b"".join(iter(lambda: conn.recv(65536), b""))
            self.store[self.path] = raw.split(b"\r\n\r\n", 1)[1]
        body = self.store[self.path]
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.mode.get("truncate"):  # a full disk: the transfer stops halfway
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def world():
    up_handler = type("U", (Upstream,), {"files": {"/images/x.tar": GOOD}, "hits": []})
    cache_handler = type("C", (Cache,), {"store": {}, "requests": [], "mode": {}})
    up, cache = serve(up_handler), serve(cache_handler)

    class World:
        upstream, cache_h, upstream_h = up, cache, up_handler
        url = f"http://127.0.0.1:{up.server_address[1]}/images/x.tar"
        cache_url = f"http://127.0.0.1:{cache.server_address[1]}"
        prefix = f"/127.0.0.1:{up.server_address[1]}/images/x.tar"
        store, requests, mode = cache_handler.store, cache_handler.requests, cache_handler.mode
    yield World
    for httpd in (up, cache):
        stop(httpd)


@pytest.fixture
def run(run_offline):
    """The module's main() with these arguments, no proxy in the environment (tests/unit/plugins/conftest.py)."""
    return lambda args, check_mode=False: run_offline(module_file, args, check_mode)


def args(world, tmp_path, **extra):
    return {"url": world.url, "dest": str(tmp_path / "x.tar"), "sha256": GOOD_SHA, "cache": world.cache_url, **extra}


def leftovers(tmp_path):
    return sorted(p.name for p in tmp_path.iterdir() if p.name != "x.tar")


def test_a_cold_cache_fetches_once_and_a_second_node_gets_it_from_the_cache(world, run, tmp_path):
    done = run(args(world, tmp_path, mode="0600"))
    assert not done.failed, done.result
    assert done.result["changed"] and done.result["source"] == "cache"
    assert done.result["url"] == world.cache_url + world.prefix
    assert (tmp_path / "x.tar").read_bytes() == GOOD
    assert oct(os.stat(tmp_path / "x.tar").st_mode & 0o777) == "0o600"
    other = tmp_path / "node2"
    other.mkdir()
    again = run(args(world, other))
    assert again.result["source"] == "cache"
    assert world.upstream_h.hits == ["/images/x.tar"]  # upstream served it once
    assert not done.warnings


def test_a_file_already_there_is_not_downloaded(world, run, tmp_path):
    (tmp_path / "x.tar").write_bytes(GOOD)
    done = run(args(world, tmp_path))
    assert (done.result["changed"], done.result["source"]) == (False, "present")
    assert world.requests == []


def test_a_corrupt_copy_in_the_cache_is_named_evicted_and_replaced(world, run, tmp_path):
    world.store[world.prefix] = GOOD[:-1] + b"X"
    done = run(args(world, tmp_path))
    assert not done.failed, done.result
    assert done.result["source"] == "cache_refreshed"
    assert (tmp_path / "x.tar").read_bytes() == GOOD
    assert world.store[world.prefix] == GOOD  # the cache now holds a good copy: the next node gets it
    assert world.requests == [(world.prefix, False), (world.prefix, True)]
    (warning,) = done.warnings
    assert world.url in warning and world.cache_url in warning and "corrupt" in warning and GOOD_SHA in warning
    assert leftovers(tmp_path) == []


def test_upstream_serving_other_bytes_fails_without_writing(world, run, tmp_path):
    world.upstream_h.files["/images/x.tar"] = b"not the archive"
    done = run(args(world, tmp_path))
    assert done.failed
    assert "also as fetched again from upstream through the cache" in done.result["msg"]
    assert not (tmp_path / "x.tar").exists() and leftovers(tmp_path) == []


@pytest.mark.parametrize("fault", ["down", "truncate", "status"])
def test_a_cache_that_cannot_deliver_falls_back_to_upstream_with_a_warning(world, run, tmp_path, fault):
    cache = world.cache_url
    if fault == "down":
        cache = "http://127.0.0.1:9"  # the discard port: nothing listens
    elif fault == "truncate":
        world.mode["truncate"] = True
    else:
        world.mode["status"] = 503
    done = run(args(world, tmp_path, cache=cache))
    assert not done.failed, done.result
    assert done.result["source"] == "upstream"
    assert (tmp_path / "x.tar").read_bytes() == GOOD
    (warning,) = done.warnings
    assert f"The cache {cache} could not deliver {world.url}" in warning and "downloading it from upstream" in warning
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("fault", ["down", "truncate"])
def test_with_fallback_fail_the_module_fails_naming_the_cache(world, run, tmp_path, fault):
    cache = "http://127.0.0.1:9" if fault == "down" else world.cache_url
    world.mode["truncate"] = fault == "truncate"
    done = run(args(world, tmp_path, cache=cache, fallback="fail"))
    assert done.failed
    assert done.result["msg"].startswith(f"The cache {cache} could not deliver {world.url}: ")
    assert "df -h /var/cache/apt-cacher-ng" in done.result["msg"]
    assert world.upstream_h.hits == ([] if fault == "down" else ["/images/x.tar"])  # only the cache's own fetch
    assert not (tmp_path / "x.tar").exists() and leftovers(tmp_path) == []


def test_without_a_cache_it_downloads_from_upstream_as_get_url_does(world, run, tmp_path):
    done = run(args(world, tmp_path, cache=""))
    assert done.result["source"] == "upstream" and world.requests == []
    world.upstream_h.files["/images/x.tar"] = b"other"
    (tmp_path / "x.tar").unlink()
    bad = run(args(world, tmp_path, cache=""))
    assert bad.failed
    other = hashlib.sha256(b"other").hexdigest()
    assert bad.result["msg"] == f"The checksum for {world.url} did not match {GOOD_SHA}; it was {other}."


def test_check_mode_downloads_nothing(world, run, tmp_path):
    done = run(args(world, tmp_path), check_mode=True)
    assert done.result["changed"] and done.result["source"] == "cache"
    assert world.requests == [] and not (tmp_path / "x.tar").exists()


@pytest.mark.parametrize(("extra", "message"), [
    ({"sha256": "abc"}, "sha256 must be 64 hex digits"),
    ({"dest": "/nonexistent-hpcdl/x.tar"}, "does not exist"),
])
def test_bad_input_is_refused(world, run, tmp_path, extra, message):
    done = run(args(world, tmp_path, **extra))
    assert done.failed and message in done.result["msg"]
