# -*- coding: utf-8 -*-
# Copyright (c) hpcdl.gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The interfaces_matching filter: interface names that match a shell-style pattern.

Documented in interfaces_matching.yml beside this file.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import fnmatch
import re

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.text.converters import to_text
from ansible.module_utils.six import string_types

# One line of `ip -o link show`: "3: vpn_vpn0@NONE: <POINTOPOINT,...> mtu 1400 ...". A Linux
# interface name holds no ':', '/' or whitespace, so a line with ': ' is never a bare name.
IP_LINK_LINE = re.compile(r'^\s*\d+:\s+([^\s:@]+)(?:@[^\s:]*)?:')


def _name(entry):
    text = to_text(entry).strip()
    match = IP_LINK_LINE.match(text)
    if match:
        return match.group(1)
    return text


def interfaces_matching(interfaces, pattern):
    """Names in ``interfaces`` (names, or ``ip -o link`` lines) that match ``pattern``, in order."""
    if isinstance(interfaces, string_types) or not hasattr(interfaces, '__iter__'):
        raise AnsibleFilterError(
            "interfaces_matching: give a list of interface names (ansible_facts['interfaces']) or the lines of "
            "`ip -o link show`, not %r." % (interfaces,))
    if not isinstance(pattern, string_types) or not pattern:
        raise AnsibleFilterError('interfaces_matching: the pattern must be a non-empty string such as vpn_*, '
                                 'not %r.' % (pattern,))
    found = []
    for entry in interfaces:
        name = _name(entry)
        if name and fnmatch.fnmatchcase(name, pattern) and name not in found:
            found.append(name)
    return found


class FilterModule(object):
    """Network interface filters."""

    def filters(self):
        return {'interfaces_matching': interfaces_matching}
