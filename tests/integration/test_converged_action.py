"""hpcdl.gpu.converged's action plugin on this machine (`-c local`, records under tmp_path): a role that
ran and recorded is converged on its next run; a changed variable of its argument specs, or an edited
file of the role, makes it run again, and the reason names the variable or the files, never a value.
Within one play, the host's later checks are answered from the first one's snapshot (no call to the host)
until a role records there.
"""
import json
import os
import re
import subprocess
import sys
import textwrap

import pytest
from check_play import BIN

SECRET = "hpcdl-test-secret-5f2d9c"


def role(tmp_path, name, manages):
    folder = tmp_path / "roles" / name
    (folder / "meta").mkdir(parents=True)
    (folder / "tasks").mkdir()
    (folder / "meta" / "argument_specs.yml").write_text(textwrap.dedent(f"""\
        argument_specs:
          main:
            short_description: a role for the test
            options:
              {name}_value: {{type: str, default: one}}
              {name}_secret: {{type: str, default: ""}}
        """))
    (folder / "tasks" / "main.yml").write_text(textwrap.dedent(f"""\
        - name: Ask
          hpcdl.gpu.converged:
            role: {name}
            path: "{{{{ records }}}}"
            manages: {json.dumps(manages)}
          register: asked
        - name: Show
          ansible.builtin.debug:
            msg: "{name} {{{{ asked.converged }}}} {{{{ asked.from_snapshot }}}} {{{{ asked.reasons | to_json }}}}"
        - name: Record
          hpcdl.gpu.converged:
            role: {name}
            path: "{{{{ records }}}}"
            state: record
            manages: {json.dumps(manages)}
          when: not asked.converged and record | default(true) | bool
        """))
    return folder


@pytest.fixture
def lab(tmp_path):
    managed = tmp_path / "managed.conf"
    managed.write_text("a = 1\n")
    for name in ("first", "second"):
        role(tmp_path, name, {"files": [str(managed)]})
    (tmp_path / "play.yml").write_text("- hosts: localhost\n  gather_facts: false\n  roles: [first, second]\n")
    return tmp_path


def play(folder, *args):
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_LOCALHOST_WARNING="false",
               ANSIBLE_INVENTORY_UNPARSED_WARNING="false", ANSIBLE_ROLES_PATH=str(folder / "roles"))
    proc = subprocess.run(
        [str(BIN / "ansible-playbook"), "-i", "localhost,", "-c", "local", "play.yml",
         "-e", f"ansible_python_interpreter={sys.executable}", "-e", f"records={folder / 'records'}", *args],
        cwd=folder, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    shown = dict(re.findall(r'"msg": "(first|second) (.+)"', proc.stdout))
    return shown, proc.stdout + proc.stderr


def test_recorded_then_converged_from_the_snapshot(lab):
    shown = play(lab)[0]
    assert shown["first"].startswith("False False") and "no record" in shown["first"]
    shown = play(lab)[0]
    # The first check of the play asks the host; the second is answered from its snapshot.
    assert shown == {"first": "True False []", "second": "True True []"}


def test_a_changed_variable_is_named_and_its_value_is_not(lab):
    play(lab)
    shown, output = play(lab, "-e", f"first_secret={SECRET}", "-e", "record=false")
    assert shown["first"] == 'False False [\\"input changed: first_secret\\"]', shown
    assert shown["second"].startswith("True"), shown
    assert SECRET not in output
    records = "".join(path.read_text() for path in (lab / "records").glob("*.json"))
    assert SECRET not in records
    # The check removed first's record: a failed run leaves none, and the next run goes through it.
    assert not (lab / "records" / "first.json").exists()


def test_an_edited_role_file_or_managed_file_runs_it_again(lab):
    play(lab)
    tasks = lab / "roles" / "second" / "tasks" / "main.yml"
    tasks.write_text(tasks.read_text() + "# edited\n")
    shown = play(lab)[0]
    assert shown["first"].startswith("True") and "input changed: the role files" in shown["second"], shown
    (lab / "managed.conf").write_text("a = 2\n")
    shown = play(lab)[0]
    for name in ("first", "second"):
        assert shown[name].startswith("False False") and "managed.conf was sha256:" in shown[name], shown


def test_after_a_role_records_the_next_check_asks_the_host(lab):
    play(lab)
    (lab / "roles" / "first" / "tasks" / "main.yml").write_text(
        (lab / "roles" / "first" / "tasks" / "main.yml").read_text() + "# edited\n")
    shown = play(lab)[0]
    # first ran and recorded: second's check is a real one, not the snapshot taken before first ran.
    assert shown["first"].startswith("False") and shown["second"] == "True False []", shown
