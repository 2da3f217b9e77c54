#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) hpcdl.gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: dataset_sync
short_description: rsync one verified dataset item from the relay host to a node, resumable, with its figures
version_added: 1.0.0
description:
  - Runs on the relay host. Copies O(src) to O(dest) with rsync (over SSH when O(ssh_args) are
    given, locally otherwise), keeping what a cut transfer left in O(partial_dir) beside the
    destination, so that the next run sends only what is missing (rsync's delta transfer against
    the partial file); rsync checks each file it wrote with its own whole-file checksum.
  - Returns rsync's own figures (C(--stats)) - bytes on the wire, literal and matched data - and
    the wall time. The sha256 check on the node is M(hpcdl.gpu.dataset_install)'s.
author:
  - hpcdl.gpu maintainers (!UNKNOWN)
attributes:
  check_mode:
    support: full
    description: Runs nothing; reports that it would sync.
  diff_mode:
    support: none
    description: Its result says what moved (or would move).
options:
  name:
    description: The item's name (used in messages).
    type: str
    required: true
  src:
    description: The relay's verified copy.
    type: path
    required: true
  dest:
    description: rsync's destination, C(user@address:/folder/) over SSH, or a local folder.
    type: str
    required: true
  ssh_args:
    description:
      - The SSH command rsync runs (C(-e)), as a list of words, for example
        V([ssh, -i, /run/key, -o, StrictHostKeyChecking=yes, -o, UserKnownHostsFile=/run/known_hosts]).
      - Empty copies locally.
    type: list
    elements: str
    default: []
  partial_dir:
    description: Where a cut transfer's data is kept, relative to the destination folder (C(--partial-dir)).
    type: str
    default: .rsync-partial
  bwlimit:
    description: Cap in KiB a second (C(--bwlimit)); 0 for none.
    type: int
    default: 0
  timeout:
    description: Seconds without I/O before rsync gives up (C(--timeout)).
    type: int
    default: 120
  compress:
    description: Compress on the wire (C(--compress)); of little use for data that is compressed already.
    type: bool
    default: false
notes:
  - Needs rsync on both ends. Standard library only on the target; runs on Python 2.7 and 3.6+.
'''

EXAMPLES = r'''
- name: Send a dataset from the jump host to the node's staging folder
  hpcdl.gpu.dataset_sync:
    name: imagenet-val
    src: /srv/hpcdl-datasets/imagenet-val/ILSVRC2012_img_val.tar
    dest: root@10.0.0.20:/srv/datasets/.hpcdl-staging/imagenet-val/
    ssh_args: [ssh, -F, /dev/null, -i, /run/sync/id_ed25519, -o, StrictHostKeyChecking=yes,
               -o, UserKnownHostsFile=/run/sync/known_hosts]
  delegate_to: jump
'''

RETURN = r'''
name:
  description: The item.
  returned: always
  type: str
  sample: imagenet-val
destination:
  description: rsync's destination (O(dest)).
  returned: always
  type: str
  sample: root@10.0.0.20:/srv/datasets/.hpcdl-staging/imagenet-val/
transferred:
  description: Whether rsync sent the file (false when the destination already had it).
  returned: always
  type: bool
  sample: true
bytes:
  description: Bytes rsync sent on the wire (C(Total bytes sent)).
  returned: always
  type: int
  sample: 134283311
literal:
  description: File data sent as it is (C(Literal data)).
  returned: always
  type: int
  sample: 134217728
matched:
  description: File data the destination already had (a partial file resumed from; C(Matched data)).
  returned: always
  type: int
  sample: 134217728
size:
  description: Size of the file.
  returned: always
  type: int
  sample: 268435456
seconds:
  description: Wall time of the rsync run.
  returned: always
  type: float
  sample: 1.92
mbps:
  description: RV(bytes) / RV(seconds), in MB/s (10^6 bytes).
  returned: always
  type: float
  sample: 69.94
stats:
  description: Every figure read from C(--stats) (None where rsync printed none).
  returned: when rsync ran
  type: dict
  sample: {"literal": 134217728, "matched": 134217728, "received": 35, "sent": 134283311, "size": 268435456,
           "transferred": 1}
'''

from ansible.module_utils.basic import AnsibleModule  # noqa: E402

from ansible_collections.hpcdl.gpu.plugins.module_utils.dataset import run_module, sync  # noqa: E402

ARGUMENT_SPEC = dict(
    name=dict(type='str', required=True),
    src=dict(type='path', required=True),
    dest=dict(type='str', required=True),
    ssh_args=dict(type='list', elements='str', default=[]),
    partial_dir=dict(type='str', default='.rsync-partial'),
    bwlimit=dict(type='int', default=0),
    timeout=dict(type='int', default=120),
    compress=dict(type='bool', default=False),
)


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    run_module(module, sync)


if __name__ == '__main__':
    main()
