# -*- coding: utf-8 -*-
# Copyright (c) hpcdl.gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The packages_missing and packages_installed filters: which packages are installed, and which of the
packages a task installs are not installed yet.

Documented in packages_missing.yml and packages_installed.yml beside this file. The playbooks read
the installed packages once per host (dpkg-query or rpm, one line a package: hpcdl_packages) and
the roles skip an install step when nothing of it is missing: on a rerun, one query instead of one
package manager call per step. The package facts of ansible.builtin.package_facts are read as well.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import posixpath
import re

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.text.converters import to_text
from ansible.module_utils.six import string_types
from ansible.module_utils.six.moves.urllib.parse import unquote

# A plain package name: anything else (a version constraint, an architecture, a group, a path or a
# URL) is left to the package manager, i.e. counted as missing.
_NAME = re.compile(r'^[A-Za-z0-9][A-Za-z0-9+._-]*$')
# name_version_arch.deb (the epoch is not part of the file name); name-version-release.arch.rpm.
_DEB = re.compile(r'^(?P<name>[^_]+)_(?P<version>[^_]+)_[^_]+\.deb$')
_RPM = re.compile(r'^(?P<name>.+)-(?P<version>[^-]+)-(?P<release>[^-]+)\.[^.]+\.rpm$')


def _from_lines(lines):
    """{name: [{version, release}]} from query lines "STATUS|NAME|VERSION[|RELEASE]"; dpkg's status "ii"
    or "hi" (installed, held) and rpm's "installed" count, any other (rc: removed, config left) not."""
    installed = {}
    for line in lines:
        parts = [part.strip() for part in to_text(line).split('|')]
        if len(parts) < 3 or not parts[1]:
            continue
        if parts[0] not in ('ii', 'hi', 'installed'):
            continue
        entry = {'name': parts[1], 'version': parts[2]}
        if len(parts) > 3:
            entry['release'] = parts[3]
        installed.setdefault(parts[1], []).append(entry)
    return installed


def packages_installed(source):
    """{name: [{name, version[, release]}, ...]} of the installed packages, from what the playbooks read
    (a query's output: a string of lines, a list of lines, or its registered result) or from package facts
    (ansible_facts['packages']). Nothing read gives {}."""
    if not source:
        return {}
    if isinstance(source, string_types):
        return _from_lines(source.splitlines())
    if hasattr(source, 'get') and ('stdout' in source or 'stdout_lines' in source or source.get('skipped')):
        return _from_lines(source.get('stdout_lines') or to_text(source.get('stdout') or '').splitlines())
    if hasattr(source, 'get'):
        return source
    if hasattr(source, '__iter__'):
        return _from_lines(source)
    raise AnsibleFilterError('packages_installed: give the installed packages (hpcdl_packages, or '
                             "ansible_facts['packages']), not %r." % (source,))


def _installed(packages, name):
    entries = packages.get(name) if hasattr(packages, 'get') else None
    if not entries:
        return []
    if isinstance(entries, dict):
        entries = [entries]
    return [e for e in entries if hasattr(e, 'get')]


def _file_installed(packages, path):
    base = unquote(posixpath.basename(to_text(path)))
    deb = _DEB.match(base)
    if deb:
        return any(re.sub(r'^[0-9]+:', '', to_text(e.get('version', ''))) == deb.group('version')
                   for e in _installed(packages, deb.group('name')))
    rpm = _RPM.match(base)
    if rpm:
        return any(to_text(e.get('version', '')) == rpm.group('version')
                   and to_text(e.get('release', '')) == rpm.group('release')
                   for e in _installed(packages, rpm.group('name')))
    return False


def packages_missing(names, packages=None):
    """The entries of ``names`` not installed according to ``packages`` (hpcdl_packages: the lines the
    playbooks read; or ansible_facts['packages']).

    A plain name is installed when the facts list it (any version). A .deb or .rpm file is installed when
    the facts list its package at its version (and release). Anything else is returned as missing, and
    so is everything when there are no package facts: the install step then runs as it would without
    this filter.
    """
    if isinstance(names, string_types):
        names = [names]
    if not hasattr(names, '__iter__'):
        raise AnsibleFilterError('packages_missing: give a list of package names or package files, not %r.'
                                 % (names,))
    names = [to_text(n) for n in names]
    packages = packages_installed(packages)
    if not packages:
        return names
    missing = []
    for name in names:
        if name.endswith(('.deb', '.rpm')):
            present = _file_installed(packages, name)
        else:
            present = bool(_NAME.match(name)) and bool(_installed(packages, name))
        if not present:
            missing.append(name)
    return missing


class FilterModule(object):
    """Package filters."""

    def filters(self):
        return {'packages_missing': packages_missing, 'packages_installed': packages_installed}
