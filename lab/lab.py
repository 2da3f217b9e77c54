#!/usr/bin/env python3
"""The hpcdl.gpu lab's command line: `lab/lab.py {engine,image,up,down,status,inventory,wipe,upstream}`.

A thin entry point (Makefile, Molecule's create/destroy playbooks and the benchmark call this
path, with any Python 3 and from any folder); the lab itself is the package beside it,
lab/hpcdl_lab/, whose docstring describes the topology and its modules. Python puts this
script's folder first on sys.path, so the package imports from wherever this runs.
"""
import sys

from hpcdl_lab.cli import main

if __name__ == "__main__":
    sys.exit(main())
