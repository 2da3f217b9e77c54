# -*- coding: utf-8 -*-
# Copyright (c) hpcdl.gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Whether a role is converged on a host: nothing it reads or manages changed since its last run there.

The one implementation behind hpcdl.gpu.converged (plugins/modules/converged.py; the action plugin of
the same name computes the inputs on the controller). Standard library and ansible.module_utils.six
only; Python 2.7 and 3.6+.

A record (``<path>/<role>.json``, root only) holds, from the end of the role's last successful run on
the host: a digest of each input (the role's files, the collection's plugins, each of its variables,
the OS facts it depends on), the state of what it manages (each file's sha256, each package's
version, each service's active and enabled state, each container's running state and image, each
URL's answer), and the facts a skipped run sets. ``reasons(record, inputs, state)`` lists every
difference, in words; an empty list means the role is converged.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import glob
import hashlib
import json
import os
import re

from ansible.module_utils.six import string_types
from ansible.module_utils.six.moves.urllib.error import HTTPError, URLError
from ansible.module_utils.six.moves.urllib.request import ProxyHandler, Request, build_opener
from ansible_collections.hpcdl.gpu.plugins.module_utils.jsonfile import read_json, write_json

FORMAT = 1
KINDS = ('files', 'packages', 'services', 'containers', 'images', 'iptables', 'urls')
GLOB = ('*', '?', '[')
ABSENT = 'absent'
URL_TIMEOUT = 10
# At most this many differences are named; the rest are counted.
MAX_REASONS = 8

ARGUMENT_SPEC = dict(
    role=dict(type='str', required=True),
    state=dict(type='str', default='check', choices=['check', 'record']),
    inputs=dict(type='dict', default={}),
    manages=dict(type='dict', default={}),
    facts=dict(type='dict', default={}),
    path=dict(type='path', default='/var/lib/hpcdl/converged'),
    snapshot=dict(type='bool', default=False),
)


class ConvergedError(Exception):
    """A bad argument, said in a sentence."""


def check_manages(manages):
    """The manages argument, each kind a list of strings (files: also {path, keys}; urls: also {url, contains,
    status})."""
    unknown = sorted(set(manages) - set(KINDS))
    if unknown:
        raise ConvergedError('manages has %s, which is not one of %s.' % (', '.join(unknown), ', '.join(KINDS)))
    clean = {}
    for kind in KINDS:
        items = manages.get(kind) or []
        if not isinstance(items, list):
            raise ConvergedError('manages.%s must be a list, not %r.' % (kind, items))
        for item in items:
            if kind == 'files' and isinstance(item, dict):
                check_file_entry(item)
                continue
            if kind == 'urls' and isinstance(item, dict):
                if not item.get('url'):
                    raise ConvergedError('manages.urls has an entry without url: %r.' % (item,))
                try:
                    [int(code) for code in item.get('status') or []]
                except (TypeError, ValueError):
                    raise ConvergedError('manages.urls has status %r for %s: give HTTP status codes.'  # noqa: B904 (2.7)
                                         % (item.get('status'), item['url']))
                continue
            if not isinstance(item, string_types) or not item:
                raise ConvergedError('manages.%s has %r, not a non-empty string.' % (kind, item))
        clean[kind] = items
    return clean


def check_file_entry(item):
    """A files entry given as a dict: {path, keys} (a JSON file's top-level keys) or {path, lines} (a regular
    expression: the lines that match it, in every file the path or glob names; path may be a list)."""
    path = item.get('path')
    paths = path if isinstance(path, list) else [path]
    if not path or not all(isinstance(one, string_types) and one for one in paths):
        raise ConvergedError('manages.files has an entry without path: %r.' % (item,))
    if isinstance(path, list) and 'keys' in item:
        raise ConvergedError('manages.files has keys for %r: a keys entry names one JSON file.' % (path,))
    if ('keys' in item) == ('lines' in item):
        raise ConvergedError('manages.files has %r for %s: give either keys (JSON keys) or lines (a regular '
                             'expression).' % (item, path))
    if 'keys' in item:
        keys = item['keys']
        if not isinstance(keys, list) or not all(isinstance(key, string_types) for key in keys):
            raise ConvergedError('manages.files has keys %r for %s: give a list of top-level JSON keys.' % (keys, path))
        return
    try:
        re.compile(item['lines'])
    except (re.error, TypeError) as error:
        raise ConvergedError('manages.files has lines %r for %s, not a regular expression: %s.'  # noqa: B904 (2.7)
                             % (item['lines'], path, error))


def unreadable(path, error):
    """The state of a path that could not be read: 'absent' when nothing is there, else 'unreadable: <why>'."""
    if not os.path.lexists(path):
        return ABSENT
    return 'unreadable: %s' % (getattr(error, 'strerror', None) or error)


def is_glob(pattern):
    return any(char in pattern for char in GLOB)


def file_state(path):
    """A link's target, a folder's name list, a file's sha256; 'absent', or 'unreadable: <error>'."""
    if os.path.islink(path):
        return 'link:' + os.readlink(path)
    if os.path.isdir(path):
        try:
            return 'folder:' + hashlib.sha256('\0'.join(sorted(os.listdir(path))).encode('utf-8')).hexdigest()
        except (IOError, OSError) as error:
            return unreadable(path, error)
    digest = hashlib.sha256()
    try:
        with open(path, 'rb') as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b''):
                digest.update(chunk)
    except (IOError, OSError) as error:
        return unreadable(path, error)
    return 'sha256:' + digest.hexdigest()


def package_states(names, run_command, pkg_mgr):
    """{name: version or 'absent'}, read in one call of dpkg-query or rpm."""
    if not names:
        return {}
    states = dict((name, ABSENT) for name in names)
    if pkg_mgr == 'rpm':
        rc, out, dummy = run_command(['rpm', '-q', '--qf', '%{NAME} installed %{VERSION}-%{RELEASE}\n'] + list(names))
    else:
        query = '${Package} ${db:Status-Status} ${Version}\n'
        rc, out, dummy = run_command(['dpkg-query', '-W', '-f', query] + list(names))
    for line in out.splitlines():
        parts = line.split(' ', 2)
        if len(parts) == 3 and parts[0] in states and parts[1] == 'installed':
            states[parts[0]] = parts[2]
    return states


def service_states(names, run_command):
    """{unit: '<ActiveState> <UnitFileState>'}, read in one systemctl call; 'absent' for unknown units."""
    if not names:
        return {}
    units = [name if '.' in name else name + '.service' for name in names]
    rc, out, err = run_command(['systemctl', 'show', '--property', 'Id,LoadState,ActiveState,UnitFileState'] + units)
    if rc != 0 and not out:
        return dict((name, 'unknown: %s' % (err.strip() or 'systemctl show failed')) for name in names)
    blocks = out.strip().split('\n\n')
    states = {}
    for name, block in zip(names, blocks + [''] * (len(units) - len(blocks))):  # noqa: B905 (Python 2.7)
        props = dict(line.split('=', 1) for line in block.splitlines() if '=' in line)
        if props.get('LoadState') == 'not-found' or not props:
            states[name] = ABSENT
        else:
            states[name] = '%s %s' % (props.get('ActiveState', '?'), props.get('UnitFileState') or '-')
    return states


def container_states(names, run_command, docker):
    """{name: 'running <image id>' / 'stopped <image id>' / 'absent'}, one docker inspect per container."""
    states = {}
    for name in names:
        if not docker:
            states[name] = ABSENT
            continue
        rc, out, dummy = run_command([docker, 'inspect', '--type', 'container', '--format',
                                      '{{.State.Running}} {{.Image}}', name])
        parts = out.strip().split(' ')
        if rc != 0 or len(parts) != 2:
            states[name] = ABSENT
        else:
            states[name] = '%s %s' % ('running' if parts[0] == 'true' else 'stopped', parts[1])
    return states


def json_keys_state(path, keys):
    """A digest of the named top-level keys of a JSON file (the keys it lacks count too), for a file other
    roles write as well; 'absent', or 'unreadable: <why>'."""
    try:
        with open(path) as handle:
            data = json.load(handle)
    except ValueError:
        return 'unreadable: not JSON'
    except (IOError, OSError) as error:
        return unreadable(path, error)
    if not isinstance(data, dict):
        return 'unreadable: not a JSON object'
    picked = dict((key, data[key]) for key in keys if key in data)
    text = json.dumps([sorted(keys), picked], sort_keys=True, separators=(',', ':'))
    return 'json:' + hashlib.sha256(text.encode('utf-8')).hexdigest()


def lines_state(pattern, regex):
    """A digest of the lines that match regex in each file of the path or glob, with their file's name, for
    a role that owns some lines of files other roles write (files without such a line do not count);
    'lines:<count>:<digest>'."""
    matcher = re.compile(regex)
    paths = sorted(glob.glob(pattern)) if is_glob(pattern) else [pattern]
    digest = hashlib.sha256()
    count = 0
    for path in paths:
        if os.path.isdir(path) or not os.path.lexists(path):
            continue
        try:
            with open(path, 'rb') as handle:
                found = [line for line in handle.read().decode('utf-8', 'replace').splitlines() if matcher.search(line)]
        except (IOError, OSError) as error:
            found = [unreadable(path, error)]
        for line in found:
            digest.update(('%s\0%s\0' % (path, line)).encode('utf-8'))
        count += len(found)
    return 'lines:%d:%s' % (count, digest.hexdigest())


def files_state(pattern):
    """file_state of a path; for a glob, one digest over every match's name and state ('no match' when none)."""
    if not is_glob(pattern):
        return file_state(pattern)
    matches = sorted(glob.glob(pattern))
    if not matches:
        return 'no match'
    digest = hashlib.sha256()
    for path in matches:
        digest.update(('%s\0%s\0' % (path, file_state(path))).encode('utf-8'))
    return 'files:%d:%s' % (len(matches), digest.hexdigest())


def image_states(names, run_command, docker):
    """{image: its id, or 'absent'}, one docker image inspect per image."""
    states = {}
    for name in names:
        rc, out = 1, ''
        if docker:
            rc, out, dummy = run_command([docker, 'image', 'inspect', '--format', '{{.Id}}', name])
        states[name] = out.strip() if rc == 0 and out.strip() else ABSENT
    return states


def iptables_states(tags, run_command, iptables_save):
    """{tag: a digest of the live rules that carry the comment tag, in their order}, from one iptables-save."""
    if not tags:
        return {}
    if not iptables_save:
        return dict((tag, ABSENT) for tag in tags)
    rc, out, err = run_command([iptables_save])
    if rc != 0:
        return dict((tag, 'unreadable: %s' % (err.strip() or 'iptables-save failed')) for tag in tags)
    states = {}
    table = ''
    for tag in tags:
        lines = []
        for line in out.splitlines():
            if line.startswith('*'):
                table = line
            elif ' --comment %s ' % tag in line + ' ' or ' --comment "%s" ' % tag in line + ' ':
                lines.append(table + ' ' + line)
        states[tag] = '%d rules:%s' % (len(lines), hashlib.sha256('\n'.join(lines).encode('utf-8')).hexdigest())
    return states


def url_state(entry, opener=None):
    """'HTTP <status>', or 'no answer: <why>'.

    With the statuses the entry expects (status): ' (expected)' or ' (not expected)' after it; with
    the text it expects (contains): ', text found' or ', text missing'.
    """
    expected = []
    if isinstance(entry, dict):
        url, contains = entry['url'], entry.get('contains') or ''
        expected = [int(code) for code in entry.get('status') or []]
    else:
        url, contains = entry, ''
    opener = opener or build_opener(ProxyHandler({}))
    body = b''
    try:
        response = opener.open(Request(url), timeout=URL_TIMEOUT)
        status = response.getcode()
        if contains:
            body = response.read(1 << 20)
    except HTTPError as error:
        status = error.code
    except (URLError, IOError, OSError, ValueError) as error:
        return 'no answer: %s' % (getattr(error, 'reason', None) or error)
    state = 'HTTP %s' % status
    if expected:
        state += ' (expected)' if int(status) in expected else ' (not expected)'
    if contains:
        found = contains.encode('utf-8') in body
        state += ', text %s' % ('found' if found else 'missing')
    return state


def url_key(entry):
    return entry['url'] if isinstance(entry, dict) else entry


def current_state(manages, run_command, bins=None, opener=None):
    """{'<kind>:<name>': state} for everything in manages. bins: the host's pkg_mgr ('dpkg' or 'rpm') and the
    paths of docker and iptables-save (None where missing)."""
    bins = bins or {}
    pkg_mgr, docker, iptables_save = bins.get('pkg_mgr') or 'dpkg', bins.get('docker'), bins.get('iptables_save')
    state = {}
    for entry in manages.get('files', []):
        if isinstance(entry, dict) and 'keys' in entry:
            state['file:' + entry['path']] = json_keys_state(entry['path'], entry['keys'])
        elif isinstance(entry, dict):
            for path in entry['path'] if isinstance(entry['path'], list) else [entry['path']]:
                state['file:' + path] = lines_state(path, entry['lines'])
        else:
            state['file:' + entry] = files_state(entry)
    for name, value in package_states(manages.get('packages', []), run_command, pkg_mgr).items():
        state['package:' + name] = value
    for name, value in service_states(manages.get('services', []), run_command).items():
        state['service:' + name] = value
    for name, value in container_states(manages.get('containers', []), run_command, docker).items():
        state['container:' + name] = value
    for name, value in image_states(manages.get('images', []), run_command, docker).items():
        state['image:' + name] = value
    for name, value in iptables_states(manages.get('iptables', []), run_command, iptables_save).items():
        state['iptables:' + name] = value
    for entry in manages.get('urls', []):
        state['url:' + url_key(entry)] = url_state(entry, opener)
    return state


def _bad_url(value):
    """Whether a URL's answer disproves the role: no answer, a status it does not expect, its text missing."""
    if not value.startswith('HTTP ') or 'missing' in value or 'not expected' in value:
        return True
    return '(expected)' not in value and not value.startswith(('HTTP 2', 'HTTP 3'))


def input_reasons(old_inputs, inputs):
    """The inputs whose digest differs from the record's, by name."""
    return ['input changed: %s' % name for name in sorted(set(inputs) | set(old_inputs or {}))
            if inputs.get(name) != (old_inputs or {}).get(name)]


def state_reasons(old_state, state):
    """What the role manages that differs from the record, and every URL whose answer disproves it."""
    found = []
    old_state = old_state or {}
    for key in sorted(set(state) | set(old_state)):
        now, then = state.get(key, ABSENT), old_state.get(key)
        if key.startswith('url:') and _bad_url(now):
            found.append('%s answers %s' % (key, now))
        elif then is None:
            found.append('%s is new to what the role manages' % key)
        elif now != then:
            found.append('%s was %s and is %s now' % (key, _short(then), _short(now)))
    return found


def limited(found):
    if len(found) > MAX_REASONS:
        return found[:MAX_REASONS] + ['and %d more' % (len(found) - MAX_REASONS)]
    return found


def reasons(record, inputs, state):
    """Every difference between the record and now, in words; [] when the role is converged."""
    if not record:
        return ['it has not converged on this host yet (no record)']
    if record.get('format') != FORMAT:
        return ['its record is of another format (%r)' % (record.get('format'),)]
    return limited(input_reasons(record.get('inputs'), inputs) + state_reasons(record.get('state'), state))


def manages_key(manages):
    """One digest of a manages argument, or of a set of input digests (a later check compares it with the record's)."""
    text = json.dumps(manages, sort_keys=True, separators=(',', ':'))
    return hashlib.sha256(text.encode('utf-8')).hexdigest()


def snapshot(path, run_command, bins=None, opener=None):
    """For every record in the folder: a digest of its inputs and of its manages, its facts, how its state differs now.

    The action plugin keeps this for the rest of the play, so that the host's other roles decide
    without a call of their own while no role ran in between.
    """
    found = {}
    try:
        names = sorted(name for name in os.listdir(path) if name.endswith('.json') and not name.startswith('.'))
    except (IOError, OSError):
        return found
    for name in names:
        record = read_record(os.path.join(path, name))
        if not record or record.get('format') != FORMAT or not isinstance(record.get('manages'), dict):
            continue
        try:
            manages = check_manages(record['manages'])
        except ConvergedError:
            continue
        state = current_state(manages, run_command, bins=bins, opener=opener)
        found[name[:-len('.json')]] = dict(inputs_key=manages_key(record.get('inputs') or {}),
                                           manages_key=manages_key(manages),
                                           state_reasons=limited(state_reasons(record.get('state'), state)),
                                           facts=record.get('facts') or {})
    return found


def _short(value):
    digests = ('sha256:', 'folder:', 'files:', 'json:', 'lines:')
    return value[:19] if value.startswith(digests) or ' rules:' in value else value


def record_path(path, role):
    if not role or '/' in role or role.startswith('.'):
        raise ConvergedError('role must be a role name, not %r.' % (role,))
    return os.path.join(path, role + '.json')


def read_record(path):
    """The record, or None when it is missing or unreadable (the role then runs, and writes it again)."""
    return read_json(path)


def write_record(path, record):
    """Replace the record atomically; the folder and the file are root's only (0700, 0600)."""
    write_json(path, record, mode=0o600, folder_mode=0o700)


def forget(path):
    """Remove the record (a role about to run again must not look converged if that run fails)."""
    try:
        os.unlink(path)
        return True
    except (IOError, OSError):
        return False
