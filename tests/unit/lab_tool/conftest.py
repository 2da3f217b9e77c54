"""Unit tests of the lab's package (lab/hpcdl_lab): the parts that need no container engine.

This folder is not called `lab`: pyproject.toml's norecursedirs lists `lab` (so that pytest never
walks the lab's own tree), and pytest applies it to every folder of that name, so tests in
tests/unit/lab would run only when named on the command line, never in `make test`.

- ``lab`` is a Lab named lablab-unit whose folder is under tmp_path.
- ``state`` is what `up` records for it, with loopback addresses standing in for the lab's.
"""
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "lab"))

from hpcdl_lab.topology import Lab  # noqa: E402 - needs the line above


@pytest.fixture
def lab(tmp_path):
    lab = Lab("lablab-unit", home=tmp_path / "home")
    lab.dir.mkdir(parents=True)
    return lab


@pytest.fixture
def state(lab):
    return {
        "name": lab.name,
        "image": "hpcdl-lab-base:0123456789ab",
        "runtime_args": [],
        "probe_token": "0123456789abcdef",
        "dir": str(lab.dir),
        "key": str(lab.key),
        "private_bridge": lab.private_bridge,
        "hosts": {
            "internet": {"public_ip": "127.0.10.2"},
            "jump": {"public_ip": "127.0.10.3", "private_ip": "127.0.20.2"},
            "gpu1": {"private_ip": "127.0.20.3"},
            "gpu2": {"private_ip": "127.0.20.4"},
        },
    }
