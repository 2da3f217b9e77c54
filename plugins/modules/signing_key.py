#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) hpcdl.gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: signing_key
short_description: Install a repository's OpenPGP signing key only if it has the pinned fingerprint
version_added: 1.0.0
description:
  - Downloads a repository's signing key on the target (O(url)), or takes it as O(content), and
    computes the fingerprints of the primary keys it holds itself, from the key's OpenPGP packets
    (ASCII-armoured or binary; version 4 keys, and version 5 and 6 keys). The target needs no
    C(gpg).
  - Refuses the key, writing nothing, unless its primary keys are exactly the pinned
    O(fingerprint) (a file that also carries another primary key is refused too). The message is
    one sentence naming the key's URL, the fingerprints found (or why no readable key was
    found) and the one expected, then what to fix (O(pinned_by)).
  - Writes the verified key to O(dest) as it was served, through a temporary file moved into
    place, only when the file's content differs; creates the folder of O(dest) if needed.
  - Use it before C(apt)'s C(signed-by=)/C(Signed-By:), or before M(ansible.builtin.rpm_key),
    which then imports the file that was verified.
author:
  - hpcdl.gpu maintainers (!UNKNOWN)
attributes:
  check_mode:
    support: full
    description: Downloads and verifies the key, reports whether O(dest) would change, writes nothing.
  diff_mode:
    support: none
    description: No diff; RV(fingerprints) and RV(sha256) say what the key is.
options:
  url:
    description:
      - Where the key is downloaded from, by the target (http, https).
      - Exactly one of O(url) and O(content).
    type: str
  content:
    description:
      - The key itself (ASCII-armoured), for a key that does not come from a URL.
      - Exactly one of O(url) and O(content).
    type: str
  fingerprint:
    description:
      - The fingerprint of the primary key the file must hold (40 hex digits for a version 4
        key, 64 for version 5 and 6; case and spaces do not matter), or a list of them when the
        file holds several primary keys. The file must hold these primary keys and no other.
      - A key ID (8 or 16 hex digits) is refused; it can be forged.
    type: list
    elements: str
    required: true
  dest:
    description: Where the verified key is written.
    type: path
    required: true
  mode:
    description: The permissions of O(dest).
    type: raw
    default: '0644'
  pinned_by:
    description:
      - What pins O(fingerprint) (the variable a user sets, for example
        V(docker_repo_gpg_fingerprint)), named in the refusal as the thing to fix.
    type: str
  use_proxy:
    description: Use the proxy set in the environment (C(https_proxy), C(http_proxy)) to download O(url).
    type: bool
    default: true
  validate_certs:
    description: Check the server's TLS certificate for an https O(url).
    type: bool
    default: true
  timeout:
    description: Seconds to wait for the download.
    type: int
    default: 10
notes:
  - Standard library only on the target; runs on Python 2.7 and 3.6+.
  - An armour block whose CRC24 checksum line does not match its content is refused, as C(gpg)
    refuses it.
  - A file that holds a secret key is refused.
seealso:
  - module: ansible.builtin.rpm_key
  - name: RFC 9580, OpenPGP (key fingerprints, section 5.5.4)
    description: How version 4 and version 6 fingerprints are computed.
    link: https://www.rfc-editor.org/rfc/rfc9580#section-5.5.4
'''

EXAMPLES = r'''
- name: Add Docker's signing key, verified
  hpcdl.gpu.signing_key:
    url: https://download.docker.com/linux/debian/gpg
    fingerprint: 9DC8 5822 9FC7 DD38 854A  E2D8 8D81 803C 0EBF CD88
    dest: /etc/apt/keyrings/docker.asc
    pinned_by: docker_repo_gpg_fingerprint

- name: Add NVIDIA's CUDA key on EL, verified, then import it into rpm
  hpcdl.gpu.signing_key:
    url: https://developer.download.nvidia.com/compute/cuda/repos/rhel9/x86_64/D42D0685.pub
    fingerprint: "{{ cuda_repo_key_fingerprint }}"
    dest: /etc/pki/rpm-gpg/RPM-GPG-KEY-cuda
    use_proxy: false
  register: cuda_key

- name: Import the verified key into rpm
  ansible.builtin.rpm_key:
    key: /etc/pki/rpm-gpg/RPM-GPG-KEY-cuda
    fingerprint: "{{ cuda_key.fingerprints | first }}"
'''

RETURN = r'''
dest:
  description: Where the key is (or, in check mode, would be) written.
  returned: always
  type: str
  sample: /etc/apt/keyrings/docker.asc
url:
  description: Where the key was downloaded from (V(null) with O(content)).
  returned: always
  type: str
  sample: https://download.docker.com/linux/debian/gpg
fingerprints:
  description: The fingerprints of the primary keys the file holds (empty when none could be read).
  returned: always
  type: list
  elements: str
  sample: [9DC858229FC7DD38854AE2D88D81803C0EBFCD88]
expected:
  description: The pinned fingerprints, normalised (upper case, no spaces).
  returned: on a refused key
  type: list
  elements: str
  sample: [9DC858229FC7DD38854AE2D88D81803C0EBFCD88]
keys:
  description: The primary keys, with their user IDs and subkeys.
  returned: always
  type: list
  elements: dict
  contains:
    fingerprint:
      description: The primary key's fingerprint.
      type: str
      sample: 9DC858229FC7DD38854AE2D88D81803C0EBFCD88
    version:
      description: The key's version (4, 5 or 6).
      type: int
      sample: 4
    algorithm:
      description: The public-key algorithm (C(rsa), C(ed25519), C(eddsa)...).
      type: str
      sample: rsa
    created:
      description: When the key was made, in seconds since the epoch.
      type: int
      sample: 1487788586
    user_ids:
      description: The key's user IDs.
      type: list
      elements: str
      sample: [Docker Release (CE deb) <docker@docker.com>]
    subkeys:
      description: The subkeys (fingerprint, version, algorithm, created).
      type: list
      elements: dict
      sample: [{"fingerprint": "D3306A018370199E527AE7DCF76221572C52609D", "version": 4, "algorithm": "rsa",
                "created": 1487788586}]
  sample: [{"fingerprint": "9DC858229FC7DD38854AE2D88D81803C0EBFCD88", "version": 4, "algorithm": "rsa",
            "created": 1487788586, "user_ids": ["Docker Release (CE deb) <docker@docker.com>"],
            "subkeys": [{"fingerprint": "D3306A018370199E527AE7DCF76221572C52609D", "version": 4,
                         "algorithm": "rsa", "created": 1487788586}]}]
sha256:
  description: The SHA-256 of the key file as served.
  returned: always
  type: str
  sample: 1500c1f56fa9e26b9b8f42452a553675796ade0807cdce11975eb98170b3a570
'''

from ansible.module_utils.basic import AnsibleModule  # noqa: E402

from ansible_collections.hpcdl.gpu.plugins.module_utils.signing_key import (  # noqa: E402
    ARGUMENT_SPEC,
    MUTUALLY_EXCLUSIVE,
    REQUIRED_ONE_OF,
    run_module,
)


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, mutually_exclusive=MUTUALLY_EXCLUSIVE,
                           required_one_of=REQUIRED_ONE_OF, supports_check_mode=True)
    run_module(module)


if __name__ == '__main__':
    main()
