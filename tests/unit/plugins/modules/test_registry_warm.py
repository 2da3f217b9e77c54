"""hpcdl.gpu.registry_warm: run() against a fake registry host (manifests, a storage that fills as the
registry would), and main() against a registry stand-in on 127.0.0.1 that stores what it is asked for."""
import hashlib
import http.server
import json
import os
import threading

from ansible_collections.hpcdl.gpu.plugins.module_utils import registry_warm
from ansible_collections.hpcdl.gpu.plugins.modules import registry_warm as module_file

V2 = "application/vnd.docker.distribution.manifest.v2+json"
LIST = "application/vnd.docker.distribution.manifest.list.v2+json"


def digest(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


CONFIG, LAYER = b'{"rootfs": {}}', b"layer bytes" * 100
IMAGE = json.dumps({"schemaVersion": 2, "mediaType": V2,
                    "config": {"digest": digest(CONFIG), "size": len(CONFIG)},
                    "layers": [{"digest": digest(LAYER), "size": len(LAYER)}]}).encode()
ARM = json.dumps({"schemaVersion": 2, "mediaType": V2, "config": {"digest": digest(b"arm"), "size": 3},
                  "layers": []}).encode()
INDEX = json.dumps({"schemaVersion": 2, "mediaType": LIST, "manifests": [
    {"digest": digest(ARM), "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}},
    {"digest": digest(IMAGE), "platform": {"os": "linux", "architecture": "amd64"}}]}).encode()


class FakeHost:
    """Manifests by path; ``stores`` decides whether a touched blob lands in the storage."""

    def __init__(self, storage, manifests, stores=True):
        self.storage, self.manifests, self.stores = storage, manifests, stores
        self.present, self.touched, self.clock = set(), [], 0

    def get(self, url, headers):
        body = self.manifests[url.split("/manifests/", 1)[1]]
        return body, {"content-type": json.loads(body)["mediaType"]}

    def touch(self, url):
        self.touched.append(url.rsplit("/", 1)[1])
        if self.stores:
            self.present.add(registry_warm.blob_path(self.storage, url.rsplit("/", 1)[1]))

    def exists(self, path):
        return path in self.present

    def sleep(self, seconds):
        self.clock += seconds

    def now(self):
        return self.clock


def params(**extra):
    return {"registry": "http://10.0.0.1:5001", "repository": "jupyter/pytorch-notebook", "reference": "tag1",
            "storage": "/var/lib/hpcdl-cache/registry/quay.io", "platform": "linux/amd64", "timeout": 30, **extra}


def test_a_manifest_list_resolves_to_the_platform_and_every_missing_blob_is_fetched_once():
    host = FakeHost("/var/lib/hpcdl-cache/registry/quay.io", {"tag1": INDEX, digest(IMAGE): IMAGE})
    result = registry_warm.run(params(), False, host)
    assert not result.get("failed"), result
    assert result["digest"] == digest(INDEX) and result["manifest"] == digest(IMAGE)
    assert host.touched == [digest(CONFIG), digest(LAYER)]
    assert result["changed"] and result["fetched"] == len(CONFIG) + len(LAYER)
    again = registry_warm.run(params(), False, host)
    assert not again["changed"] and host.touched == [digest(CONFIG), digest(LAYER)]
    assert all(b["was_stored"] for b in again["blobs"])


def test_check_mode_touches_nothing():
    host = FakeHost("/s", {"tag1": IMAGE})
    result = registry_warm.run(params(storage="/s"), True, host)
    assert result["changed"] and host.touched == []


def test_a_digest_that_does_not_match_is_refused():
    host = FakeHost("/s", {digest(IMAGE): ARM})
    result = registry_warm.run(params(reference=digest(IMAGE)), False, host)
    assert result["failed"] and "refused" in result["msg"]


def test_a_platform_the_image_lacks_is_named():
    host = FakeHost("/s", {"tag1": INDEX})
    result = registry_warm.run(params(platform="linux/ppc64le"), False, host)
    assert result["failed"] and "has no image for linux/ppc64le (it has linux/amd64, linux/arm64)" in result["msg"]


def test_a_registry_that_cannot_store_says_its_disk_may_be_full():
    host = FakeHost("/s", {"tag1": IMAGE}, stores=False)
    result = registry_warm.run(params(storage="/s", timeout=5), False, host)
    assert result["failed"]
    assert "did not store" in result["msg"] and "is its disk full? (df -h /s on the jump host)" in result["msg"]
    assert "0 of 2 blobs stored" in result["msg"]


class Registry(http.server.BaseHTTPRequestHandler):
    storage, manifests = None, {}

    def do_GET(self):  # noqa: N802
        if "/manifests/" in self.path:
            body = self.manifests[self.path.split("/manifests/", 1)[1]]
            self.send_response(200)
            self.send_header("Content-Type", V2)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        blob = self.path.rsplit("/", 1)[1]
        path = registry_warm.blob_path(self.storage, blob)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as handle:
            handle.write(b"stored")
        self.send_response(200)
        self.send_header("Content-Length", "6")
        self.end_headers()
        self.wfile.write(b"stored")

    def log_message(self, *args):
        pass


def test_main_against_a_registry_on_loopback(run_main, tmp_path):
    handler = type("R", (Registry,), {"storage": str(tmp_path), "manifests": {"1": IMAGE}})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        done = run_main(module_file, {"registry": f"http://127.0.0.1:{httpd.server_address[1]}",
                                      "repository": "hpcdl-lab/jupyter", "reference": "1", "storage": str(tmp_path)})
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert not done.failed, done.result
    assert done.result["digest"] == digest(IMAGE) and done.result["changed"]


def test_main_names_a_registry_that_does_not_answer(run_main, tmp_path):
    done = run_main(module_file, {"registry": "http://127.0.0.1:9", "repository": "a/b", "reference": "1",
                                  "storage": str(tmp_path), "request_timeout": 2})
    assert done.failed and done.result["msg"].startswith("a/b:1 could not be fetched into the cache: GET http://127.0.0.1:9")
