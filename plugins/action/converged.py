# -*- coding: utf-8 -*-
# Copyright (c) hpcdl.gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin behind hpcdl.gpu.converged (documented in plugins/modules/converged.py).

On the controller it turns what the role reads into digests, one per input: the role's files, the
collection's plugins and galaxy.yml, each variable of the role's meta/argument_specs.yml (templated
as the role sees it), each value of the task's ``inputs``, and the OS facts. Then it runs the module
on the host with those digests, which compares them, with the state of what the role manages, to the
record of the role's last run there. No value leaves the controller; only its sha256 does.

The host's first check in a play also reads every other role's record and state there (the module's
snapshot); the host's later checks in that play are answered from it on the controller, until a role
records on the host (it ran, so the snapshot may be out of date) or a check finds a difference (then the
module is called, says why and removes the record). Check mode always calls the module.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import json
import os

import yaml
from ansible.errors import AnsibleActionFail
from ansible.module_utils.six import string_types
from ansible.plugins.action import ActionBase

from ansible_collections.hpcdl.gpu.plugins.module_utils.converged import ConvergedError, check_manages, manages_key

OS_FACTS = ('distribution', 'distribution_version', 'architecture', 'os_family')
SNAPSHOT_FACT = '__hpcdl_converged_snapshot'
DEFAULT_PATH = '/var/lib/hpcdl/converged'
SKIP_NAMES = ('__pycache__',)
_TREE_DIGESTS = {}
_SPEC_NAMES = {}


def tree_digest(*folders):
    """sha256 over every file under the folders: relative name and content, in a fixed order."""
    key = tuple(folders)
    if key in _TREE_DIGESTS:
        return _TREE_DIGESTS[key]
    digest = hashlib.sha256()
    for folder in folders:
        if os.path.isfile(folder):
            entries = [(os.path.dirname(folder), os.path.basename(folder))]
        else:
            entries = []
            for here, dirs, files in os.walk(folder):
                dirs[:] = sorted(d for d in dirs if d not in SKIP_NAMES)
                entries.extend((here, name) for name in sorted(files) if not name.endswith('.pyc'))
        for here, name in entries:
            path = os.path.join(here, name)
            digest.update(os.path.relpath(path, os.path.dirname(folder)).encode('utf-8') + b'\0')
            try:
                with open(path, 'rb') as handle:
                    digest.update(handle.read())
            except (IOError, OSError):
                digest.update(b'unreadable')
            digest.update(b'\0')
    _TREE_DIGESTS[key] = digest.hexdigest()
    return _TREE_DIGESTS[key]


def spec_names(role_path, entry_point='main'):
    """The variables of the role's entry point (meta/argument_specs.yml)."""
    key = (role_path, entry_point)
    if key not in _SPEC_NAMES:
        path = os.path.join(role_path, 'meta', 'argument_specs.yml')
        try:
            with open(path) as handle:
                specs = yaml.safe_load(handle) or {}
            options = specs['argument_specs'][entry_point].get('options') or {}
        except (IOError, OSError, KeyError, TypeError, yaml.YAMLError) as error:
            raise AnsibleActionFail('hpcdl.gpu.converged: cannot read the variables of the role at %s from %s: %s'
                                    % (role_path, path, error)) from error
        _SPEC_NAMES[key] = sorted(options)
    return _SPEC_NAMES[key]


def value_digest(value):
    text = json.dumps(value, sort_keys=True, default=str, separators=(',', ':'))
    return hashlib.sha256(text.encode('utf-8')).hexdigest()


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(('role', 'entry_point', 'state', 'inputs', 'manages', 'facts', 'path'))

    def _template(self, name, task_vars):
        """The variable's value as the role sees it; a marker when it is undefined or does not template."""
        if name not in task_vars:
            return {'hpcdl.gpu.converged': 'undefined'}
        try:
            return self._templar.template(task_vars[name])
        except Exception as error:  # an undefined name inside it, a failing lookup: still an input
            return {'hpcdl.gpu.converged': 'does not template', 'error': type(error).__name__}

    def inputs(self, role_path, entry_point, extra, task_vars):
        collection = os.path.dirname(os.path.dirname(role_path))
        digests = {
            'the role files': tree_digest(role_path),
            'the collection plugins': tree_digest(os.path.join(collection, 'plugins'),
                                                  os.path.join(collection, 'galaxy.yml')),
        }
        facts = task_vars.get('ansible_facts') or {}
        digests['the OS facts'] = value_digest(dict((name, facts.get(name)) for name in OS_FACTS))
        for name in spec_names(role_path, entry_point):
            digests[name] = value_digest(self._template(name, task_vars))
        for name, value in (extra or {}).items():
            digests['inputs.' + name] = value_digest(value)
        return digests

    def _play_id(self):
        """The play this task runs in (a snapshot is answered from within the play that took it only)."""
        parent = self._task
        while parent is not None:
            play = getattr(parent, '_play', None)
            if play is not None:
                return str(getattr(play, '_uuid', '') or '') or None
            parent = getattr(parent, '_parent', None)
        return None

    def _from_snapshot(self, role, inputs, manages, task_vars):
        """The answer from this play's snapshot of the host, or None when a call to the host is needed."""
        play = self._play_id()
        taken = task_vars.get(SNAPSHOT_FACT)
        if not play or not isinstance(taken, dict) or taken.get('play') != play:
            return None
        entry = (taken.get('roles') or {}).get(role)
        try:
            key = manages_key(check_manages(manages))
        except ConvergedError:
            return None  # the module says what is wrong with it
        if not isinstance(entry, dict) or entry.get('manages_key') != key:
            return None
        if entry.get('inputs_key') != manages_key(inputs) or entry.get('state_reasons'):
            return None  # the module then says why, and removes the record
        return dict(changed=False, converged=True, reasons=[], facts=entry.get('facts') or {}, from_snapshot=True,
                    state='check',
                    record=os.path.join(self._task.args.get('path') or DEFAULT_PATH, role + '.json'))

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super(ActionModule, self).run(tmp, task_vars)
        args = dict(self._task.args)
        role_path = task_vars.get('role_path')
        if not isinstance(role_path, string_types) or not os.path.isdir(role_path):
            raise AnsibleActionFail('hpcdl.gpu.converged runs inside a role of the collection (role_path is %r).'
                                    % (role_path,))
        extra = args.get('inputs') or {}
        if not isinstance(extra, dict):
            raise AnsibleActionFail('hpcdl.gpu.converged: inputs must be a dict, not %r.' % (type(extra).__name__,))
        entry_point = args.pop('entry_point', None) or 'main'
        args['inputs'] = self.inputs(role_path, entry_point, extra, task_vars)
        state = args.get('state') or 'check'
        if state == 'check' and not self._task.check_mode:
            answer = self._from_snapshot(args.get('role'), args['inputs'], args.get('manages') or {}, task_vars)
            if answer is not None:
                result.update(answer)
                return result
            args['snapshot'] = True
        result.update(self._execute_module(module_name='hpcdl.gpu.converged', module_args=args,
                                           task_vars=task_vars))
        result.setdefault('from_snapshot', False)
        play = self._play_id()
        if state == 'record' or result.get('failed'):
            # A role ran here: what it changed is not in the snapshot any more.
            result['ansible_facts'] = {SNAPSHOT_FACT: {}}
        elif 'snapshot' in result:
            result['ansible_facts'] = {SNAPSHOT_FACT: {'play': play, 'roles': result.pop('snapshot')}}
        return result
