# -*- coding: utf-8 -*-
# Copyright (c) hpcdl.gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The packages_missing filter: which of the packages a task installs are not installed yet.

Documented in packages_missing.yml beside this file. The playbooks read the package facts once per
host (ansible.builtin.package_facts in the first play of each side) and the roles skip an install
step when nothing of it is missing: on a rerun, one package_facts call instead of one package
manager call per step.
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
    """The entries of ``names`` not installed according to ``packages`` (ansible_facts['packages']).

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
    if not packages or not hasattr(packages, 'get'):
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
        return {'packages_missing': packages_missing}
