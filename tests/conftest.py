"""Test-wide setup: make this checkout importable as ``ansible_collections.hpcdl.gpu``.

The repository root is the collection root. Ansible (and Python imports in unit tests) find a
collection only under ``<path>/ansible_collections/<namespace>/<name>``, so a link to the checkout
is kept in .venv/collections (ignored by every tool that walks the tree) and that folder
is put first on ``sys.path`` and on ``ANSIBLE_COLLECTIONS_PATH``.
"""
import hashlib
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _collection_root() -> Path:
    # The same place `make venv` links it (ansible.cfg's collections_path); outside the venv
    # (a bare `pytest` run) a temporary folder serves.
    venv = ROOT / ".venv"
    if venv.is_dir():
        base = venv / "collections"
    else:
        tag = hashlib.sha256(str(ROOT).encode()).hexdigest()[:12]
        base = Path(tempfile.gettempdir()) / f"hpcdl-gpu-collections-{tag}"
    ns = base / "ansible_collections" / "hpcdl"
    ns.mkdir(parents=True, exist_ok=True)
    link = ns / "gpu"
    if not (link.is_symlink() and link.resolve() == ROOT):
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(ROOT, target_is_directory=True)
    return base


COLLECTIONS_BASE = _collection_root()
sys.path.insert(0, str(COLLECTIONS_BASE))
os.environ["ANSIBLE_COLLECTIONS_PATH"] = str(COLLECTIONS_BASE)
# Tools of the virtual environment this pytest runs from (molecule, ansible-playbook, and the
# pytest that Molecule's testinfra verifier calls) come first on PATH.
os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])


def _rank(item):
    """Where a test goes in the run: the lab's scenarios first, longest first (test_molecule.py's
    SCENARIO_SECONDS), then the static checks (ansible-test sanity takes minutes), the integration
    tests, and the quick rest. With `make test`'s two workers, each taking the next test when it is
    free, the long ones then overlap each other instead of ending the run on one worker alone."""
    seconds = getattr(item.module, "SCENARIO_SECONDS", None)
    if seconds is not None and hasattr(item, "callspec"):
        return (0, -seconds.get(item.callspec.params.get("scenario"), 0))
    path = item.nodeid.split("::", 1)[0]
    if path == "tests/test_static.py":
        return (1, 0)
    if path.startswith("tests/integration/"):
        return (2, 0)
    return (3, 0)


def pytest_collection_modifyitems(items):
    items.sort(key=_rank)  # stable: within a rank, pytest's own order
