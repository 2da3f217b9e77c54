#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) hpcdl.gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: dataset_install
short_description: Verify a dataset item synced to a node, then move or unpack it into place
version_added: 1.0.0
description:
  - Runs on the node. Hashes the staged copy O(staged); only when its sha256 is O(sha256) does it
    reach O(dest) - moved there (a file, mode 0644), or unpacked into a new folder that replaces
    O(dest) whole (O(unpack=true)). A mismatch removes the staged copy (and O(partial_dir)),
    leaves O(dest) as it was and fails naming the item.
  - Archives (tar, optionally gzip, bzip2 or xz compressed, and zip) are unpacked member by member -
    regular files (0644, 0755 when executable) and folders (0755) only, owned by the user the
    module runs as. A member that is a link or a device, or whose path would leave the folder,
    stops the unpacking and nothing is swapped in.
  - Writes the item's state file O(state_file) (its sha256; size and mtime of a file, or every
    unpacked file's size and sha256), which M(hpcdl.gpu.dataset_info) reads.
author:
  - hpcdl.gpu maintainers (!UNKNOWN)
attributes:
  check_mode:
    support: full
    description: Verifies the staged copy; moves, unpacks and writes nothing.
  diff_mode:
    support: none
    description: Its result says what moved (or would move).
options:
  name:
    description: The item's name (used in messages and the state file).
    type: str
    required: true
  staged:
    description: The copy rsync wrote on the node.
    type: path
    required: true
  sha256:
    description: The sha256 the staged copy must have.
    type: str
    required: true
  dest:
    description: Where the item goes (a file, or the folder an archive is unpacked into).
    type: path
    required: true
  unpack:
    description: Unpack the staged archive into O(dest) instead of moving it there.
    type: bool
    default: false
  format:
    description: The archive's format; V(auto) goes by the file name.
    type: str
    choices: [auto, tar, zip]
    default: auto
  state_file:
    description: The item's state file on the node.
    type: path
    required: true
  partial_dir:
    description: The rsync partial folder to remove once the item is in place (or when it is refused).
    type: path
notes:
  - Standard library only on the target; runs on Python 2.7 and 3.6+ (xz archives need Python 3).
'''

EXAMPLES = r'''
- name: Verify the synced archive and unpack it under the dataset root
  hpcdl.gpu.dataset_install:
    name: samples
    staged: /srv/datasets/.hpcdl-staging/samples/samples.tar.gz
    sha256: "{{ samples_sha256 }}"
    dest: /srv/datasets/samples
    unpack: true
    state_file: /var/lib/hpcdl/dataset/samples.json
'''

RETURN = r'''
name:
  description: The item.
  returned: always
  type: str
  sample: samples
destination:
  description: Where it went (O(dest)).
  returned: always
  type: str
  sample: /srv/datasets/samples
kind:
  description: V(file) or V(tree) (unpacked).
  returned: always
  type: str
  sample: tree
size:
  description: Bytes installed (the file, or every unpacked file together).
  returned: always
  type: int
  sample: 20480
files:
  description: Files installed.
  returned: always
  type: int
  sample: 4
sha256:
  description: The verified sha256 of the staged copy.
  returned: always
  type: str
  sample: 5f0c6e3dbd5e0bfb1c10eb0a4f1bcbbd3c6ec7a3d4e1c53c6e0f1f5e7c1b2a3d
'''

from ansible.module_utils.basic import AnsibleModule  # noqa: E402

from ansible_collections.hpcdl.gpu.plugins.module_utils.dataset import install, run_module  # noqa: E402

ARGUMENT_SPEC = dict(
    name=dict(type='str', required=True),
    staged=dict(type='path', required=True),
    sha256=dict(type='str', required=True),
    dest=dict(type='path', required=True),
    unpack=dict(type='bool', default=False),
    format=dict(type='str', choices=['auto', 'tar', 'zip'], default='auto'),
    state_file=dict(type='path', required=True),
    partial_dir=dict(type='path'),
)


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    run_module(module, install)


if __name__ == '__main__':
    main()
