#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) hpcdl.gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: registry_warm
short_description: Fetch one image into the jump host's pull-through registry, each blob from upstream once
version_added: 1.1.0
description:
  - Runs on the jump host, beside a Docker distribution registry 2.8 in proxy mode
    (C(proxy.remoteurl); the jump_cache role's). Resolves O(repository) at O(reference) (a tag or
    a digest) through the registry, a manifest list or OCI index to the manifest for O(platform),
    and makes the registry store every blob it does not hold yet, then waits until its storage
    (O(storage)) has them all.
  - Why - that registry, asked for a missing blob, fetches it from upstream twice (one copy to
    store, one to stream), and once more for every client asking while it fetches. Here each
    blob is asked for and the connection dropped after its first bytes, so only the registry's
    own store moves it; nodes that pull afterwards are served from the storage.
  - Returns the digest the nodes pull by; the registry resolved it over its own connection to
    upstream, and it reaches the nodes through Ansible, not over the private network.
author:
  - hpcdl.gpu maintainers (!UNKNOWN)
attributes:
  check_mode:
    support: full
    description: Resolves the image and says which blobs are missing, fetches none.
  diff_mode:
    support: none
    description: RV(blobs) says which blobs were already stored.
options:
  registry:
    description: The registry's base URL as this host reaches it, for example V(http://10.0.0.1:5001).
    type: str
    required: true
  repository:
    description:
      - The repository in that registry, for example V(jupyter/pytorch-notebook) (Docker Hub's V(library/ubuntu)).
    type: str
    required: true
  reference:
    description: A tag, or a digest (V(sha256:...)), whose manifest is then checked against it.
    type: str
    required: true
  storage:
    description: The registry's C(storage.filesystem.rootdirectory) on this host.
    type: path
    required: true
  platform:
    description: The os/architecture (and optionally /variant) of the nodes, for a multi-platform image.
    type: str
    default: linux/amd64
  timeout:
    description: Seconds to wait until the registry has stored every blob.
    type: int
    default: 1800
  request_timeout:
    description: Seconds to wait for each answer of the registry.
    type: int
    default: 30
notes:
  - Runs on Python 2.7 and 3.6+ with the standard library.
'''

EXAMPLES = r'''
- name: Fetch the notebook image into the jump host's registry cache
  hpcdl.gpu.registry_warm:
    registry: http://10.0.0.1:5001
    repository: jupyter/pytorch-notebook
    reference: cuda12-2026-08-24
    storage: /var/lib/hpcdl-cache/registry/quay.io
  delegate_to: jump
  register: warmed

- name: Pull it on the node by the digest the jump host resolved
  ansible.builtin.command: docker pull 10.0.0.1:5001/jupyter/pytorch-notebook@{{ warmed.digest }}
'''

RETURN = r'''
digest:
  description: The digest of the manifest (or manifest list) the reference names; pull by it.
  returned: when the manifest was read
  type: str
  sample: sha256:0847c36e8c7c2045b00d63c796216b18786cebdf92b911d9b1bd607edc3a2c38
manifest:
  description: The digest of the manifest for O(platform) (the same as RV(digest) for a single-platform image).
  returned: when the manifest was read
  type: str
  sample: sha256:0847c36e8c7c2045b00d63c796216b18786cebdf92b911d9b1bd607edc3a2c38
blobs:
  description: The image's blobs (config first), with whether the storage held each before.
  returned: when the manifest was read
  type: list
  elements: dict
  sample: [{"digest": "sha256:ea8b...", "size": 410663424, "was_stored": false}]
size:
  description: Bytes of all the image's blobs.
  returned: when the manifest was read
  type: int
  sample: 410667018
fetched:
  description: Bytes of the blobs the registry had to fetch from upstream (would have, in check mode).
  returned: when the manifest was read
  type: int
  sample: 410667018
'''

from ansible.module_utils.basic import AnsibleModule  # noqa: E402
from ansible.module_utils.urls import open_url  # noqa: E402

from ansible_collections.hpcdl.gpu.plugins.module_utils.registry_warm import ARGUMENT_SPEC, run_module  # noqa: E402


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    run_module(module, open_url)


if __name__ == '__main__':
    main()
