"""The lab's base images: Debian with systemd, sshd and Python, built without a registry.

lab/image/build-rootfs.sh builds one per Debian release with debootstrap from the Debian mirror
this machine's apt uses and imports it as hpcdl-lab-base:<hash of lab/image/> (bookworm, the
default: every lab host and the artifacts built from it) or hpcdl-lab-base:<release>-<hash of
lab/image/ and the release> (a gpu node of another release, `lab.py up --os gpu2=bullseye`), so
that each is rebuilt only when its recipe changes.
"""
import hashlib
import os
import shutil
import time
from pathlib import Path

from .common import ENGINE, LAB_DIR, LabError, apt_install, can_apt_install, engine, hash_tree, run, say

IMAGE_REPO = "hpcdl-lab-base"
# The releases a lab host can run (Debian's mirror serves each); bookworm is every host's default.
RELEASES = ("bookworm", "trixie", "bullseye")
DEFAULT_RELEASE = "bookworm"
IMAGE_DIR = LAB_DIR / "image"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
SOURCES_DIR = Path("/etc/apt/sources.list.d")
SOURCES_LIST = Path("/etc/apt/sources.list")


def recipe_hash(image_dir=IMAGE_DIR, release=DEFAULT_RELEASE):
    digest = hash_tree(hashlib.sha256(), Path(image_dir))
    if release != DEFAULT_RELEASE:  # the default's tag stays the digest of the recipe alone
        digest.update(f"release {release}".encode())
    return digest.hexdigest()[:12]


def image_tag(release=DEFAULT_RELEASE, image_dir=IMAGE_DIR):
    check_release(release)
    digest = recipe_hash(image_dir, release)
    return f"{IMAGE_REPO}:{digest}" if release == DEFAULT_RELEASE else f"{IMAGE_REPO}:{release}-{digest}"


def check_release(release):
    if release not in RELEASES:
        raise LabError(f"Debian release {release!r}: the lab builds {', '.join(RELEASES)}")


def host_mirror(sources_dir=SOURCES_DIR, sources_list=SOURCES_LIST):
    """The Debian mirror this machine's apt uses (so the image builds where apt works)."""
    if os.environ.get("HPCDL_LAB_MIRROR"):
        return os.environ["HPCDL_LAB_MIRROR"]
    for path in sorted(Path(sources_dir).glob("*.sources")):
        uris = suites = None
        for line in path.read_text().splitlines():
            if line.startswith("URIs:"):
                uris = line.split()[1]
            if line.startswith("Suites:"):
                suites = line.split()[1:]
        if uris and suites and "bookworm" in suites:
            return uris
    sources_list = Path(sources_list)
    if sources_list.exists():
        for line in sources_list.read_text().splitlines():
            parts = line.split()
            if len(parts) >= 3 and parts[0] == "deb" and parts[2] == "bookworm":
                return parts[1]
    return DEFAULT_MIRROR


def ensure_image(release=DEFAULT_RELEASE):
    tag = image_tag(release)
    if engine("image", "inspect", tag, check=False).returncode == 0:
        say(f"base image {tag} is up to date (cached)")
        return tag
    if not shutil.which("debootstrap"):
        if not can_apt_install():
            raise LabError("debootstrap is needed to build the lab's base image: install it.")
        say("installing debootstrap (builds the lab's base image without a registry)")
        apt_install("debootstrap")
    mirror = host_mirror()
    say(f"building base image {tag} (Debian {release}) from {mirror} (about 75 s; cached afterwards)")
    started = time.monotonic()
    run(["bash", str(IMAGE_DIR / "build-rootfs.sh"), tag, mirror, release], env=dict(os.environ, LAB_ENGINE=ENGINE))
    say(f"built {tag} in {time.monotonic() - started:.0f} s")
    return tag
