# -*- coding: utf-8 -*-
# Copyright (c) hpcdl.gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Merge settings into Docker's daemon.json without clobbering the keys a user set.

The one implementation behind hpcdl.gpu.docker_daemon_config, used by the docker and the
nvidia_docker roles. Standard library only; Python 2.7 and 3.6+ (the targets' Python).

- ``parse_config(text, path)`` reads an existing file (missing or blank: ``{}``) and raises
  ``DaemonConfigError`` with a sentence naming the file when it is not a JSON object.
- ``validate_options(options)`` lists what Docker would refuse in the settings to merge (a wrong
  type for an option Docker knows, a mirror without a scheme, a name that is not a Docker
  option name...), so that nothing is written that stops the engine from starting.
- ``merge_config(existing, options)`` returns the merged object: objects merge key by key (so
  ``runtimes`` keeps the user's runtimes), every other value is replaced, ``None`` removes a key.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import json
import os
import re
import tempfile
from collections import OrderedDict

try:
    from ansible.module_utils.six import string_types, integer_types
except ImportError:  # pragma: no cover - outside Ansible
    string_types = (str,)
    integer_types = (int,)

ARGUMENT_SPEC = dict(
    path=dict(type='path', default='/etc/docker/daemon.json'),
    options=dict(type='dict', required=True),
    backup=dict(type='bool', default=True),
    mode=dict(type='raw', default='0644'),
    validate_only=dict(type='bool', default=False),
)

BUILTIN_RUNTIMES = ('runc', 'io.containerd.runc.v2')
NAME = re.compile(r'^[a-z][a-z0-9]*(-[a-z0-9]+)*$')
BOOL_OPTIONS = (
    'debug', 'experimental', 'icc', 'init', 'ip-forward', 'ip-masq', 'ip6tables', 'iptables',
    'ipv6', 'live-restore', 'no-new-privileges', 'selinux-enabled', 'userland-proxy',
)
INT_OPTIONS = (
    'max-concurrent-downloads', 'max-concurrent-uploads', 'max-download-attempts', 'mtu',
    'shutdown-timeout',
)
STR_OPTIONS = (
    'bip', 'cgroup-parent', 'containerd', 'data-root', 'default-cgroupns-mode', 'default-ipc-mode',
    'default-runtime', 'default-shm-size', 'exec-root', 'group', 'init-path', 'log-driver',
    'log-format', 'log-level', 'pidfile', 'storage-driver', 'userns-remap',
)
STR_LIST_OPTIONS = (
    'allow-nondistributable-artifacts', 'dns', 'dns-opts', 'dns-search', 'exec-opts', 'hosts',
    'insecure-registries', 'labels', 'registry-mirrors', 'storage-opts',
)
OBJECT_OPTIONS = ('default-ulimits', 'features', 'log-opts', 'runtimes', 'builder', 'proxies')
LOG_LEVELS = ('debug', 'info', 'warn', 'error', 'fatal')


class DaemonConfigError(Exception):
    """A problem a person can act on, as one sentence."""


def _kind(value):
    if value is None:
        return 'null'
    if isinstance(value, bool):
        return 'a boolean'
    if isinstance(value, integer_types):
        return 'a number'
    if isinstance(value, float):
        return 'a number'
    if isinstance(value, string_types):
        return 'a string'
    if isinstance(value, (list, tuple)):
        return 'a list'
    if isinstance(value, dict):
        return 'an object'
    return type(value).__name__


def _show(value):
    try:
        return json.dumps(value, sort_keys=True)
    except (TypeError, ValueError):
        return repr(value)


def parse_config(text, path='daemon.json'):
    """The existing file as an (ordered) dict; ``{}`` when it is blank."""
    if text is None or not text.strip():
        return OrderedDict()
    try:
        data = json.loads(text, object_pairs_hook=OrderedDict)
    except ValueError as exc:
        # No `raise ... from`: this runs on the targets' Python 2.7 too.
        raise DaemonConfigError(  # noqa: B904
            '%s is not valid JSON (%s), so Docker cannot read it either: fix or remove it and run '
            'again. It was left untouched.' % (path, exc))
    if not isinstance(data, dict):
        raise DaemonConfigError(
            '%s holds %s, not a JSON object of daemon options: fix or remove it and run again. '
            'It was left untouched.' % (path, _kind(data)))
    return data


def _check_runtimes(value, problems):
    if not isinstance(value, dict):
        return
    for name, runtime in value.items():
        where = 'runtimes.%s' % name
        if runtime is None:
            continue
        if not isinstance(runtime, dict):
            problems.append('%s must be an object with a "path", not %s (%s).'
                            % (where, _kind(runtime), _show(runtime)))
            continue
        path = runtime.get('path')
        if not isinstance(path, string_types) or not path.strip():
            problems.append('%s needs a "path" (the runtime binary, for example nvidia-container-runtime).' % where)
        args = runtime.get('runtimeArgs', runtime.get('args', []))
        if not isinstance(args, (list, tuple)) or not all(isinstance(a, string_types) for a in args):
            problems.append('%s: runtimeArgs must be a list of strings, not %s.' % (where, _show(args)))


def validate_options(options):
    """What Docker would refuse in ``options``: a list of sentences, empty when all is well."""
    problems = []
    if not isinstance(options, dict):
        return ['the daemon options must be a mapping of Docker option names to values, not %s (%s).'
                % (_kind(options), _show(options))]
    for key, value in options.items():
        if not isinstance(key, string_types) or not NAME.match(key):
            hint = ''
            if isinstance(key, string_types) and NAME.match(key.lower().replace('_', '-')):
                hint = ' (did you mean "%s"?)' % key.lower().replace('_', '-')
            problems.append('"%s" is not a Docker daemon option name%s: they are lower-case words joined by '
                            'dashes, and dockerd refuses to start with an unknown one.' % (key, hint))
            continue
        if value is None:
            continue  # removes the key
        expected = None
        if key in BOOL_OPTIONS and not isinstance(value, bool):
            expected = 'true or false'
        elif key in INT_OPTIONS and (isinstance(value, bool) or not isinstance(value, integer_types)):
            expected = 'a whole number'
        elif key in STR_OPTIONS and not isinstance(value, string_types):
            expected = 'a string'
        elif key in STR_LIST_OPTIONS and (not isinstance(value, (list, tuple))
                                          or not all(isinstance(v, string_types) for v in value)):
            expected = 'a list of strings'
        elif key in OBJECT_OPTIONS and not isinstance(value, dict):
            expected = 'an object'
        if expected:
            problems.append('%s must be %s, not %s (%s).' % (key, expected, _kind(value), _show(value)))
            continue
        if key == 'registry-mirrors':
            for mirror in value:
                if not re.match(r'^https?://[^/\s]+', mirror):
                    problems.append('registry-mirrors: "%s" is not a URL with http:// or https:// (Docker refuses '
                                    'a mirror without a scheme).' % mirror)
        elif key in ('data-root', 'exec-root') and not value.startswith('/'):
            problems.append('%s must be an absolute path, not "%s".' % (key, value))
        elif key == 'log-level' and value not in LOG_LEVELS:
            problems.append('log-level must be one of %s, not "%s".' % (', '.join(LOG_LEVELS), value))
        elif key == 'log-opts':
            bad = [k for k, v in value.items() if not isinstance(v, string_types)]
            if bad:
                problems.append('log-opts values must be strings (Docker refuses %s): write %s.' % (
                    ', '.join('%s: %s' % (k, _show(value[k])) for k in bad),
                    ', '.join('%s: "%s"' % (k, value[k]) for k in bad)))
        elif key == 'runtimes':
            _check_runtimes(value, problems)
    return problems


def merge_config(existing, options):
    """``existing`` with ``options`` merged in (a new object; neither argument changes)."""
    merged = copy.deepcopy(existing)
    for key, value in options.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge_config(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def modified_keys(before, after, prefix=''):
    """Dotted names of the keys added, changed or removed between two configs."""
    keys = []
    for key in list(before) + [k for k in after if k not in before]:
        name = prefix + key
        if key not in after or key not in before:
            keys.append(name)
        elif isinstance(before[key], dict) and isinstance(after[key], dict):
            keys.extend(modified_keys(before[key], after[key], name + '.'))
        elif before[key] != after[key]:
            keys.append(name)
    return keys


def check_merged(merged, path):
    """Problems of the merged config as a whole (a default runtime that is not defined)."""
    runtime = merged.get('default-runtime')
    if runtime is None:
        return []
    defined = list(merged.get('runtimes') or {}) if isinstance(merged.get('runtimes'), dict) else []
    if runtime in BUILTIN_RUNTIMES or runtime in defined:
        return []
    return ['default-runtime "%s" is not a runtime defined in %s (defined: %s): Docker would not start.'
            % (runtime, path, ', '.join(list(BUILTIN_RUNTIMES) + defined))]


def render(config):
    return json.dumps(config, indent=2, separators=(',', ': ')) + '\n'


def run_module(module):
    params = module.params
    path = params['path']
    options = params['options']
    problems = validate_options(options)
    if problems:
        module.fail_json(msg='Refusing the Docker daemon options: ' + ' '.join(problems), problems=problems)
    if params['validate_only']:
        module.exit_json(changed=False, path=path, problems=[])

    text = None
    if os.path.exists(path):
        try:
            with open(path) as handle:
                text = handle.read()
        except (IOError, OSError) as exc:
            module.fail_json(msg='Cannot read %s: %s' % (path, exc))
    try:
        existing = parse_config(text, path)
    except DaemonConfigError as exc:
        module.fail_json(msg=str(exc))
    merged = merge_config(existing, options)
    problems = check_merged(merged, path)
    if problems:
        module.fail_json(msg='Refusing the Docker daemon options: ' + ' '.join(problems), problems=problems)

    keys = modified_keys(existing, merged)
    changed = merged != existing
    result = dict(changed=changed, path=path, config=merged, modified_keys=keys)
    if module._diff and changed:
        result['diff'] = dict(before=render(existing) if text is not None else '',
                              after=render(merged), before_header=path, after_header=path)
    if changed and not module.check_mode:
        directory = os.path.dirname(path) or '.'
        if not os.path.isdir(directory):
            os.makedirs(directory, 0o755)
        if params['backup'] and text is not None:
            result['backup_file'] = module.backup_local(path)
        fd, tmp = tempfile.mkstemp(prefix='.daemon.json.', dir=directory)
        try:
            with os.fdopen(fd, 'w') as handle:
                handle.write(render(merged))
            with open(tmp) as handle:
                json.load(handle)  # what lands is valid JSON
        except Exception:
            os.unlink(tmp)
            raise
        module.atomic_move(tmp, path)
    if os.path.exists(path) and not module.check_mode:
        file_args = module.load_file_common_arguments(dict(path=path, mode=params['mode']))
        result['changed'] = module.set_fs_attributes_if_different(file_args, result['changed'])
    module.exit_json(**result)
