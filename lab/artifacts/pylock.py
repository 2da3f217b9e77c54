"""The hash-pinned requirements.txt of a lab image's Python packages, written once for the recipes
that install some (jupyter/relock.py, gpu_bench/relock.py call relock()).

relock() resolves the top-level pins for the image's Python (Debian 12's python3 is 3.11.2, and
some releases need 3.11.5+) with `pip install --dry-run --report --python-version` in a throwaway
venv (it also gets `packaging` there), wheels only, then pins each release with the sha256 of
every wheel of it on PyPI that the image can install (CPython 3.11, Linux x86_64 glibc), read from
PyPI's simple JSON API; a release with a local version (`torch==2.13.0+cpu`, which PyPI does not
take) only from the wheels in wheel_dir, with their own sha256. Run it on Linux x86_64 with Python
3.11 (the wheel tags are this interpreter's). Needs PyPI; honours PIP_CERT for TLS.
"""
import hashlib
import json
import os
import ssl
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

INDEX = "https://pypi.org/simple"
IMAGE_PYTHON = "3.11.2"  # Debian 12's python3, which the lab's images run
HERE = Path(__file__).resolve().parent


def cafile():
    for path in (os.environ.get("PIP_CERT"), "/etc/ssl/certs/ca-certificates.crt"):
        if path and Path(path).is_file():
            return path
    return None


def local_wheel_hashes(wheel_dir, name, version):
    prefix = f"{name.replace('-', '_')}-{version}-"
    found = sorted(p for p in Path(wheel_dir).glob("*.whl") if p.name.startswith(prefix)) if wheel_dir else []
    if not found:
        raise SystemExit(f"no {name}=={version} wheel in {wheel_dir} (PyPI takes no local versions)")
    return [hashlib.sha256(p.read_bytes()).hexdigest() for p in found]


def wheel_hashes(name, version, supported, ctx):
    from packaging.specifiers import SpecifierSet  # noqa: PLC0415 (lives in the throwaway venv)
    from packaging.utils import parse_wheel_filename  # noqa: PLC0415
    from packaging.version import Version  # noqa: PLC0415

    req = urllib.request.Request(f"{INDEX}/{name}/",
                                 headers={"Accept": "application/vnd.pypi.simple.v1+json"})
    with urllib.request.urlopen(req, context=ctx) as resp:
        files = json.load(resp)["files"]
    hashes = []
    for f in files:
        if not f["filename"].endswith(".whl") or f.get("yanked"):
            continue
        _, ver, _, tags = parse_wheel_filename(f["filename"])
        requires = f.get("requires-python") or ""
        if ver == Version(version) and tags & supported and IMAGE_PYTHON in SpecifierSet(requires):
            hashes.append(f["hashes"]["sha256"])
    if not hashes:
        raise SystemExit(f"no installable wheel of {name}=={version} on {INDEX}")
    return sorted(hashes)


def write_lock(job):
    """Runs inside the throwaway venv (it has `packaging`); job: out, pins, header, wheel_dir."""
    from packaging.tags import sys_tags  # noqa: PLC0415 (lives in the throwaway venv)
    from packaging.utils import canonicalize_name  # noqa: PLC0415

    ctx = ssl.create_default_context(cafile=cafile())
    supported = set(sys_tags())
    entries = []
    for pin in job["pins"]:
        name, version = pin.split("==")
        name = canonicalize_name(name)
        if "+" in version:
            hashes = local_wheel_hashes(job["wheel_dir"], name, version)
        else:
            hashes = wheel_hashes(name, version, supported, ctx)
        entries.append(" \\\n    ".join([f"{name}=={version}"] + [f"--hash=sha256:{h}" for h in hashes]))
    Path(job["out"]).write_text(job["header"] + "\n".join(sorted(entries)) + "\n")


def relock(out, top, header, wheel_dir=None):
    """Write out (a requirements.txt) for the top-level pins top; header: its comment lines, with
    {top} and {python} filled in here; wheel_dir: a folder pip may take wheels from besides PyPI."""
    cert = ["--cert", cafile()] if cafile() else []
    links = ["--find-links", str(wheel_dir)] if wheel_dir else []
    with tempfile.TemporaryDirectory() as tmp:
        venv = Path(tmp) / "venv"
        report = Path(tmp) / "report.json"
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        py = str(venv / "bin" / "python")
        subprocess.run([py, "-m", "pip", "install", "-q", "packaging"], check=True)
        # Resolve for the image's interpreter, not this one (Requires-Python, wheel tags).
        subprocess.run([py, "-m", "pip", "install", "-q", "--isolated", "--index-url", INDEX, *cert, *links,
                        "--dry-run", "--target", str(Path(tmp) / "target"), "--report", str(report),
                        "--python-version", IMAGE_PYTHON, "--only-binary", ":all:", *top], check=True)
        pins = sorted(f"{item['metadata']['name']}=={item['metadata']['version']}"
                      for item in json.loads(report.read_text())["install"])
        job = {"out": str(out), "pins": pins, "wheel_dir": str(wheel_dir) if wheel_dir else None,
               "header": header.format(python=IMAGE_PYTHON, top=" ".join(top))}
        code = "import json, sys; sys.path.insert(0, sys.argv[1]); import pylock; pylock.write_lock(json.load(sys.stdin))"
        subprocess.run([py, "-c", code, str(HERE)], input=json.dumps(job), text=True, check=True)
    print(f"wrote {out} ({len(pins)} releases)")
