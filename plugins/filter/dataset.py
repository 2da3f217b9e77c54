# -*- coding: utf-8 -*-
# Copyright (c) hpcdl.gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters for the dataset role: the plan of a node's items (every path worked out, every bad
input named), the items one relay host serves to its nodes, and what a run moved, per item and leg.

Documented in dataset_plan.yml, dataset_relay_items.yml, dataset_by_name.yml,
dataset_expected_sha256.yml, dataset_report.yml and dataset_report_lines.yml beside this file. They
run on the controller.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import posixpath
import re

from ansible.errors import AnsibleFilterError
from ansible.module_utils.six import string_types
from ansible.module_utils.six.moves.urllib.parse import unquote, urlsplit

NAME = re.compile(r'^[A-Za-z0-9][A-Za-z0-9._-]*$')
URL = re.compile(r'^(https?|ftp)://[^\s/]+/\S*$')
SHA256 = re.compile(r'^[0-9a-fA-F]{64}$')
KEYS = ('name', 'url', 'urls', 'sha256', 'dest', 'unpack', 'downloader')
DOWNLOADERS = ('curl', 'aria2c')
ARCHIVES = ('.tar', '.tar.gz', '.tgz', '.tar.bz2', '.tbz2', '.tar.xz', '.txz', '.zip')
STAGING = '.hpcdl-staging'
PARTIAL_DIR = '.rsync-partial'


def _show(value):
    try:
        return json.dumps(value, sort_keys=True)
    except (TypeError, ValueError):
        return repr(value)


def _absolute_folder(variable, value, problems):
    """An absolute, normalised folder other than /; a problem naming the variable otherwise."""
    if not isinstance(value, string_types) or not value:
        problems.append('%s is %s: give an absolute path.' % (variable, _show(value)))
        return None
    if not value.startswith('/'):
        problems.append('%s is %s, a relative path: give an absolute path.' % (variable, _show(value)))
        return None
    if '..' in value.split('/'):
        problems.append('%s is %s: give a path without "..".' % (variable, _show(value)))
        return None
    path = posixpath.normpath(value)
    if path == '/':
        problems.append('%s is "/": give a folder of its own.' % variable)
        return None
    return path


def _inside(path, root):
    return path != root and path.startswith(root.rstrip('/') + '/')


def _file_name(url):
    return posixpath.basename(unquote(urlsplit(url).path))


def dataset_plan(items, *, root='/srv/datasets', relay_dir='/srv/hpcdl-datasets', state_dir='/var/lib/hpcdl/dataset',
                 allow_unverified=False, downloader='curl'):
    """{'items': [...], 'problems': [...]}: every item with its paths, or the sentences that refuse it."""
    problems = []
    root = _absolute_folder('dataset_root', root, problems)
    relay_dir = _absolute_folder('dataset_relay_dir', relay_dir, problems)
    state_dir = _absolute_folder('dataset_state_dir', state_dir, problems)
    if downloader not in DOWNLOADERS:
        problems.append('dataset_downloader is %s: give curl or aria2c.' % _show(downloader))
    if items is None:
        items = []
    if not isinstance(items, list):
        problems.append('dataset_items is %s: give a list of items (name, url or urls, sha256, dest, unpack).'
                        % _show(items))
        return dict(items=[], problems=problems)
    planned, first_seen = [], {}
    for index, raw in enumerate(items):
        where = 'dataset_items[%d]' % index
        if not isinstance(raw, dict):
            problems.append('%s is %s: give a dict (name, url or urls, sha256, dest, unpack).' % (where, _show(raw)))
            continue
        name = raw.get('name')
        if isinstance(name, string_types) and name:
            where = '%s (%s)' % (where, name)
        unknown = sorted(set(raw) - set(KEYS))
        if unknown:
            problems.append('%s has unknown keys %s: an item takes %s.' % (where, ', '.join(unknown), ', '.join(KEYS)))
        if not isinstance(name, string_types) or not NAME.match(name):
            problems.append('%s: name is %s: give a name of letters, digits, ".", "_" and "-", starting with a '
                            'letter or digit (it names the item\'s folders).' % (where, _show(name)))
            name = None
        elif name in first_seen:
            problems.append('dataset_items holds the name %s twice (dataset_items[%d] and dataset_items[%d]): every '
                            'item needs a name of its own.' % (_show(name), first_seen[name], index))
            continue
        else:
            first_seen[name] = index

        urls = raw.get('urls') if raw.get('urls') is not None else raw.get('url')
        if isinstance(urls, string_types):
            urls = [urls]
        if raw.get('url') is not None and raw.get('urls') is not None:
            problems.append('%s gives both url and urls: give one (urls for mirrors).' % where)
        if not isinstance(urls, list) or not urls:
            problems.append('%s has no url: give url (or urls, mirrors of the same bytes).' % where)
            urls = []
        bad = [u for u in urls if not isinstance(u, string_types) or not URL.match(u) or not _file_name(u)]
        if bad:
            problems.append('%s: %s is not an http, https or ftp URL of a file.' % (where, ', '.join(map(_show, bad))))
            urls = []

        sha256 = raw.get('sha256')
        if sha256 in (None, ''):
            sha256 = ''
            if not allow_unverified:
                problems.append('%s has no sha256: give its sha256 (64 hex digits), or set dataset_allow_unverified '
                                'to true to fetch it unverified on purpose.' % where)
        elif not isinstance(sha256, string_types) or not SHA256.match(sha256):
            problems.append('%s: sha256 is %s: give the 64 hex digits of its sha256.' % (where, _show(sha256)))
            sha256 = ''
        sha256 = sha256.lower()

        unpack = raw.get('unpack', False)
        if not isinstance(unpack, bool):
            problems.append('%s: unpack is %s: give true or false.' % (where, _show(unpack)))
            unpack = False
        file_name = _file_name(urls[0]) if urls else ''
        if unpack and file_name and not file_name.lower().endswith(ARCHIVES):
            problems.append('%s: unpack is true, but %s is not an archive it can unpack (%s).'
                            % (where, _show(file_name), ', '.join(ARCHIVES)))
        tool = raw.get('downloader', downloader)
        if 'downloader' in raw and tool not in DOWNLOADERS:
            problems.append('%s: downloader is %s: give curl or aria2c.' % (where, _show(tool)))

        dest = raw.get('dest')
        if dest in (None, '') and root and name and file_name:
            dest = posixpath.join(root, name) if unpack else posixpath.join(root, name, file_name)
        elif dest in (None, ''):
            dest = None
        elif not isinstance(dest, string_types) or not dest.startswith('/'):
            problems.append('%s: dest is %s, a relative path: give an absolute path under dataset_root (%s).'
                            % (where, _show(dest), root or 'dataset_root'))
            dest = None
        else:
            normal = posixpath.normpath(dest)
            if root and not _inside(normal, root):
                problems.append('%s: dest is %s, outside dataset_root (%s): give a path under it (the notebook '
                                'sees dataset_root only).' % (where, _show(dest), root))
                dest = None
            elif root and (normal == posixpath.join(root, STAGING) or _inside(normal, posixpath.join(root, STAGING))):
                problems.append('%s: dest is %s, inside the role\'s staging folder: give another path.'
                                % (where, _show(dest)))
                dest = None
            else:
                dest = normal
        if not (name and dest and file_name and root and relay_dir and state_dir):
            continue
        planned.append(dict(
            name=name, urls=urls, sha256=sha256, verified=bool(sha256), unpack=unpack, downloader=tool,
            dest=dest, file=file_name,
            relay_path=posixpath.join(relay_dir, name, file_name),
            staging=posixpath.join(root, STAGING, name),
            staged=posixpath.join(root, STAGING, name, file_name),
            partial_dir=posixpath.join(root, STAGING, name, PARTIAL_DIR),
            state_file=posixpath.join(state_dir, name + '.json'),
        ))
    for one in planned:
        for other in planned:
            if one is not other and (one['dest'] == other['dest'] or _inside(other['dest'], one['dest'])):
                problems.append('dataset_items: %s (%s) and %s (%s) overlap: give every item a destination of its own.'
                                % (one['name'], one['dest'], other['name'], other['dest']))
    return dict(items=planned, problems=problems)


def dataset_relay_items(item_lists):
    """The items a relay host serves (each name once) from its nodes' plans, and the names that two
    nodes define differently: {'items': [...], 'conflicts': [...]}."""
    if not isinstance(item_lists, list):
        raise AnsibleFilterError('dataset_relay_items: expected a list of item lists, got %r' % (item_lists,))
    merged, conflicts = {}, []
    order = []
    for items in item_lists:
        for item in items or []:
            key = (item['sha256'], item['relay_path'], item['downloader'],
                   tuple(item['urls']) if not item['sha256'] else ())
            if item['name'] not in merged:
                merged[item['name']] = (key, item)
                order.append(item['name'])
            elif merged[item['name']][0] != key and item['name'] not in conflicts:
                conflicts.append(item['name'])
    return dict(items=[merged[name][1] for name in order], conflicts=conflicts)


def dataset_by_name(results):
    """A registered loop's results (or a list of them) by item name: {name: result}; results without a
    name (skipped items) left out."""
    if isinstance(results, dict):
        results = results.get('results', [])
    found = {}
    for result in results or []:
        if isinstance(result, dict) and result.get('name'):
            found[result['name']] = result
    return found


def dataset_expected_sha256(items, fetched):
    """{name: the sha256 each node checks}: the item's own, else (unverified) what the relay host got."""
    return dict((item['name'], item['sha256'] or (fetched.get(item['name']) or {}).get('sha256') or '')
                for item in items)


def _leg(result, keys):
    return dict((key, result.get(key, 0)) for key in keys)


def dataset_report(items, fetched, synced, needed, *, relay='', node='', check_mode=False):
    """Per item: what moved on each leg (upstream to the relay host, relay host to the node)."""
    expected = dataset_expected_sha256(items, fetched)
    report = []
    for item in items:
        up = fetched.get(item['name']) or {}
        down = synced.get(item['name']) or {}
        if item['name'] not in (needed or []):
            state = 'present'
        elif check_mode:
            state = 'would sync'
        else:
            state = 'synced' if down else 'not run'
        upstream = _leg(up, ('bytes', 'seconds', 'mbps', 'resumed_from', 'attempts'))
        upstream['state'] = up.get('state', 'not run')
        node_leg = _leg(down, ('bytes', 'literal', 'matched', 'seconds', 'mbps'))
        node_leg['state'] = state
        report.append(dict(name=item['name'], relay=relay, node=node, dest=item['dest'],
                           sha256=expected[item['name']], upstream=upstream, node_leg=node_leg))
    return report


def dataset_report_lines(report):
    """One sentence per item: bytes, time and MB/s of each leg."""
    lines = []
    for entry in report:
        up, down = entry['upstream'], entry['node_leg']
        if up['state'] in ('downloaded', 'resumed'):
            up_text = '%d bytes in %s s (%s MB/s)' % (up['bytes'], up['seconds'], up['mbps'])
            if up['resumed_from']:
                up_text += ', resumed from %d bytes' % up['resumed_from']
            if up['attempts'] > 1:
                up_text += ', %d attempts' % up['attempts']
        elif up['state'].startswith('present'):
            up_text = '0 bytes (already on %s, verified)' % entry['relay']
        else:
            up_text = up['state']
        if down['state'] == 'synced':
            down_text = '%d bytes in %s s (%s MB/s; literal %d, matched %d)' % (
                down['bytes'], down['seconds'], down['mbps'], down['literal'], down['matched'])
        elif down['state'] == 'present':
            down_text = '0 bytes (already on %s, verified)' % entry['node']
        else:
            down_text = down['state']
        lines.append('%s: upstream -> %s: %s | %s -> %s: %s' % (
            entry['name'], entry['relay'], up_text, entry['relay'], entry['node'], down_text))
    return lines


class FilterModule(object):
    """Dataset plan and report filters."""

    def filters(self):
        return {
            'dataset_plan': dataset_plan,
            'dataset_relay_items': dataset_relay_items,
            'dataset_by_name': dataset_by_name,
            'dataset_expected_sha256': dataset_expected_sha256,
            'dataset_report': dataset_report,
            'dataset_report_lines': dataset_report_lines,
        }
