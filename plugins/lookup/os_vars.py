# -*- coding: utf-8 -*-
# Copyright (c) hpcdl.gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The file of a role's values for this OS, or a refusal that names the OS files the role has."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: os_vars
author:
  - hpcdl.gpu maintainers (!UNKNOWN)
short_description: The file of a role's values for this OS, or a refusal naming the ones it has
description:
  - Returns the first of C(<distribution>-<major>.yml), C(<distribution>.yml), C(<os_family>-<major>.yml) and
    C(<os_family>.yml) found in the role's C(vars/) folder, as a list of one path, for
    M(ansible.builtin.include_vars) to load; an empty list when the folder has no such file at all (a role that
    is the same on every OS).
  - Fails, naming this OS and the ones the role has values for, when the folder has OS files and none is for
    this OS. This is how hpcdl.gpu.set_vars stops a role on an OS it does not know, in the same step that
    loads the values (one task fewer per role on every run).
  - Reads the host's facts (C(distribution), C(distribution_major_version), C(os_family),
    C(distribution_version)) from C(ansible_facts), as the task sees them.
options:
  _terms:
    description: The role's name (C(docker) for hpcdl.gpu.docker), one term.
    required: true
  roles_path:
    description: The folder that holds the role's folder (C(roles/) of the collection).
    type: path
    required: true
"""

EXAMPLES = r"""
- name: Load the values for this OS
  ansible.builtin.include_vars:
    file: "{{ item }}"
  loop: "{{ query('hpcdl.gpu.os_vars', 'docker', roles_path=role_path | dirname) }}"
"""

RETURN = r"""
_raw:
  description: The path of the role's values for this OS, as a list of one; empty when the role has no OS files.
  type: list
  elements: path
"""

import os  # noqa: E402
import re  # noqa: E402

from ansible.errors import AnsibleLookupError  # noqa: E402
from ansible.module_utils.six import string_types  # noqa: E402
from ansible.plugins.lookup import LookupBase  # noqa: E402

ROLE_NAME = re.compile(r'^[a-z][a-z0-9_]*$')


def candidates(facts):
    """The file names to look for, most specific first (empty parts are skipped)."""
    distribution = str(facts.get('distribution') or '')
    family = str(facts.get('os_family') or '')
    major = str(facts.get('distribution_major_version') or '')
    names = []
    for base, with_major in ((distribution, True), (distribution, False), (family, True), (family, False)):
        if not base or (with_major and not major):
            continue
        name = '%s-%s.yml' % (base, major) if with_major else '%s.yml' % base
        if name not in names:
            names.append(name)
    return names


def os_files(folder):
    """The OS files of a role's vars/ folder (every .yml but main.yml), sorted; none when there is no folder."""
    try:
        names = os.listdir(folder)
    except OSError:
        return []
    return sorted((name for name in names
                   if name.endswith('.yml') and name != 'main.yml' and os.path.isfile(os.path.join(folder, name))),
                  key=lambda name: name[:-len('.yml')])


def refusal(role, facts, known):
    return ('%s %s (%s family) is not supported by hpcdl.gpu.%s: it has values for %s (roles/%s/vars/).'
            % (facts.get('distribution') or 'This OS', facts.get('distribution_version') or '',
               facts.get('os_family') or 'unknown', role, ', '.join(name[:-len('.yml')] for name in known), role))


def find(role, roles_path, facts):
    """[path] of the role's values for this OS, [] for a role without OS files; raises for an OS it lacks."""
    if not isinstance(role, string_types) or not ROLE_NAME.match(role):
        raise AnsibleLookupError('hpcdl.gpu.os_vars: %r is not a role name (set_vars_role names the importing role, '
                                 'as docker for hpcdl.gpu.docker)' % (role,))
    if not os.path.isdir(os.path.join(roles_path, role)):
        raise AnsibleLookupError('hpcdl.gpu.os_vars: there is no role %s in %s' % (role, roles_path))
    folder = os.path.join(roles_path, role, 'vars')
    known = os_files(folder)
    if not known:
        return []
    for name in candidates(facts):
        if name in known:
            return [os.path.join(folder, name)]
    raise AnsibleLookupError(refusal(role, facts, known))


class LookupModule(LookupBase):

    def run(self, terms, variables=None, **kwargs):
        # Its one option is read from kwargs, so that the lookup checks its call in its own words (and runs
        # the same without the plugin loader, as the unit tests call it).
        unknown = sorted(set(kwargs) - {'roles_path'})
        if unknown:
            raise AnsibleLookupError('hpcdl.gpu.os_vars takes roles_path only, not %s' % ', '.join(unknown))
        if not kwargs.get('roles_path'):
            raise AnsibleLookupError('hpcdl.gpu.os_vars needs roles_path, the folder that holds the role')
        if len(terms) != 1:
            raise AnsibleLookupError('hpcdl.gpu.os_vars takes one role name, not %d terms' % len(terms))
        facts = (variables or {}).get('ansible_facts') or {}
        return find(terms[0], str(kwargs['roles_path']), facts)
