"""Shared by the integration tests: run a playbook against localhost in check mode.

Bad-input and policy tests run a role's real tasks against this machine with `-c local --check`:
safe even if a preflight check were missing (check mode changes nothing), and each test asserts
that the play stopped where it should. The interpreter is this venv's Python (interpreter
discovery on a developer machine can find a broken shim).
"""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import yaml
from ansible.release import __version__ as ANSIBLE_CORE_VERSION

BIN = Path(sys.executable).parent
# The ansible-core of this venv, whose ansible-playbook the tests run (the pinned one, or 2.16 under
# `make test-ansible-2.16`): some of the text a test reads differs between them.
ANSIBLE_CORE = tuple(int(part) for part in ANSIBLE_CORE_VERSION.split(".")[:2])
ROLES = Path(__file__).resolve().parents[2] / "roles"


def role_play(role):
    """A play that runs hpcdl.gpu.<role> on localhost (with the variables given at run time)."""
    return (f"- name: Run {role} with bad input\n  hosts: localhost\n  gather_facts: false\n"
            f"  roles:\n    - role: hpcdl.gpu.{role}\n")


def task_names(role, stdout):
    """The names of the role's tasks that ran, in order, from the default callback's output."""
    return re.findall(rf"^TASK \[hpcdl\.gpu\.{role} : (.+?)\] \**$", stdout, re.M)


def shown(message):
    """`message` as the default callback prints a failed task's message: ansible-core 2.19 as it is
    ("[ERROR]: Task failed: Action failed: <message>"), older ones only inside the result's JSON
    ('fatal: [localhost]: FAILED! => {..., "msg": "<message>"}'), escaped as JSON escapes it."""
    return message if ANSIBLE_CORE >= (2, 19) else json.dumps(message, ensure_ascii=False)[1:-1]


def type_refused(name, type_name):
    """The start of the argument-spec validation's message for option `name` given a value of the
    Python type `type_name` (str, list, dict): ansible-core 2.19 names the type, older ones its class
    ("argument 'x' is of type <class 'str'>")."""
    given = type_name if ANSIBLE_CORE >= (2, 19) else f"<class '{type_name}'>"
    return f"argument '{name}' is of type {given}"


def run_check_play(tmp_path, play, variables, callback="default", *, extra_env=None, args=(), prefix=()):
    """Write `play` and `variables` to tmp_path and run the play on localhost in check mode
    (`extra_env`: more environment for ansible-playbook, e.g. a fact cache; `args`: more of its
    command line, e.g. tags; `prefix`: a command that runs ansible-playbook, e.g. in a mount namespace)."""
    (tmp_path / "play.yml").write_text(play)
    (tmp_path / "vars.json").write_text(json.dumps(variables))
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0", ANSIBLE_LOCALHOST_WARNING="false",
               ANSIBLE_INVENTORY_UNPARSED_WARNING="false", ANSIBLE_STDOUT_CALLBACK=callback,
               ANSIBLE_LOAD_CALLBACK_PLUGINS="1", ANSIBLE_CALLBACK_RESULT_FORMAT="json",
               ANSIBLE_DEPRECATION_WARNINGS="false", **(extra_env or {}))
    return subprocess.run(
        [*prefix, str(BIN / "ansible-playbook"), "-i", "localhost,", "-c", "local", "--check", "play.yml",
         "-e", f"ansible_python_interpreter={sys.executable}", "-e", "@vars.json", *args],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False)


def fact_cache(tmp_path, facts, host="localhost"):
    """Environment for run_check_play (extra_env) whose jsonfile fact cache, in tmp_path/facts, holds
    `facts` for `host`; gathering is smart, so the play takes them instead of this machine's.
    ansible-core 2.19 keys an entry by a schema version and wraps it ("s1_<host>", holding
    {"__payload__": "<the facts as JSON>"}); older ones keep the facts as they are, under the host's name."""
    cache = tmp_path / "facts"
    cache.mkdir()
    if ANSIBLE_CORE >= (2, 19):
        (cache / f"s1_{host}").write_text(json.dumps({"__payload__": json.dumps(facts)}))
    else:
        (cache / host).write_text(json.dumps(facts))
    return {"ANSIBLE_CACHE_PLUGIN": "jsonfile", "ANSIBLE_CACHE_PLUGIN_CONNECTION": str(cache),
            "ANSIBLE_GATHERING": "smart"}


ARGSPEC_TASK = "Validating arguments against arg spec 'main'"
# Every role opens with the same step (the internal role hpcdl.gpu.set_vars, tagged always), which
# also stops on an OS the role has no values for: its task names, allowed before any refusal.
FIRST_STEP = frozenset({"Gather the facts the role needs",
                        # then the converged check (skipped in check mode), the include of every other step,
                        # and the package facts read once per host (docs/CONTRIBUTING.md, "Converged roles")
                        "Ask whether the role is converged on this host",
                        "Converge the role (every step, as something it reads or manages changed)",
                        "Read the installed packages, once per host"
                        " (the install steps skip what is installed already)",
                        "Ask whether the client is converged on this node",
                        "Point the package manager at the cache"
                        " (every step, as something it reads or manages changed)"})
OS_CHECK = "Load the values for this OS (and stop on an OS the role has none for)"
# The last steps of every role: its handlers run, then the record of a run that went through (skipped
# whenever the check was, as with --tags or in check mode). Neither changes what the role manages.
LAST_STEPS = frozenset({"Run the handlers now",
                        "Record that the role converged on this host (its next run skips it while nothing changes)"})


def cache_probe(role):
    """The names of the role's read-only step that asks the jump host's cache whether it answers
    (roles/<role>/tasks/cache.yml, tagged always, skipped when <role>_cache_host is unset), allowed
    before any refusal like the first step. Its only stop is the refusal to go on without the cache."""
    path = ROLES / role / "tasks" / "cache.yml"
    return frozenset(task["name"] for task in yaml.safe_load(path.read_text()) or []) if path.exists() else frozenset()


def assert_refused(proc, role, message, allowed=frozenset(), secret=None):
    """The play on localhost failed with `message`, before anything changed: every task of `role`
    that ran is the argument-spec validation, the role's first step (FIRST_STEP, OS_CHECK) or one named
    in `allowed` (a set of task names, or a predicate on a name). `secret`, if given, appears nowhere
    in the output. Prints the line a user sees and returns the names of the tasks that ran."""
    output = proc.stdout + proc.stderr
    message = shown(message)
    assert proc.returncode == 2, output
    assert message in output, output
    ran = task_names(role, proc.stdout)
    assert ran, output
    known = allowed if callable(allowed) else allowed.__contains__
    probe = cache_probe(role)
    assert all(name.startswith(ARGSPEC_TASK) or name in FIRST_STEP or name == OS_CHECK or name in probe or known(name)
               for name in ran), ran
    assert re.search(r"localhost\s+:.*failed=1", proc.stdout), output
    if secret is not None:
        assert secret not in output, "the secret was printed"
    print(f"{ran[-1]}: {next(line for line in output.splitlines() if message in line).strip()[:400]}")
    return ran
