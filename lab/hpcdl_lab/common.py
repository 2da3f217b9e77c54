"""What every part of the lab shares: its paths and settings, its output, running commands."""
import contextlib
import fcntl
import os
import shutil
import subprocess
from pathlib import Path

LAB_DIR = Path(__file__).resolve().parents[1]
ROOT = LAB_DIR.parent
LAB_HOME = Path(os.environ.get("HPCDL_LAB_HOME", ROOT / ".lab"))
ENGINE = os.environ.get("HPCDL_LAB_ENGINE", "docker")
LABEL = "hpcdl.lab"


def say(message):
    print(f"lab: {message}", flush=True)


class LabError(Exception):
    """A failure the user can act on; printed without a traceback."""


def run(args, check=True, capture=True, **kwargs):
    proc = subprocess.run(args, text=True, capture_output=capture, check=False, **kwargs)
    if check and proc.returncode != 0:
        detail = (proc.stderr or proc.stdout or "").strip() if capture else ""
        raise LabError(f"`{' '.join(map(str, args))}` failed ({proc.returncode}): {detail}")
    return proc


@contextlib.contextmanager
def cache_lock():
    """Held while the caches every lab shares (base image, artifacts, registry) are checked or built,
    so that labs brought up at the same time (the tests' two workers) build each of them once."""
    folder = LAB_HOME / "cache"
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def engine(*args, check=True):
    return run([ENGINE, *args], check=check)


def can_apt_install():
    return os.geteuid() == 0 and bool(shutil.which("apt-get"))


def apt_install(package):
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    run(["apt-get", "update", "-q"], env=env)
    run(["apt-get", "install", "-y", "-q", package], env=env)


def hash_tree(digest, folder):
    """Feed every file under ``folder`` (relative name, then content, in name order) to ``digest``."""
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(folder)).encode())
        digest.update(path.read_bytes())
    return digest
