"""Stand-in for get-pip.py that ansible-test runs to put pip into an empty virtual environment.

ansible-test (`sanity`) creates a virtual environment per test without pip, then bootstraps pip
by running ``~/.ansible/test/cache/get_pip_<version>.py`` through its quiet_pip wrapper,
downloading that script first from a host that is not a package registry when it is not cached
(ansible_test/_util/target/setup/requirements.py, ``bootstrap``). tests/test_static.py gives
ansible-test a temporary HOME for every run and copies this file there under that name, next to
the pip wheel that `make venv` downloaded from PyPI with its hash checked
(tests/sanity/pip-bootstrap.txt). Run as ``python get_pip.py [pip options] pip==X``, it installs
that wheel with the wheel's own pip, from the folder it lies in and nowhere else.
"""
import glob
import os
import sys

# Options of get-pip.py itself, which `pip install` does not know.
GET_PIP_ONLY = ("--no-setuptools", "--no-wheel")


def main(argv):
    here = os.path.dirname(os.path.abspath(__file__))
    wheels = sorted(glob.glob(os.path.join(here, "pip-*-py3-none-any.whl")))
    if not wheels:
        sys.exit(f"get_pip stand-in: no pip wheel next to {__file__}; run `make venv`")
    sys.path.insert(0, wheels[-1])  # a wheel is a zip archive Python imports from
    from pip._internal.cli.main import main as pip_main  # noqa: PLC0415 - only importable from the wheel

    args = [a for a in argv if a not in GET_PIP_ONLY]
    return pip_main(["install", "--no-index", "--find-links", here, *args])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
