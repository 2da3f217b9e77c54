"""Static checks of the whole tree: linters, ansible-test sanity, the role contracts, the build.

Each is one test so that the closing line counts them; each quotes the tool's findings on failure.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
ROLES = sorted(p.parent.parent.name for p in ROOT.glob("roles/*/meta/argument_specs.yml"))
# Tooling that is not collection content: the lab's own machinery and CI (build_ignore'd too).
NOT_COLLECTION = ("lab/", ".ci/", "bench/", "docs/role_readmes.py")


def run(args, cwd=ROOT, timeout=1800):
    proc = subprocess.run([str(a) for a in args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, check=False)
    return proc.returncode, proc.stdout + proc.stderr


def tracked_files():
    out = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout
    return [f for f in out.splitlines() if (ROOT / f).is_file()]


def test_ansible_lint_production_profile():
    rc, out = run([BIN / "ansible-lint", "--profile", "production", "--nocolor"])
    assert rc == 0, out[-6000:]


def test_yamllint():
    rc, out = run([BIN / "yamllint", "--strict", "."])
    assert rc == 0, out[-6000:]


def test_ruff():
    rc, out = run([BIN / "ruff", "check", "."])
    assert rc == 0, out[-6000:]


def test_target_code_runs_on_python_27_and_36():
    """Modules and module_utils run on the targets' Python: the seed's CentOS 7 has 2.7."""
    files = sorted(str(p) for p in ROOT.glob("plugins/module*/*.py"))
    assert files, "no module code found"
    rc, out = run([BIN / "vermin", "-t=2.7-", "-t=3.6-", "--no-tips", "--violations",
                   "--eval-annotations", *files])
    assert rc == 0, out[-6000:]


# The controller this pytest runs under picks its ansible-test: .venv (the pinned ansible-core) uses
# .venv-sanity, .venv-2.16 (`make test-ansible-2.16`) .venv-2.16-sanity, each with its own pip bootstrap.
_SUFFIX = BIN.parent.name[len(".venv"):] if BIN.parent.name.startswith(".venv-") else ""
SANITY_VENV = ROOT / f".venv{_SUFFIX}-sanity"
PIP_BOOTSTRAP = ROOT / "tests" / "sanity" / f"pip-bootstrap{_SUFFIX}.txt"
PIP_WHEELS = ROOT / ".cache" / f"ansible-test{_SUFFIX}"  # filled by `make venv` (venv-2.16) from PIP_BOOTSTRAP


def ansible_test_home(tmp_path):
    """A HOME for ansible-test that no earlier run can have filled.

    ansible-test keeps its sanity virtual environments and its get-pip cache under ~/.ansible/test;
    environments left there by an earlier run hid, once, that a new machine cannot bootstrap pip
    in them. So every run starts from an empty HOME holding only the pip bootstrap: the stand-in
    tests/sanity/get_pip.py under the name ansible-test looks for, beside the hash-checked wheels
    that PIP_BOOTSTRAP pins.
    """
    pinned = dict(re.findall(r"^([\w.-]+)==(\S+)", PIP_BOOTSTRAP.read_text(), re.M))
    wanted = json.loads(subprocess.run(
        [SANITY_VENV / "bin" / "python", "-c",
         "import json, sys; from types import SimpleNamespace; "
         "from ansible_test._internal.python_requirements import get_venv_packages; "
         "print(json.dumps(get_venv_packages(SimpleNamespace(version='%d.%d' % sys.version_info[:2]))))"],
        capture_output=True, text=True, check=True).stdout)
    rel = PIP_BOOTSTRAP.relative_to(ROOT)
    assert wanted == pinned, (f"ansible-test now bootstraps {wanted}, {rel} pins {pinned}: pin those "
                              f"with their sha256 from PyPI there and run `make venv`")
    home = tmp_path / "home"
    cache = home / ".ansible" / "test" / "cache"
    cache.mkdir(parents=True)
    shutil.copy2(ROOT / "tests" / "sanity" / "get_pip.py", cache / f"get_pip_{pinned['pip'].replace('.', '_')}.py")
    for name, version in pinned.items():
        wheels = sorted(PIP_WHEELS.glob(f"{name}-{version}-*.whl"))
        assert wheels, f"no {name} {version} wheel in {PIP_WHEELS}: run `make venv`"
        shutil.copy2(wheels[-1], cache / wheels[-1].name)
    return home, pinned["pip"]


def test_ansible_test_sanity(tmp_path):
    """ansible-test sanity on the collection, copied under ansible_collections/hpcdl/gpu, as on a new machine."""
    dest = tmp_path / "ansible_collections" / "hpcdl" / "gpu"
    for rel in tracked_files():
        if rel.startswith(NOT_COLLECTION):
            continue
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, dest / rel)
    home, pip_version = ansible_test_home(tmp_path)
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    # `make venv` (venv-2.16) builds SANITY_VENV with ansible-test's own pinned sanity requirements.
    proc = subprocess.run(
        [SANITY_VENV / "bin" / "ansible-test", "sanity", "--local", "--color", "no", "--python", python],
        cwd=dest, capture_output=True, text=True, timeout=1800, check=False,
        env=dict(os.environ, HOME=str(home)))
    out = proc.stdout + proc.stderr
    findings = [line for line in out.splitlines() if line.startswith(("ERROR", "FATAL"))]
    assert proc.returncode == 0, "\n".join(findings) or out[-6000:]
    # It made its environments in the empty HOME, with the wheel, and downloaded no get-pip.
    assert f"Using cached pip {pip_version} bootstrap script" in out, out[-3000:]
    assert "Downloading pip" not in out
    assert list((home / ".ansible" / "test" / "venv").glob("sanity.*/*/*/marker.txt")), "no sanity venv was made"


@pytest.mark.parametrize("role", ROLES)
def test_argument_specs_match_defaults(role):
    """Every default is in the role's contract, and every optional spec has a default."""
    role_dir = ROOT / "roles" / role
    specs = yaml.safe_load((role_dir / "meta" / "argument_specs.yml").read_text())
    options = specs["argument_specs"]["main"]["options"]
    defaults_file = role_dir / "defaults" / "main.yml"
    defaults = yaml.safe_load(defaults_file.read_text()) or {} if defaults_file.exists() else {}
    assert set(defaults) - set(options) == set(), "defaults missing from argument_specs"
    optional = {k for k, v in options.items() if not v.get("required")}
    assert optional - set(defaults) == set(), "optional variables without a default"
    for name, spec in options.items():
        assert spec.get("description"), f"{name} has no description"
        assert spec.get("type"), f"{name} has no type"
        assert name.startswith(role + "_"), f"{name} is not prefixed with the role's name"


def test_role_readmes_are_generated_from_their_specs():
    """Each role README's variable table, tags and "Tested by" list are what docs/role_readmes.py
    makes of the role's argument specs, defaults, main.yml and the tests (`make readmes`)."""
    rc, out = run([sys.executable, ROOT / "docs" / "role_readmes.py", "--check"])
    assert rc == 0, out
    for role in ROLES:
        readme = (ROOT / "roles" / role / "README.md").read_text()
        specs = yaml.safe_load((ROOT / "roles" / role / "meta" / "argument_specs.yml").read_text())
        missing = [name for name in specs["argument_specs"]["main"]["options"] if f"| `{name}` |" not in readme]
        assert missing == [], f"roles/{role}/README.md has no row for {missing}"
        assert "## Tested by" in readme and "- `" in readme.split("## Tested by", 1)[1], role


def test_collection_builds_without_tests_or_lab(tmp_path):
    rc, out = run([BIN / "ansible-galaxy", "collection", "build", "--output-path", tmp_path])
    assert rc == 0, out
    (tarball,) = tmp_path.glob("hpcdl-gpu-*.tar.gz")
    with tarfile.open(tarball) as tar:
        names = tar.getnames()
    assert "galaxy.yml" not in names and "MANIFEST.json" in names
    assert not [n for n in names if n.split("/")[0] in ("lab", "molecule", "tests", ".ci", ".lab", "bench")]
    assert any(n.startswith("playbooks/") for n in names)
