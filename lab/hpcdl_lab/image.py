"""The lab's base image: Debian 12 with systemd, sshd and Python, built without a registry.

lab/image/build-rootfs.sh builds it with debootstrap from the Debian mirror this machine's apt
uses and imports it as hpcdl-lab-base:<hash of lab/image/>, so that it is rebuilt only when its
recipe changes.
"""
import hashlib
import os
import shutil
import time
from pathlib import Path

from .common import ENGINE, LAB_DIR, LabError, apt_install, can_apt_install, engine, hash_tree, run, say

IMAGE_REPO = "hpcdl-lab-base"
IMAGE_DIR = LAB_DIR / "image"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
SOURCES_DIR = Path("/etc/apt/sources.list.d")
SOURCES_LIST = Path("/etc/apt/sources.list")


def recipe_hash(image_dir=IMAGE_DIR):
    return hash_tree(hashlib.sha256(), Path(image_dir)).hexdigest()[:12]


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


def ensure_image():
    tag = f"{IMAGE_REPO}:{recipe_hash()}"
    if engine("image", "inspect", tag, check=False).returncode == 0:
        say(f"base image {tag} is up to date (cached)")
        return tag
    if not shutil.which("debootstrap"):
        if not can_apt_install():
            raise LabError("debootstrap is needed to build the lab's base image: install it.")
        say("installing debootstrap (builds the lab's base image without a registry)")
        apt_install("debootstrap")
    mirror = host_mirror()
    say(f"building base image {tag} from {mirror} (about 75 s; cached afterwards)")
    started = time.monotonic()
    run(["bash", str(IMAGE_DIR / "build-rootfs.sh"), tag, mirror], env=dict(os.environ, LAB_ENGINE=ENGINE))
    say(f"built {tag} in {time.monotonic() - started:.0f} s")
    return tag
