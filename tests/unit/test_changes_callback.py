"""The hpcdl.gpu.changes callback: what it lists at the end of a run, and what it never shows.

Driven twice: with fake task/result objects (every branch, fast), and through ansible-playbook
on localhost with the callback enabled the way ansible.cfg enables it.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from ansible_collections.hpcdl.gpu.plugins.callback.changes import CallbackModule

BIN = Path(sys.executable).parent
SECRET = "hpcdl-S3CRET-do-not-print"


class FakeDisplay:
    def __init__(self):
        self.lines = []

    def banner(self, msg, *args, **kwargs):
        self.lines.append(f"== {msg}")

    def display(self, msg, *args, **kwargs):
        self.lines.append(msg)

    # CallbackBase may ask for these
    def warning(self, msg, *args, **kwargs):
        self.lines.append(f"WARNING {msg}")

    def vvvv(self, *args, **kwargs):
        pass

    verbosity = 0


class FakeRole:
    def __init__(self, name):
        self.name = name

    def get_name(self, include_role_fqcn=True):
        return self.name


class FakeTask:
    _count = 0

    def __init__(self, name, role=None, no_log=False):
        FakeTask._count += 1
        self._uuid = f"uuid-{FakeTask._count}"
        self.name = name
        self._role = FakeRole(role) if role else None
        self.no_log = no_log
        self.action = "ansible.builtin.command"

    def get_name(self, include_role_fqcn=True):
        return f"{self._role.get_name()} : {self.name}" if self._role else self.name


class Handler(FakeTask):
    """Named like ansible.playbook.handler.Handler, which the callback also recognises."""


class FakeHost:
    def __init__(self, name):
        self.name = name

    def get_name(self):
        return self.name


class FakeResult:
    """The 2.19 shape (task, host, result); older ansible-core had _task, _host, _result."""

    def __init__(self, host, task, result, old_style=False):
        if old_style:
            self._host, self._task, self._result = FakeHost(host), task, result
        else:
            self.host, self.task, self.result = FakeHost(host), task, result


class FakeStats:
    def __init__(self, *hosts, failures=(), dark=()):
        self.processed = {h: 1 for h in hosts}
        self.failures = {h: 1 for h in failures}
        self.dark = {h: 1 for h in dark}


def new_callback():
    display = FakeDisplay()
    return CallbackModule(display=display), display


def test_lists_changed_tasks_per_host_in_order_with_roles_and_handlers():
    cb, display = new_callback()
    install = FakeTask("Install Docker", role="hpcdl.gpu.docker")
    keep = FakeTask("Read the daemon configuration", role="hpcdl.gpu.docker")
    restart = Handler("Restart Docker", role="hpcdl.gpu.docker")
    show = FakeTask("Show the summary")
    cb.v2_playbook_on_task_start(install, False)
    cb.v2_runner_on_ok(FakeResult("gpu1", install, {"changed": True}))
    cb.v2_runner_on_ok(FakeResult("gpu2", install, {"changed": False}))
    cb.v2_playbook_on_task_start(keep, False)
    cb.v2_runner_on_ok(FakeResult("gpu1", keep, {"changed": False}))
    cb.v2_playbook_on_handler_task_start(restart)
    cb.v2_runner_on_ok(FakeResult("gpu1", restart, {"changed": True}, old_style=True))
    cb.v2_playbook_on_task_start(show, False)
    cb.v2_runner_on_ok(FakeResult("jump", show, {"changed": False}))
    cb.v2_playbook_on_stats(FakeStats("gpu1", "gpu2", "jump"))
    assert display.lines == [
        "== What changed in this run",
        "gpu1: 2 tasks changed",
        "  - hpcdl.gpu.docker : Install Docker",
        "  - (handler) hpcdl.gpu.docker : Restart Docker",
        "gpu2: nothing changed",
        "jump: nothing changed",
    ]


def test_repeated_and_failed_changes_are_counted_once_and_marked():
    cb, display = new_callback()
    loop = FakeTask("Add the users")
    broken = FakeTask("Run the installer")
    cb.v2_playbook_on_task_start(loop, False)
    cb.v2_runner_on_ok(FakeResult("gpu1", loop, {"changed": True}))
    cb.v2_runner_on_ok(FakeResult("gpu1", loop, {"changed": True}))
    cb.v2_playbook_on_task_start(broken, False)
    cb.v2_runner_on_failed(FakeResult("gpu1", broken, {"changed": True, "rc": 1}))
    cb.v2_runner_on_failed(FakeResult("gpu2", broken, {"changed": True}), ignore_errors=True)
    cb.v2_runner_on_failed(FakeResult("gpu3", broken, {"changed": False}))
    cb.v2_playbook_on_stats(FakeStats("gpu1", "gpu2", "gpu3"))
    assert display.lines[1:] == [
        "gpu1: 2 tasks changed",
        "  - Add the users (x2)",
        "  - Run the installer (failed)",
        "gpu2: 1 task changed",
        "  - Run the installer (failed, ignored)",
        "gpu3: nothing changed",
    ]


def test_check_mode_says_would_change():
    cb, display = new_callback()
    cb._check_mode = True
    task = FakeTask("Write daemon.json")
    cb.v2_playbook_on_task_start(task, False)
    cb.v2_runner_on_ok(FakeResult("gpu1", task, {"changed": True}))
    cb.v2_playbook_on_stats(FakeStats("gpu1", "jump"))
    assert display.lines == [
        "== What would change in this run (check mode)",
        "gpu1: 1 task would change",
        "  - Write daemon.json",
        "jump: nothing would change",
    ]


def test_a_no_log_result_shows_its_name_only():
    cb, display = new_callback()
    task = FakeTask("Set the notebook token", role="hpcdl.gpu.jupyter", no_log=True)
    cb.v2_playbook_on_task_start(task, False)
    cb.v2_runner_on_ok(FakeResult("gpu1", task, {
        "changed": True, "token": SECRET, "cmd": ["echo", SECRET], "item": SECRET,
        "_ansible_no_log": True}))
    cb.v2_playbook_on_stats(FakeStats("gpu1"))
    text = "\n".join(display.lines)
    assert SECRET not in text
    assert "  - hpcdl.gpu.jupyter : Set the notebook token" in display.lines


def test_says_when_a_host_failed_or_became_unreachable():
    cb, display = new_callback()
    task = FakeTask("Install Docker")
    cb.v2_playbook_on_task_start(task, False)
    cb.v2_runner_on_ok(FakeResult("gpu1", task, {"changed": True}))
    cb.v2_playbook_on_stats(FakeStats("gpu1", "gpu2", "jump", failures=["gpu1"], dark=["gpu2"]))
    assert display.lines[1:] == [
        "gpu1: 1 task changed (then a task failed)",
        "  - Install Docker",
        "gpu2: nothing changed (then it was unreachable)",
        "jump: nothing changed",
    ]


def test_no_hosts():
    cb, display = new_callback()
    cb.v2_playbook_on_stats(FakeStats())
    assert display.lines == ["== What changed in this run", "no host ran a task"]


PLAY = f"""\
- name: Change a few things on localhost
  hosts: localhost
  gather_facts: false
  vars:
    secret_value: {SECRET}
  tasks:
    - name: Change something and notify
      ansible.builtin.command: echo one
      changed_when: true
      notify: Restart the thing
    - name: Change nothing
      ansible.builtin.command: echo two
      changed_when: false
    - name: Use the secret
      ansible.builtin.command: echo {{{{ secret_value }}}}
      register: secret_result
      changed_when: true
      no_log: true
    - name: Change on two of three items
      ansible.builtin.command: echo {{{{ item }}}}
      loop: [a, b, c]
      changed_when: item != 'b'
  handlers:
    - name: Restart the thing
      ansible.builtin.command: echo restart
      changed_when: true
"""


def run_playbook(tmp_path, *extra, stdout_callback="default"):
    (tmp_path / "play.yml").write_text(PLAY)
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0",
               ANSIBLE_LOCALHOST_WARNING="false", ANSIBLE_INVENTORY_UNPARSED_WARNING="false",
               ANSIBLE_CALLBACKS_ENABLED="hpcdl.gpu.changes", ANSIBLE_STDOUT_CALLBACK=stdout_callback,
               ANSIBLE_DEPRECATION_WARNINGS="false")
    proc = subprocess.run(
        [str(BIN / "ansible-playbook"), "-i", "localhost,", "-c", "local", "play.yml",
         "-e", f"ansible_python_interpreter={sys.executable}", *extra],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def block(stdout, title):
    """The callback's block: the lines after its banner."""
    head, sep, tail = stdout.partition(title)
    assert sep, stdout
    return [line for line in tail.splitlines()[1:] if line.strip()]


@pytest.mark.parametrize("verbosity", [[], ["-vvv"]])
def test_playbook_run_prints_the_block_and_never_the_secret(tmp_path, verbosity):
    stdout = run_playbook(tmp_path, *verbosity)
    assert block(stdout, "What changed in this run") == [
        "localhost: 4 tasks changed",
        "  - Change something and notify",
        "  - Use the secret",
        "  - Change on two of three items",
        "  - (handler) Restart the thing",
    ]
    # The default callback hides the no_log result; the callback adds nothing of it either.
    assert SECRET not in stdout


@pytest.mark.parametrize("stdout_callback", ["ansible.posix.json", "json"])
def test_a_json_document_on_stdout_stays_whole(tmp_path, stdout_callback):
    stdout = run_playbook(tmp_path, stdout_callback=stdout_callback)
    document = json.loads(stdout)  # nothing printed after it
    assert document["stats"]["localhost"]["changed"] == 4, document["stats"]
    assert "What changed" not in stdout


def test_playbook_check_mode_run(tmp_path):
    stdout = run_playbook(tmp_path, "--check")
    # command tasks are skipped in check mode: nothing would change
    assert block(stdout, "What would change in this run (check mode)") == [
        "localhost: nothing would change"]


def test_documentation_renders():
    proc = subprocess.run([str(BIN / "ansible-doc"), "-t", "callback", "hpcdl.gpu.changes"],
                          env=dict(os.environ, ANSIBLE_NOCOLOR="1"), capture_output=True, text=True,
                          timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "What changed in this run" in proc.stdout
    assert "aggregate" in proc.stdout


class FakeVariableManager:
    def __init__(self):
        self.facts = {}

    def set_nonpersistent_facts(self, host, facts):
        self.facts.setdefault(host, {}).update(facts)


class FakePlay:
    def __init__(self, variable_manager):
        self.variable_manager = variable_manager

    def get_variable_manager(self):
        return self.variable_manager


def test_a_failed_or_unreachable_host_is_named_with_its_task_and_message():
    cb, display = new_callback()
    variables = FakeVariableManager()
    cb.v2_playbook_on_play_start(FakePlay(variables))
    install = FakeTask("Install the Docker packages", role="hpcdl.gpu.docker")
    probe = FakeTask("Fetch the probe page through the tunnel", role="hpcdl.gpu.hpc_vpn")
    stop = FakeTask("Stop with what was tried", role="hpcdl.gpu.hpc_vpn")
    cb.v2_playbook_on_task_start(install, False)
    cb.v2_runner_on_ok(FakeResult("gpu1", install, {"changed": True}))
    cb.v2_runner_on_failed(FakeResult("gpu2", install, {"msg": "No package matching 'docker-ce'\n is available"}))
    # gpu3: the block fails, its rescue stops with a better message: the last one is named
    cb.v2_runner_on_failed(FakeResult("gpu3", probe, {"msg": "Status code was -1"}))
    cb.v2_runner_on_failed(FakeResult("gpu3", stop, {"msg": "gpu3 has no egress through the tunnel" + " x" * 300}))
    # gpu4: a failure that a rescue caught, then the host went on: not named
    cb.v2_runner_on_failed(FakeResult("gpu4", probe, {"msg": "Status code was -1"}))
    cb.v2_runner_on_unreachable(FakeResult("gpu5", install, {"msg": "Failed to connect to the host via ssh"}))
    cb.v2_playbook_on_stats(FakeStats("gpu1", "gpu2", "gpu3", "gpu4", "gpu5", failures=["gpu2", "gpu3"], dark=["gpu5"]))
    assert display.lines[1:4] == [
        "gpu1: 1 task changed",
        "  - hpcdl.gpu.docker : Install the Docker packages",
        "gpu2: nothing changed (then a task failed)",
    ]
    assert display.lines[4] == ("  ! failed at hpcdl.gpu.docker : Install the Docker packages: "
                                "No package matching 'docker-ce' is available")
    assert display.lines[5] == "gpu3: nothing changed (then a task failed)"
    assert display.lines[6].startswith("  ! failed at hpcdl.gpu.hpc_vpn : Stop with what was tried: gpu3 has no egress")
    assert len(display.lines[6]) < 400 and display.lines[6].endswith("...")
    assert display.lines[7:] == [
        "gpu4: nothing changed",
        "gpu5: nothing changed (then it was unreachable)",
        "  ! unreachable at hpcdl.gpu.docker : Install the Docker packages: Failed to connect to the host via ssh",
    ]
    # Recorded on the hosts for playbooks/summary.yml while the run goes on.
    assert variables.facts["gpu2"]["hpcdl_failed"] == {
        "task": "hpcdl.gpu.docker : Install the Docker packages",
        "msg": "No package matching 'docker-ce' is available", "unreachable": False}
    assert variables.facts["gpu5"]["hpcdl_failed"]["unreachable"] is True
    # and whether a task changed something there (the summary gathers facts again only where one did)
    assert {host: facts["hpcdl_changed"] for host, facts in variables.facts.items() if "hpcdl_changed" in facts} == {
        "gpu1": True, "gpu2": False, "gpu3": False, "gpu4": False}


def test_the_message_of_a_no_log_failure_is_not_shown():
    cb, display = new_callback()
    variables = FakeVariableManager()
    cb.v2_playbook_on_play_start(FakePlay(variables))
    task = FakeTask("Write the server's config", role="hpcdl.gpu.jupyter", no_log=True)
    cb.v2_playbook_on_task_start(task, False)
    cb.v2_runner_on_failed(FakeResult("gpu1", task, {"msg": f"could not write {SECRET}", "_ansible_no_log": True}))
    censored = FakeTask("Use the token")
    cb.v2_runner_on_failed(FakeResult("gpu2", censored, {
        "censored": "the output has been hidden due to the fact that 'no_log: true' was specified for this result"}))
    cb.v2_playbook_on_stats(FakeStats("gpu1", "gpu2", failures=["gpu1", "gpu2"]))
    assert SECRET not in "\n".join(display.lines) + repr(variables.facts)
    assert "  ! failed at hpcdl.gpu.jupyter : Write the server's config: its output is hidden (no_log)" in display.lines
    assert "  ! failed at Use the token: its output is hidden (no_log)" in display.lines


FAILING_PLAY = f"""\
- name: Fail on one host, the other goes on
  hosts: all
  gather_facts: false
  tasks:
    - name: Break on one host
      ansible.builtin.command: /bin/false
      changed_when: false
      when: inventory_hostname == 'one'
    - name: Break with a secret on no host
      ansible.builtin.fail:
        msg: {SECRET}
      no_log: true
      when: inventory_hostname == 'nobody'

- name: Read what the callback recorded
  hosts: two
  gather_facts: false
  tasks:
    - name: Show the failure of the other host
      ansible.builtin.debug:
        msg: >-
          recorded: {{{{ hostvars['one']['hpcdl_failed']['task'] }}}} /
          rc={{{{ 'non-zero' in hostvars['one']['hpcdl_failed']['msg'] }}}}
"""


def run_on_two_local_hosts(tmp_path, play):
    """ansible-playbook of `play` on the hosts one and two (local connections), with this callback enabled."""
    (tmp_path / "play.yml").write_text(play)
    (tmp_path / "hosts").write_text("one ansible_connection=local\ntwo ansible_connection=local\n")
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0",
               ANSIBLE_CALLBACKS_ENABLED="hpcdl.gpu.changes", ANSIBLE_STDOUT_CALLBACK="default",
               ANSIBLE_DEPRECATION_WARNINGS="false")
    return subprocess.run(
        [str(BIN / "ansible-playbook"), "-i", "hosts", "play.yml",
         "-e", f"ansible_python_interpreter={sys.executable}"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False)


def test_playbook_run_names_the_failed_host_and_records_it(tmp_path):
    proc = run_on_two_local_hosts(tmp_path, FAILING_PLAY)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "recorded: Break on one host / rc=True" in proc.stdout, proc.stdout
    lines = block(proc.stdout, "What changed in this run")
    assert lines[:2] == ["one: nothing changed (then a task failed)",
                         "  ! failed at Break on one host: non-zero return code"], lines
    assert "two: nothing changed" in lines
    assert SECRET not in proc.stdout


CHANGED_PLAY = """\
- name: Change something on one host only
  hosts: all
  gather_facts: false
  tasks:
    - name: Look at the host
      ansible.builtin.command: "true"
      changed_when: false
    - name: Change something on one
      ansible.builtin.command: "true"
      changed_when: inventory_hostname == 'one'
    - name: Look again
      ansible.builtin.command: "true"
      changed_when: false

- name: Read what the callback recorded
  hosts: all
  gather_facts: false
  tasks:
    - name: Show whether something changed here
      ansible.builtin.debug:
        msg: "{{ inventory_hostname }} changed={{ hpcdl_changed }}"
"""


def test_each_host_records_whether_something_changed_there(tmp_path):
    """hpcdl_changed: true on the host where a task changed something, false where none did, for a
    later play to read (playbooks/summary.yml gathers facts again only where it is true)."""
    proc = run_on_two_local_hosts(tmp_path, CHANGED_PLAY)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert '"msg": "one changed=True"' in proc.stdout, proc.stdout
    assert '"msg": "two changed=False"' in proc.stdout, proc.stdout
