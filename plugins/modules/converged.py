#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) hpcdl.gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: converged
short_description: Tell whether a role of the collection is converged on a host, and record it when it is
version_added: 1.1.0
description:
  - Each role of the collection opens with this module (O(state=check)) and, when nothing it reads or
    manages changed since its last successful run on the host, skips every other task in one step. At
    the end of a run that went through, the role records what it saw (O(state=record)).
  - "Inputs, computed on the controller by the action plugin of the same name: a digest of the role's
    files and of the collection's plugins (so a new version of the collection runs every role again),
    of each variable of the role's C(meta/argument_specs.yml), of each value in O(inputs), and of the
    OS facts (distribution, version, architecture). Values are never stored or shown, only digests,
    and only names appear in RV(reasons)."
  - "State, read on the host in a few calls: what O(manages) lists (files: sha256; packages: the
    installed version, from one C(dpkg-query) or C(rpm) call; services: active and enabled state,
    one C(systemctl show); containers: running or not, and the image; images: their id; iptables: the
    live rules with each comment tag; URLs: the answer, every proxy off)."
  - "A URL is also a proof: the role is not converged while one of its URLs does not answer 2xx or 3xx
    (or lacks its C(contains) text), whatever the record says."
  - When the role is not converged, the record is removed before the role runs, so a run that fails
    half-way leaves none and the next run goes through the role again.
  - "The record is C(<path>/<role>.json), readable by root only. It is bookkeeping: writing it never
    reports a change."
author:
  - hpcdl.gpu maintainers (!UNKNOWN)
attributes:
  check_mode:
    support: full
    description: >-
      Roles do not ask in check mode (they go through every task, so that check mode shows what a run
      would change); asked anyway, it answers and writes or removes nothing.
  diff_mode:
    support: none
    description: It returns no diff; RV(reasons) says what differs.
options:
  role:
    description: The role's name (the record's file name), for example V(docker).
    type: str
    required: true
  state:
    description:
      - V(check) compares the record with the inputs and the state now, and removes the record when
        they differ.
      - V(record) writes the record from the inputs and the state now, with O(facts).
    type: str
    choices: [check, record]
    default: check
  inputs:
    description:
      - Values the role depends on beyond its own variables (for example a variable of another role or
        a host's fact). Hashed on the controller; the module receives digests only.
    type: dict
    default: {}
  manages:
    description:
      - "What the role changes on the host. V(files): paths or globs (a link's target, a folder's list of
        names, a file's sha256); for files that other roles write too, dicts with C(path) and either
        C(keys) (a JSON file's top-level keys this role sets) or C(lines) (a regular expression: the lines
        this role owns, in every file of the path or glob; C(path) may then be a list), so that another
        role's part of the same files does not count as drift."
      - "V(packages): names. V(services): systemd units (V(.service) is added to a name without a dot).
        V(containers): Docker container names. V(images): Docker image names."
      - "V(iptables): comment tags (the live rules that carry one, from one C(iptables-save)). V(urls):
        URLs, or dicts with C(url), C(contains) and C(status), asked from the host with every proxy off."
    type: dict
    default: {}
  facts:
    description:
      - With O(state=record), the facts a later skipped run returns in RV(facts) (for example what the
        role published, which a later play reads).
    type: dict
    default: {}
  path:
    description: The folder of the records.
    type: path
    default: /var/lib/hpcdl/converged
  snapshot:
    description:
      - With O(state=check), also read the state of every other role recorded on the host, in the same
        call, and return it in RV(snapshot). The action plugin sets it on a host's first check of a play
        and answers the host's later checks in that play from it, without a call to the host, until a
        role records (runs) there; then the next check reads the host again.
    type: bool
    default: false
notes:
  - Nothing beyond Python's standard library and Ansible's own on the target; runs on Python 2.7 and 3.6+.
  - Something a role changes but does not list in O(manages) is not watched between runs; turn the skip
    off for a run with the role's C(<role>_converged_skip=false) (or C(hpcdl_converged_skip=false) for
    every role) and the role goes through every task.
'''

EXAMPLES = r'''
- name: Ask whether the role is converged
  hpcdl.gpu.converged:
    role: docker
    manages:
      files: [/etc/docker/daemon.json]
      packages: [docker-ce]
      services: [docker]
  register: __docker_converged

- name: Record that the role converged
  hpcdl.gpu.converged:
    role: jupyter
    state: record
    manages:
      containers: [hpcdl-jupyter]
      urls: [http://127.0.0.1:80/gpu1/api]
    facts:
      jupyter_published: "{{ jupyter_published }}"
'''

RETURN = r'''
converged:
  description: True when nothing the role reads or manages changed since its last recorded run.
  returned: always
  type: bool
reasons:
  description: Why the role is not converged, in words (an input's name, a managed item's old and new state).
  returned: always
  type: list
  elements: str
  sample:
    - "input changed: docker_daemon_options"
    - "file:/etc/docker/daemon.json was sha256:1f2e3d4c5b6a7 and is sha256:9a8b7c6d5e4f3 now"
facts:
  description: The facts recorded with the last run (with O(state=check), when RV(converged) is true), else empty.
  returned: always
  type: dict
record:
  description: The record's path.
  returned: always
  type: str
snapshot:
  description: >-
    Per other role recorded on the host: a digest of its recorded inputs and of its manages, its facts, and
    how its state differs now.
  returned: with O(snapshot=true)
  type: dict
state:
  description: The O(state) asked for (V(check) or V(record)).
  returned: always
  type: str
from_snapshot:
  description: >-
    True when the action plugin answered from the snapshot taken earlier in the play, without a call to
    the host.
  returned: always
  type: bool
'''

import time  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402

from ansible_collections.hpcdl.gpu.plugins.module_utils.converged import (  # noqa: E402
    ARGUMENT_SPEC,
    FORMAT,
    ConvergedError,
    check_manages,
    current_state,
    forget,
    read_record,
    reasons,
    record_path,
    snapshot,
    write_record,
)


def run_module(module):
    params = module.params
    try:
        path = record_path(params['path'], params['role'])
        manages = check_manages(params['manages'])
    except ConvergedError as error:
        module.fail_json(msg='hpcdl.gpu.converged: %s' % error)
    pkg_mgr = 'rpm' if module.get_bin_path('rpm') and not module.get_bin_path('dpkg-query') else 'dpkg'
    bins = dict(pkg_mgr=pkg_mgr, docker=module.get_bin_path('docker'),
                iptables_save=module.get_bin_path('iptables-save'))
    state = current_state(manages, module.run_command, bins=bins)
    inputs = dict((str(k), str(v)) for k, v in params['inputs'].items())
    result = dict(changed=False, record=path, facts={}, reasons=[], converged=False, state=params['state'])
    if params['state'] == 'record':
        if not module.check_mode:
            write_record(path, dict(format=FORMAT, role=params['role'], inputs=inputs, state=state,
                                    manages=manages, facts=params['facts'], recorded=int(time.time())))
        result['converged'] = True
        module.exit_json(**result)
    record = read_record(path)
    found = reasons(record, inputs, state)
    result['reasons'] = found
    result['converged'] = not found
    if found:
        if record is not None and not module.check_mode:
            forget(path)
    else:
        result['facts'] = record.get('facts') or {}
    if params['snapshot']:
        result['snapshot'] = snapshot(params['path'], module.run_command, bins=bins)
        result['snapshot'].pop(params['role'], None)
    module.exit_json(**result)


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    run_module(module)


if __name__ == '__main__':
    main()
