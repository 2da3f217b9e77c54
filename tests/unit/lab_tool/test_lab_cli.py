"""lab/lab.py run as Makefile and Molecule run it: any folder, a bare python3, no engine needed here."""
import json
import subprocess
import sys
from pathlib import Path

import pytest
from hpcdl_lab import connection

LAB_PY = Path(__file__).resolve().parents[3] / "lab" / "lab.py"


def lab_py(*args, home, cwd):
    """`python3 -S lab/lab.py ...`: -S leaves site-packages out, so only the standard library is there.

    The engine is one that does not exist, so that a command that should be refused before it
    reaches the engine fails fast instead of building a lab if it is not.
    """
    env = {"PATH": "/usr/bin:/bin", "HPCDL_LAB_HOME": str(home), "HPCDL_LAB_ENGINE": "hpcdl-lab-no-engine"}
    return subprocess.run([sys.executable, "-S", str(LAB_PY), *args], cwd=cwd, capture_output=True, text=True,
                          env=env, check=False)


@pytest.mark.parametrize(("args", "error"), [
    (["status", "--name", "lablab-unit"], "lab 'lablab-unit' is not up"),
    (["inventory", "--name", "lablab-unit", "x.yml"], "lab 'lablab-unit' is not up"),
    (["up", "--name", "lablab-unit", "--gpus", "0"], "--gpus must be 1 or more"),
    (["up", "--name", "lab unit"], "lab name 'lab unit': use letters"),
    (["up", "--name", "lablab-unit", "--gpus", "2", "--os", "gpu3=trixie"], "--os gpu3=trixie: this lab's gpu nodes"),
    (["up", "--name", "lablab-unit", "--os", "buster"], "Debian release 'buster': the lab builds bookworm, trixie"),
])
def test_refusals_are_one_line_without_a_traceback(args, error, tmp_path):
    proc = lab_py(*args, home=tmp_path / "home", cwd=tmp_path)
    assert proc.returncode == 1
    assert proc.stdout == ""
    assert proc.stderr.startswith(f"lab: error: {error}")
    assert len(proc.stderr.splitlines()) == 1


def test_status_and_inventory_read_the_recorded_state(lab, state, tmp_path):
    lab.state_file.write_text(json.dumps(state, indent=2) + "\n")
    home = lab.dir.parent
    status = lab_py("status", "--name", lab.name, home=home, cwd=tmp_path)
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout) == state
    written = lab_py("inventory", "--name", lab.name, "out/hosts.yml", home=home, cwd=tmp_path)
    assert written.returncode == 0, written.stderr
    expected = tmp_path / "expected.yml"
    connection.write_inventory(lab, state, expected)
    assert (tmp_path / "out" / "hosts.yml").read_text() == expected.read_text()


def test_help_lists_the_commands(tmp_path):
    proc = lab_py("--help", home=tmp_path, cwd=tmp_path)
    assert proc.returncode == 0
    assert "The hpcdl.gpu lab: containers on this machine that play the seed's world." in proc.stdout
    assert "{engine,image,up,down,status,wipe,upstream,inventory}" in proc.stdout


@pytest.mark.parametrize("command", [["wipe", "gpu1"], ["upstream"]])
def test_wipe_and_upstream_need_a_lab_that_is_up(command, tmp_path):
    proc = lab_py(*command, "--name", "lablab-unit", home=tmp_path / "home", cwd=tmp_path)
    assert proc.returncode == 1
    assert proc.stderr.startswith("lab: error: ")
    assert "lablab-unit" in proc.stderr and len(proc.stderr.splitlines()) == 1
