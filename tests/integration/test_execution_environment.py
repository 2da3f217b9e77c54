"""execution-environment.yml is one that ansible-builder accepts, and it holds what the collection needs.

`ansible-builder create` (the step before a container build; nothing is pulled) runs on a copy of the
definition with the collection built from this checkout, as `make ee` does. The image itself is not
built here: its base image is on a registry this machine cannot reach. molecule/platforms runs site.yml
through ansible-runner, the environment's entry point, against the lab.
"""
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
GALAXY = yaml.safe_load((ROOT / "galaxy.yml").read_text())
DEFINITION = yaml.safe_load((ROOT / "execution-environment.yml").read_text())


def pin(requirements, name):
    found = re.search(rf"^{re.escape(name)}==(\S+)$", requirements, re.M)
    assert found, f"{name} is not pinned in requirements.txt"
    return found.group(1)


@pytest.fixture(scope="module")
def context(tmp_path_factory):
    work = tmp_path_factory.mktemp("ee")
    shutil.copy(ROOT / "execution-environment.yml", work)
    shutil.copytree(ROOT / "ee", work / "ee")
    build = subprocess.run([str(BIN / "ansible-galaxy"), "collection", "build", "--output-path", str(work / "dist"),
                            str(ROOT)], capture_output=True, text=True, check=False)
    assert build.returncode == 0, build.stdout + build.stderr
    proc = subprocess.run([str(BIN / "ansible-builder"), "create", "-f", "execution-environment.yml", "-c", "context",
                           "--output-filename", "Containerfile"],
                          cwd=work, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, f"ansible-builder create refused the definition:\n{proc.stdout}{proc.stderr}"
    return work / "context"


def test_ansible_builder_writes_a_context_holding_the_collection(context):
    tarball = f"hpcdl-gpu-{GALAXY['version']}.tar.gz"
    assert (context / "_build" / "collections" / tarball).is_file(), sorted(p.name for p in context.rglob("*"))
    containerfile = (context / "Containerfile").read_text()
    assert "ansible-galaxy collection install" in containerfile and "-r requirements.yml" in containerfile
    installed = yaml.safe_load((context / "_build" / "requirements.yml").read_text())["collections"]
    assert {"name": f"collections/{tarball}", "type": "file"} in installed, installed
    assert "openssh-client [platform:dpkg]" in (context / "_build" / "bindep.txt").read_text()


def test_the_environment_pins_the_controller_the_tests_run():
    requirements = (ROOT / "requirements.txt").read_text()
    deps = DEFINITION["dependencies"]
    assert deps["ansible_core"]["package_pip"] == f"ansible-core=={pin(requirements, 'ansible-core')}"
    assert deps["ansible_runner"]["package_pip"] == f"ansible-runner=={pin(requirements, 'ansible-runner')}"


def test_the_environment_holds_every_collection_galaxy_yml_depends_on():
    listed = yaml.safe_load((ROOT / "ee" / "requirements.yml").read_text())["collections"]
    wanted = {name: f">={low.lstrip('>=')}" for name, low in GALAXY["dependencies"].items()}
    assert {c["name"]: c["version"] for c in listed if c.get("type") != "file"} == wanted
    own = [c["name"] for c in listed if c.get("type") == "file"]
    assert own == [f"collections/hpcdl-gpu-{GALAXY['version']}.tar.gz"], f"not galaxy.yml's version: {own}"
