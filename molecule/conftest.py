"""pytest's setup for the testinfra verifiers in molecule/<scenario>/tests/.

Molecule runs pytest on a scenario's test files with this checkout as the rootdir, so pytest loads
this file first: it puts molecule/shared/ on sys.path, where the helpers every verifier shares live
(labhosts: the lab and how to reach it; egress_checks: what both egress scenarios check;
wireguard_tests: the WireGuard tests that the egress_wireguard and site scenarios both run).
The main test run (`pytest tests`) never loads it: pyproject.toml keeps it out of `molecule/`.
"""
import sys
from pathlib import Path

SHARED = str(Path(__file__).resolve().parent / "shared")
if SHARED not in sys.path:
    sys.path.insert(0, SHARED)
