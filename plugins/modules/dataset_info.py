#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) hpcdl.gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: dataset_info
short_description: Tell which dataset items a node holds, verified
version_added: 1.0.0
description:
  - Read-only. For each item, reads its state file (written by M(hpcdl.gpu.dataset_install)) and
    says V(ok) when the item is in place as recorded - a file of the recorded size and mtime, or
    every unpacked file of its recorded size - V(missing), V(outdated) (another sha256 is
    installed) or V(changed).
  - A file whose size or mtime changed is hashed; O(rehash=true) hashes every file every time.
author:
  - hpcdl.gpu maintainers (!UNKNOWN)
attributes:
  check_mode:
    support: full
    description: Read-only, the same in check mode.
  diff_mode:
    support: none
    description: Its result says what it found.
options:
  items:
    description:
      - The items, as the filter P(hpcdl.gpu.dataset_plan#filter) plans them. Each one's V(name), V(dest) (where it is
        installed) and V(state_file) are read; other keys are ignored.
    type: list
    elements: dict
    required: true
  sha256:
    description:
      - The sha256 each item must have, by name; an item not named here is judged by its state file alone.
    type: dict
    default: {}
  rehash:
    description: Hash every file, not only those whose size or mtime changed.
    type: bool
    default: false
notes:
  - Standard library only on the target; runs on Python 2.7 and 3.6+.
'''

EXAMPLES = r'''
- name: Read which items the node holds
  hpcdl.gpu.dataset_info:
    items:
      - name: samples
        dest: /srv/datasets/samples
        state_file: /var/lib/hpcdl/dataset/samples.json
    sha256:
      samples: "{{ samples_sha256 }}"
  register: held
'''

RETURN = r'''
items:
  description: Per item, its V(state) and the V(reason).
  returned: always
  type: list
  elements: dict
  sample: [{"name": "samples", "dest": "/srv/datasets/samples", "state": "ok", "reason": "4 files, as unpacked"}]
needed:
  description: The names of the items that are not V(ok).
  returned: always
  type: list
  elements: str
  sample: []
'''

from ansible.module_utils.basic import AnsibleModule  # noqa: E402

from ansible_collections.hpcdl.gpu.plugins.module_utils.dataset import run_module, status  # noqa: E402

ARGUMENT_SPEC = dict(
    items=dict(type='list', elements='dict', required=True),
    sha256=dict(type='dict', default={}),
    rehash=dict(type='bool', default=False),
)


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    run_module(module, status)


if __name__ == '__main__':
    main()
