#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) hpcdl.gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: dataset_fetch
short_description: Fetch one dataset item on a relay host, resumable, and keep it only once its sha256 matches
version_added: 1.0.0
description:
  - Keeps the relay host's copy of one dataset item at O(path). A copy already there whose record
    (C(<path>.hpcdl.json), written when it was verified) still matches its size and mtime is left
    alone and nothing is downloaded; with O(rehash=true) its every byte is hashed again.
  - Otherwise the item is downloaded into a hidden partial file beside O(path), named after the
    sha256 it must have, with curl (C(--continue-at -)) or aria2c (C(--continue)). A partial file
    that an interrupted run left is resumed, not started again (unless the server cannot resume).
    Each attempt runs the downloader once; O(retries) more attempts follow a failure, O(retry_wait)
    seconds apart; curl takes the O(urls) (mirrors) in turn, aria2c is given them all at once.
  - The finished download is hashed. Only when its sha256 is O(sha256) is it renamed to O(path)
    and recorded; a mismatch removes it and fails naming the item. An existing copy that does not
    match is removed and fetched again.
  - Returns what moved this run (RV(bytes), RV(seconds), RV(mbps)) and where it resumed from.
author:
  - hpcdl.gpu maintainers (!UNKNOWN)
attributes:
  check_mode:
    support: full
    description: Says whether it would download (RV(state) V(would download)); downloads and writes nothing.
  diff_mode:
    support: none
    description: Its result says what moved (or would move).
options:
  name:
    description: The item's name (used in messages and the record).
    type: str
    required: true
  urls:
    description:
      - Where the item can be downloaded (C(http), C(https) or C(ftp)); more than one are mirrors of the same bytes.
    type: list
    elements: str
    required: true
  sha256:
    description:
      - The item's sha256 (64 hex digits). Empty fetches it unverified (the role allows that only with
        C(dataset_allow_unverified)); its sha256 is then recorded as it came.
    type: str
    default: ''
  path:
    description: The relay's copy (its folder is created).
    type: path
    required: true
  downloader:
    description: The resumable downloader.
    type: str
    choices: [curl, aria2c]
    default: curl
  retries:
    description: More attempts after a failed one.
    type: int
    default: 3
  retry_wait:
    description: Seconds between attempts.
    type: int
    default: 5
  timeout:
    description: Seconds to connect, and seconds without a byte before a connection counts as dead.
    type: int
    default: 60
  rate_limit:
    description:
      - Cap on the download rate (curl C(--limit-rate), aria2c C(--max-download-limit)), for example V(20M).
      - Empty for none.
    type: str
    default: ''
  connections:
    description: Connections per download (aria2c only; curl uses one).
    type: int
    default: 1
  rehash:
    description: Hash a copy that is already there even when its record matches its size and mtime.
    type: bool
    default: false
notes:
  - Standard library only on the target; runs on Python 2.7 and 3.6+. Needs the downloader on the host.
  - MB/s is 10^6 bytes a second.
'''

EXAMPLES = r'''
- name: Fetch a dataset on the jump host
  hpcdl.gpu.dataset_fetch:
    name: imagenet-val
    urls:
      - https://mirror.example.com/ILSVRC2012_img_val.tar
    sha256: "{{ imagenet_val_sha256 }}"
    path: /srv/hpcdl-datasets/imagenet-val/ILSVRC2012_img_val.tar
  delegate_to: jump
'''

RETURN = r'''
name:
  description: The item.
  returned: always
  type: str
  sample: imagenet-val
copy:
  description: The relay's copy (O(path)).
  returned: always
  type: str
  sample: /srv/hpcdl-datasets/imagenet-val/ILSVRC2012_img_val.tar
partial:
  description: Where the download grows until it is verified.
  returned: always
  type: str
  sample: /srv/hpcdl-datasets/imagenet-val/.ILSVRC2012_img_val.tar.0123456789abcdef.part
state:
  description: V(present) (nothing downloaded), V(downloaded), V(resumed), V(would download) (check mode).
  returned: always
  type: str
  sample: resumed
bytes:
  description: Bytes downloaded this run (curl's C(size_download); aria2c, the growth of the partial file).
  returned: always
  type: int
  sample: 136708096
seconds:
  description: Wall time of the download this run.
  returned: always
  type: float
  sample: 2.31
mbps:
  description: RV(bytes) / RV(seconds), in MB/s (10^6 bytes).
  returned: always
  type: float
  sample: 59.18
resumed_from:
  description: Bytes of the partial file the download resumed from (0 when it started from zero).
  returned: always
  type: int
  sample: 131727360
attempts:
  description: Downloader runs this time.
  returned: always
  type: int
  sample: 1
url:
  description: The URL (or URLs, aria2c) of the last attempt.
  returned: always
  type: str
  sample: https://mirror.example.com/ILSVRC2012_img_val.tar
size:
  description: Size of the relay's copy.
  returned: success
  type: int
  sample: 268435456
sha256:
  description: The copy's sha256.
  returned: success
  type: str
  sample: a100b636f28b6f5cf8226589ce16bc00e0451ead6af9c68189dc6530c2d9811c
verified:
  description: Whether the copy was checked against a given sha256 (false only for an unverified item).
  returned: always
  type: bool
  sample: true
removed:
  description: Copies removed because their sha256 did not match.
  returned: always
  type: list
  elements: str
  sample: []
'''

from ansible.module_utils.basic import AnsibleModule  # noqa: E402

from ansible_collections.hpcdl.gpu.plugins.module_utils.dataset import fetch, run_module  # noqa: E402

ARGUMENT_SPEC = dict(
    name=dict(type='str', required=True),
    urls=dict(type='list', elements='str', required=True),
    sha256=dict(type='str', default=''),
    path=dict(type='path', required=True),
    downloader=dict(type='str', choices=['curl', 'aria2c'], default='curl'),
    retries=dict(type='int', default=3),
    retry_wait=dict(type='int', default=5),
    timeout=dict(type='int', default=60),
    rate_limit=dict(type='str', default=''),
    connections=dict(type='int', default=1),
    rehash=dict(type='bool', default=False),
)


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    run_module(module, fetch)


if __name__ == '__main__':
    main()
