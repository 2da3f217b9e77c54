#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) hpcdl.gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: cache_fetch
short_description: Download a file through the jump host's cache, its sha256 checked, falling back to upstream
version_added: 1.1.0
description:
  - Downloads O(url) to O(dest) on the target through the jump host's cache (apt-cacher-ng in its
    URL-prefix mode, O(cache); an https O(url) goes through its C(HTTPS///) remap), and keeps it
    only if its sha256 is O(sha256). Without O(cache) it downloads O(url) itself, as
    M(ansible.builtin.get_url) with a checksum does.
  - When the cache's copy has another sha256, the module asks the cache again with a
    C(Cache-Control) V(no-cache) header, which makes apt-cacher-ng fetch the file from upstream and
    replace its corrupt copy, and warns naming the file and the cache. If that copy is wrong too, upstream
    serves those bytes (or O(sha256) is wrong), and the module fails without falling back.
  - When the cache cannot deliver (it does not answer, answers an HTTP error, or cuts the transfer
    short, as apt-cacher-ng does when its disk is full), O(fallback=upstream) downloads O(url) itself
    with a warning, O(fallback=fail) fails naming the cache.
  - Every copy goes to a temporary file beside O(dest), moved into place only once its sha256
    matches; nothing half-written is ever at O(dest). A O(dest) that already has the sha256 is left
    alone (no download).
author:
  - hpcdl.gpu maintainers (!UNKNOWN)
extends_documentation_fragment:
  - ansible.builtin.files
attributes:
  check_mode:
    support: full
    description: Says whether O(dest) would be downloaded (and from where), downloads nothing.
  diff_mode:
    support: none
    description: No diff; RV(source) says where the copy came from.
options:
  url:
    description: The file's upstream URL (http or https).
    type: str
    required: true
  dest:
    description: Where the verified file is written (its folder must exist).
    type: path
    required: true
  sha256:
    description: The file's sha256 (64 hex digits, V(sha256:) in front allowed).
    type: str
    required: true
  cache:
    description:
      - The cache's base URL, for example V(http://10.0.0.1:3142) (the jump_cache role's
        apt-cacher-ng on the jump host's private address). Empty downloads from O(url) itself.
    type: str
    default: ''
  fallback:
    description:
      - What to do when the cache cannot deliver the file.
      - V(upstream) downloads O(url) itself, with a warning naming the cache.
      - V(fail) fails, naming the cache and what it answered.
    type: str
    choices: [upstream, fail]
    default: upstream
  timeout:
    description: Seconds to wait for each server's answer.
    type: int
    default: 30
  use_proxy:
    description:
      - Use the proxy of the environment (C(http_proxy), C(https_proxy)). Off by default, since the
        cache is on the private network, and a stale proxy is what the collection removes.
    type: bool
    default: false
  validate_certs:
    description: Check the TLS certificate of an https O(url) downloaded from upstream.
    type: bool
    default: true
notes:
  - Runs on Python 2.7 and 3.6+ with the standard library.
seealso:
  - module: ansible.builtin.get_url
  - name: apt-cacher-ng manual, section 8.2 (access to SSL/TLS remote repositories)
    description: The C(http://<cache>/HTTPS///host/path) form.
    link: https://www.unix-ag.uni-kl.de/~bloch/acng/html/howtos.html#ssluse
'''

EXAMPLES = r'''
- name: Download the image archive through the jump host's cache
  hpcdl.gpu.cache_fetch:
    url: https://files.example.com/images/notebook.tar
    sha256: "{{ notebook_sha256 }}"
    dest: /var/tmp/notebook.tar
    cache: http://10.0.0.1:3142
    fallback: upstream
    mode: "0600"
'''

RETURN = r'''
dest:
  description: The file.
  returned: always
  type: str
  sample: /var/tmp/notebook.tar
sha256:
  description: The sha256 the file has (the one asked for).
  returned: always
  type: str
  sample: a38091868884f338a0182b469ad548cc16a57d383a7df8a17321d5a8a14b8cd0
source:
  description:
    - Where the copy came from - V(present) (already there), V(cache), V(cache_refreshed) (the
      cache's copy was corrupt and was replaced from upstream), or V(upstream).
  returned: success
  type: str
  sample: cache
url:
  description: The URL the copy came from (or, on a failure, the last one tried).
  returned: always
  type: str
  sample: http://10.0.0.1:3142/HTTPS///files.example.com/images/notebook.tar
cache:
  description: The cache's base URL (null without one).
  returned: always
  type: str
  sample: http://10.0.0.1:3142
'''

from ansible.module_utils.basic import AnsibleModule  # noqa: E402
from ansible.module_utils.urls import fetch_url  # noqa: E402

from ansible_collections.hpcdl.gpu.plugins.module_utils.cache_fetch import ARGUMENT_SPEC, run_module  # noqa: E402


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, add_file_common_args=True, supports_check_mode=True)
    run_module(module, fetch_url)


if __name__ == '__main__':
    main()
