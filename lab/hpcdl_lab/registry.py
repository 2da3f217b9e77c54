"""The internet host's upstream registry: Debian's docker-registry serving the lab's images.

A real GPU node pulls its notebook image from a registry (quay.io, Docker Hub); in the lab that
registry is the internet host, port 5000, plain HTTP on the public network, read-only. What it
serves is built here once per version of the images and kept in .lab/cache/registry/:

- ``bin/docker-registry``: the Docker distribution registry 2.8 from Debian's package
  (`apt-get download docker-registry`, unpacked with dpkg-deb; nothing is installed here);
- ``storage/``: the registry's own storage layout (docker/registry/v2/...) holding every image of
  the lab's `docker save` archives (images/busybox.tar, jupyter/jupyter.tar), each under its own
  name and tag (hpcdl-lab/jupyter:1), with a Docker v2 schema 2 manifest whose layers are the
  archives' uncompressed layer tars (media type ...rootfs.diff.tar: the digest of a layer is
  its diff_id, so the image's config is served unchanged);
- ``config.yml``: the registry's configuration (read-only mode, no upload purging).

Each lab's www folder hard-links the cached tree (www/registry/), which the internet host mounts
read-only; its unit lab-registry.service is written into the container by `up`.
"""
import fcntl
import hashlib
import json
import os
import shutil
import tarfile
import time
from pathlib import Path

from .common import LAB_HOME, LabError, run, say

PORT = 5000
MANIFEST_TYPE = "application/vnd.docker.distribution.manifest.v2+json"
CONFIG_TYPE = "application/vnd.docker.container.image.v1+json"
LAYER_TYPE = "application/vnd.docker.image.rootfs.diff.tar"
# The archives whose images the registry serves, under the artifacts' www folders.
ARCHIVES = ("images/busybox.tar", "jupyter/jupyter.tar")
CONFIG = f"""\
# The lab's upstream registry (lab/hpcdl_lab/registry.py): the lab's images, read-only.
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: /srv/www/registry/storage
  maintenance:
    readonly:
      enabled: true
    uploadpurging:
      enabled: false
http:
  addr: :{PORT}
"""
UNIT = """\
[Unit]
Description=Lab upstream registry (the "internet" host only: the lab's images, read-only)
ConditionPathExists=/srv/www/registry/config.yml
After=network.target

[Service]
ExecStart=/srv/www/registry/bin/docker-registry serve /srv/www/registry/config.yml
Restart=on-failure

[Install]
WantedBy=multi-user.target
"""


def _sha256_file(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def cache_key(archives):
    """Digest of what the tree depends on: this module's code and each archive's sha256."""
    digest = hashlib.sha256(Path(__file__).read_bytes())
    for archive in archives:
        digest.update(f"{archive.name} {_sha256_file(archive)}".encode())
    return digest.hexdigest()[:12]


class Storage:
    """The registry's storage layout under ``root`` (docker/registry/v2)."""

    def __init__(self, root):
        self.v2 = Path(root) / "docker" / "registry" / "v2"

    def blob_path(self, hexdigest):
        return self.v2 / "blobs" / "sha256" / hexdigest[:2] / hexdigest / "data"

    def put_blob(self, data):
        """Store bytes as a blob; return its hex digest."""
        hexdigest = hashlib.sha256(data).hexdigest()
        path = self.blob_path(hexdigest)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return hexdigest

    def put_blob_stream(self, stream):
        """Store a stream as a blob (through a temporary file); return (hex digest, size)."""
        tmp = self.v2 / "blobs" / ".incoming"
        tmp.parent.mkdir(parents=True, exist_ok=True)
        digest, size = hashlib.sha256(), 0
        with open(tmp, "wb") as out:
            for chunk in iter(lambda: stream.read(1 << 20), b""):
                digest.update(chunk)
                size += len(chunk)
                out.write(chunk)
        path = self.blob_path(digest.hexdigest())
        path.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, path)
        return digest.hexdigest(), size

    def link(self, *parts, hexdigest):
        path = self.v2.joinpath("repositories", *parts, "link")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"sha256:{hexdigest}")

    def add_image(self, repository, tag, config_hex, layers):
        """A schema 2 manifest for config + layers [(hex, size)], tagged; return its hex digest."""
        manifest = {
            "schemaVersion": 2,
            "mediaType": MANIFEST_TYPE,
            "config": {"mediaType": CONFIG_TYPE, "size": self.blob_path(config_hex).stat().st_size,
                       "digest": f"sha256:{config_hex}"},
            "layers": [{"mediaType": LAYER_TYPE, "size": size, "digest": f"sha256:{hexdigest}"}
                       for hexdigest, size in layers],
        }
        manifest_hex = self.put_blob(json.dumps(manifest, indent=3).encode())
        for hexdigest in [config_hex] + [h for h, _size in layers]:
            self.link(repository, "_layers", "sha256", hexdigest, hexdigest=hexdigest)
        self.link(repository, "_manifests", "revisions", "sha256", manifest_hex, hexdigest=manifest_hex)
        self.link(repository, "_manifests", "tags", tag, "current", hexdigest=manifest_hex)
        self.link(repository, "_manifests", "tags", tag, "index", "sha256", manifest_hex, hexdigest=manifest_hex)
        return manifest_hex


def add_archive(storage, archive):
    """Every image of a `docker save` archive into the storage; return {name:tag: manifest digest}."""
    added = {}
    with tarfile.open(archive) as tar:
        images = json.load(tar.extractfile("manifest.json"))
        for image in images:
            config_hex = storage.put_blob(tar.extractfile(image["Config"]).read())
            diff_ids = json.loads(storage.blob_path(config_hex).read_bytes())["rootfs"]["diff_ids"]
            layers = [storage.put_blob_stream(tar.extractfile(member)) for member in image["Layers"]]
            if [f"sha256:{h}" for h, _size in layers] != diff_ids:
                raise LabError(f"{archive}: the layers of {image['RepoTags']} do not match the config's diff_ids")
            for reference in image.get("RepoTags") or []:
                repository, _sep, tag = reference.rpartition(":")
                added[reference] = "sha256:" + storage.add_image(repository, tag, config_hex, layers)
    return added


def fetch_binary(dest):
    """bin/docker-registry from Debian's package (downloaded, unpacked, not installed)."""
    work = dest.parent / "deb"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    run(["apt-get", "download", "-q", "-o", "APT::Sandbox::User=root", "docker-registry"], cwd=work)
    (deb,) = work.glob("docker-registry_*.deb")
    run(["dpkg-deb", "-x", str(deb), str(work / "root")])
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(work / "root" / "usr" / "bin" / "docker-registry", dest)
    dest.chmod(0o755)
    shutil.rmtree(work)
    return deb.name


def build_registry(www, cache=LAB_HOME / "cache" / "registry"):
    """The registry's tree for the archives published in ``www``; cached, return its folder."""
    archives = [www / rel for rel in ARCHIVES if (www / rel).exists()]
    if not archives:
        raise LabError(f"no image archive in {www} ({', '.join(ARCHIVES)}): nothing to serve")
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        out = cache / f"registry-{cache_key(archives)}" / "registry"
        if out.is_dir():
            return out
        say("building the lab's upstream registry (its images from the archives, once)")
        started = time.monotonic()
        tmp = out.with_name("registry.partial")
        shutil.rmtree(tmp, ignore_errors=True)
        deb = fetch_binary(tmp / "bin" / "docker-registry")
        storage = Storage(tmp / "storage")
        images = {}
        for archive in archives:
            images.update(add_archive(storage, archive))
        (tmp / "config.yml").write_text(CONFIG)
        (tmp / "images.json").write_text(json.dumps({"docker-registry": deb, "images": images}, indent=2) + "\n")
        tmp.rename(out)
        say(f"built the lab's upstream registry in {time.monotonic() - started:.0f} s: {', '.join(images)}")
        return out
