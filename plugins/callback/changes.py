# -*- coding: utf-8 -*-
# Copyright (c) hpcdl.gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
name: changes
type: aggregate
short_description: At the end of a run, list per host the tasks that changed something, and what failed
version_added: 1.0.0
description:
  - Records, for every host, the tasks and handlers that reported C(changed), by their role and
    task names, in the order they ran, and prints a block headed C(What changed in this run) at
    the end of the playbook; under C(--check) the heading says C(What would change in this run).
    A host on which nothing changed says C(nothing changed).
  - Of the tasks that changed, only names are recorded and printed, never a task's arguments, loop
    items or results, so a task with C(no_log) (or a result holding a secret) shows nothing more than
    its name, as the task banner of the default output already does.
  - A task is listed once per host. A loop task is one task (one result, however many items
    changed), listed without a count; a task that ran and changed several times on a host (a role
    or task file included twice) is listed once with the number of times, as C((x2)).
    A task that changed something and then failed is marked as failed (failed and ignored under
    C(ignore_errors)).
  - A host that failed (a task failed there and no rescue caught it) or became unreachable is named
    with the task and its message (C(msg), else the last line of C(stderr); cut to 300 characters), or
    C(its output is hidden (no_log)) for a task with C(no_log), after its list. The same is recorded
    on the host, while the run goes on, as the variable C(hpcdl_failed) (C(task), C(msg), C(unreachable)),
    which playbooks/summary.yml prints for every node that failed earlier in the run.
  - Each host that ran a task also gets the variable C(hpcdl_changed), C(false) until a task changes
    something there, then C(true). playbooks/summary.yml reads it to gather a host's facts again only
    where something changed (without this callback, it gathers them on every host).
  - It prints besides the stdout callback (it is not one); enable it with O(ignore:callbacks_enabled).
    Where the stdout callback writes a machine-readable document (C(json), C(jsonl), such as
    C(ansible.posix.json)), it prints nothing, so that the document stays whole.
author:
  - hpcdl.gpu maintainers (!UNKNOWN)
requirements:
  - Enabled in the configuration (C(callbacks_enabled = hpcdl.gpu.changes) in the C([defaults])
    section of ansible.cfg, or E(ANSIBLE_CALLBACKS_ENABLED=hpcdl.gpu.changes)).
'''

EXAMPLES = r'''
# ansible.cfg
# [defaults]
# callbacks_enabled = hpcdl.gpu.changes
#
# The end of a run:
#
# What changed in this run ******************************************************
# jump: 2 tasks changed
#   - hpcdl.gpu.tengine : Install the server block
#   - (handler) hpcdl.gpu.tengine : Reload Tengine
# gpu1: nothing changed
# gpu2: nothing changed (then a task failed)
#   ! failed at hpcdl.gpu.docker : Install the Docker packages: No package matching 'docker-ce' is available
'''

import contextlib  # noqa: E402

from ansible import constants as C  # noqa: E402
from ansible import context  # noqa: E402
from ansible.plugins.callback import CallbackBase  # noqa: E402


# The variable each failed host gets (read by playbooks/summary.yml), and how much of a message is kept.
FAILURE_VARIABLE = 'hpcdl_failed'
# The variable each host that ran a task gets: whether a task changed something there in this run.
CHANGED_VARIABLE = 'hpcdl_changed'
MESSAGE_LIMIT = 300


def _attr(result, name):
    """`result.task` on ansible-core 2.19 and later, `result._task` before (same for host)."""
    value = getattr(result, name, None)
    return value if value is not None else getattr(result, '_' + name, None)


class CallbackModule(CallbackBase):
    """Collect the names of the tasks that changed, per host, and print them at the end."""

    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = 'aggregate'
    CALLBACK_NAME = 'hpcdl.gpu.changes'
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, display=None):
        super().__init__(display=display)
        # host -> {key: [label, count, failed]} in the order the changes came
        self._changes = {}
        # task uuid -> name as its banner showed it; uuids of handlers
        self._names = {}
        self._handlers = set()
        # --check (read at the end, when the command line has long been parsed)
        self._check_mode = False
        # host -> (label, message, unreachable) of the last failure seen there; the play's variable
        # manager, to record it on the host as hpcdl_failed for the summary
        self._failures = {}
        self._variable_manager = None
        # host -> the hpcdl_changed value recorded on it (set again only when it turns true)
        self._changed_flags = {}

    # What each task is called: the name the TASK / RUNNING HANDLER banner showed (already on
    # the screen, so nothing new is disclosed), else the task's own.
    def _remember(self, task, handler=False):
        uuid = getattr(task, '_uuid', None)
        if uuid is None:
            return
        # A name that cannot be rendered yet is taken from the result's task later.
        with contextlib.suppress(Exception):
            self._names.setdefault(uuid, task.get_name().strip())
        if handler:
            self._handlers.add(uuid)

    def _label(self, task):
        uuid = getattr(task, '_uuid', None)
        name = self._names.get(uuid)
        if not name:
            try:
                name = task.get_name().strip()
            except Exception:
                name = getattr(task, 'action', None) or 'a task'
        # By name: ansible.playbook.handler.Handler, or a stand-in named like it (ansible-test 2.16's
        # validate-modules refuses type() on a line with `or`).
        class_name = type(task).__name__
        is_handler = uuid in self._handlers or class_name == 'Handler'
        return ('(handler) ' if is_handler else '') + name, uuid or name

    def _record(self, result, failed=''):
        task = _attr(result, 'task')
        host = _attr(result, 'host')
        # Only the `changed` flag is read from the result; nothing else of it is kept.
        data = _attr(result, 'result') or {}
        if task is None or host is None:
            return
        hostname = host.get_name()
        changed = bool(data.get('changed', False))
        self._flag(hostname, changed)
        if not changed:
            return
        label, key = self._label(task)
        entries = self._changes.setdefault(hostname, {})
        entry = entries.setdefault(key, [label, 0, ''])
        entry[1] += 1
        entry[2] = entry[2] or failed

    def _set_fact(self, hostname, facts):
        if self._variable_manager is not None:
            with contextlib.suppress(Exception):
                self._variable_manager.set_nonpersistent_facts(hostname, facts)

    def _flag(self, hostname, changed):
        """Record hpcdl_changed on the host: false at its first result, true from its first change on."""
        before = self._changed_flags.get(hostname)
        if before is None or (changed and not before):
            self._changed_flags[hostname] = changed
            self._set_fact(hostname, {CHANGED_VARIABLE: changed})

    def _failure(self, result, unreachable=False):
        """Remember the task and message of a failure (the last one per host), and record it on the host."""
        task = _attr(result, 'task')
        host = _attr(result, 'host')
        if task is None or host is None:
            return
        data = _attr(result, 'result') or {}
        label = self._label(task)[0]
        if getattr(task, 'no_log', False) or data.get('_ansible_no_log') or 'censored' in data:
            message = 'its output is hidden (no_log)'
        else:
            message = data.get('msg') or (str(data.get('stderr') or '').strip().splitlines() or [''])[-1]
            message = ' '.join(str(message).split()) or 'no message'
            if len(message) > MESSAGE_LIMIT:
                message = message[:MESSAGE_LIMIT - 3] + '...'
        hostname = host.get_name()
        self._failures[hostname] = (label, message, unreachable)
        self._set_fact(hostname, {FAILURE_VARIABLE: {'task': label, 'msg': message, 'unreachable': unreachable}})

    def v2_playbook_on_play_start(self, play):
        with contextlib.suppress(Exception):
            self._variable_manager = play.get_variable_manager()

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._remember(task)

    def v2_playbook_on_handler_task_start(self, task):
        self._remember(task, handler=True)

    def v2_runner_on_ok(self, result):
        self._record(result)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._record(result, failed='failed, ignored' if ignore_errors else 'failed')
        if not ignore_errors:
            self._failure(result)

    def v2_runner_on_unreachable(self, result):
        self._failure(result, unreachable=True)

    def v2_playbook_on_stats(self, stats):
        # A json/jsonl stdout callback prints one document that programs parse: add nothing to it.
        stdout_callback = str(getattr(C, 'DEFAULT_STDOUT_CALLBACK', '') or '')
        if stdout_callback.rsplit('.', 1)[-1] in ('json', 'jsonl'):
            return
        hosts = sorted(set(stats.processed) | set(self._changes))
        self._check_mode = self._check_mode or bool(context.CLIARGS.get('check', False))
        verb = 'would change' if self._check_mode else 'changed'
        self._display.banner('What would change in this run (check mode)' if self._check_mode
                             else 'What changed in this run')
        if not hosts:
            self._display.display('no host ran a task')
            return
        for host in hosts:
            # How the run ended there, so that "nothing changed" is not read as "all is well".
            if host in (getattr(stats, 'dark', None) or {}):
                ending = ' (then it was unreachable)'
            elif host in (getattr(stats, 'failures', None) or {}):
                ending = ' (then a task failed)'
            else:
                ending = ''
            entries = list(self._changes.get(host, {}).values())
            count = len(entries)
            if not entries:
                self._display.display('%s: nothing %s%s' % (host, verb, ending))
            else:
                self._display.display('%s: %d task%s %s%s' % (host, count, '' if count == 1 else 's', verb, ending))
            for label, times, failed in entries:
                extra = ' (x%d)' % times if times > 1 else ''
                extra += ' (%s)' % failed if failed else ''
                self._display.display('  - %s%s' % (label, extra))
            # What stopped it: the task and its message (a failure a rescue caught is not named).
            if ending and host in self._failures:
                label, message, unreachable = self._failures[host]
                self._display.display('  ! %s at %s: %s' % ('unreachable' if unreachable else 'failed', label, message))
