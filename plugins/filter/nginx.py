# -*- coding: utf-8 -*-
# Copyright (c) hpcdl.gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters for nginx and Tengine: what ``nginx -V`` says, and htpasswd lines for basic auth.

Documented in nginx_build_info.yml and htpasswd_ssha.yml beside this file. Filters run on the
controller: the passwords never reach a target's command line.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import hashlib
import re
import shlex

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.text.converters import to_bytes, to_text
from ansible.module_utils.six import string_types

VERSION_LINE = re.compile(r'^(?P<product>[A-Za-z][\w.-]*) version: (?P<server>[^/\s]+)/(?P<version>\S+)', re.M)
BUILT_BY = re.compile(r'^built by (.+?)\s*$', re.M)
BUILT_WITH = re.compile(r'^built with (.+?)\s*$', re.M)
ARGUMENTS = re.compile(r'^configure arguments:(.*)$', re.M)
# What an htpasswd user name cannot hold (the file's separator, and what nginx would cut at).
BAD_NAME = re.compile(r'[:\s]')


def nginx_build_info(text):
    """What ``nginx -V`` (its stderr) says: versions, OpenSSL, the configure arguments as a list."""
    if not isinstance(text, string_types):
        raise AnsibleFilterError('nginx_build_info: give the text that nginx -V prints (its stderr), not %r.' % (text,))
    versions = {}
    for match in VERSION_LINE.finditer(text):
        versions.setdefault(match.group('product').lower(), match)
    nginx = versions.get('nginx')
    tengine = versions.get('tengine')
    primary = tengine or nginx or (next(iter(VERSION_LINE.finditer(text)), None))
    arguments = ARGUMENTS.search(text)
    raw = arguments.group(1).strip() if arguments else ''
    try:
        words = shlex.split(raw)
    except ValueError:
        words = raw.split()
    built_by = BUILT_BY.search(text)
    built_with = BUILT_WITH.search(text)
    return {
        'server': primary.group('server') if primary else '',
        'version': primary.group('version') if primary else '',
        'nginx_version': nginx.group('version') if nginx else '',
        'tengine_version': tengine.group('version') if tengine else '',
        'built_by': built_by.group(1) if built_by else '',
        'built_with': built_with.group(1) if built_with else '',
        'tls_sni': 'TLS SNI support enabled' in text,
        'configure_arguments': words,
    }


def _salt(seed, name, password):
    # The first 8 hex digits of sha256("<seed>:<name>:<password>"): the same on every run, so the
    # file changes only when a user or a password does.
    return hashlib.sha256(to_bytes('%s:%s:%s' % (seed, name, password), errors='surrogate_or_strict')).hexdigest()[:8]


def htpasswd_ssha(users, salt_seed):
    """``name:{SSHA}...`` lines for nginx's auth_basic_user_file, one per user, with stable salts."""
    if isinstance(users, (string_types, dict)) or not hasattr(users, '__iter__'):
        raise AnsibleFilterError('htpasswd_ssha: give a list of users, each a dict with name and password.')
    if not isinstance(salt_seed, string_types) or not salt_seed:
        raise AnsibleFilterError('htpasswd_ssha: give a non-empty salt seed, such as inventory_hostname.')
    lines = []
    for index, user in enumerate(users):
        # Never quote a password in an error: name the entry by its position (and its name).
        if not isinstance(user, dict):
            raise AnsibleFilterError('htpasswd_ssha: user %d is not a dict with name and password.' % (index + 1))
        name = to_text(user.get('name', ''))
        password = user.get('password')
        if not name or BAD_NAME.search(name):
            raise AnsibleFilterError('htpasswd_ssha: user %d has the name %r: give a name without a colon or a '
                                     'space.' % (index + 1, name))
        if password is None or isinstance(password, (dict, list)) or to_text(password) == '':
            raise AnsibleFilterError('htpasswd_ssha: user %d (%s) has no password.' % (index + 1, name))
        password = to_text(password)
        salt = to_bytes(_salt(salt_seed, name, password))
        digest = hashlib.sha1(to_bytes(password, errors='surrogate_or_strict') + salt).digest()
        lines.append('%s:{SSHA}%s' % (name, to_text(base64.b64encode(digest + salt))))
    return lines


class FilterModule(object):
    """nginx and Tengine filters."""

    def filters(self):
        return {
            'nginx_build_info': nginx_build_info,
            'htpasswd_ssha': htpasswd_ssha,
        }
