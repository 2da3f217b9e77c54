#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) hpcdl.gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: docker_daemon_config
short_description: Merge settings into Docker's daemon.json without clobbering the user's keys
version_added: 1.0.0
description:
  - Merges O(options) into Docker's C(daemon.json); every key the file already holds and
    O(options) does not name stays as it was; objects (C(runtimes), C(log-opts)...) merge key by
    key, so a runtime the user registered survives next to the C(nvidia) one; other values are
    replaced; V(null) removes a key.
  - Writes only when the merged content differs from the file's (formatting alone is not a
    change), to a temporary file that is checked to be valid JSON and then moved into place,
    after a backup of the old file.
  - An existing file that is not a JSON object stops the module with a message naming the file,
    and the file is left untouched.
  - Refuses, before reading anything, options Docker would refuse (a wrong type for an option
    it knows, a registry mirror without a scheme, a relative C(data-root), a C(log-opts) value
    that is not a string, a name that is not a Docker option name such as C(registry_mirrors)),
    and a C(default-runtime) that the merged file does not define.
  - Does not restart Docker; notify a handler when the task reports a change.
author:
  - hpcdl.gpu maintainers (!UNKNOWN)
attributes:
  check_mode:
    support: full
    description: Reports what would change and writes nothing.
  diff_mode:
    support: full
    description: Shows the file before and after.
options:
  path:
    description: The daemon configuration file.
    type: path
    default: /etc/docker/daemon.json
  options:
    description:
      - The daemon options to merge in, as Docker names them (C(registry-mirrors), C(data-root),
        C(log-opts), C(runtimes), C(default-runtime)...).
    type: dict
    required: true
  backup:
    description: Copy the old file next to it (C(<file>.<pid>.<timestamp>~)) before writing.
    type: bool
    default: true
  mode:
    description: The file's permissions.
    type: raw
    default: '0644'
  validate_only:
    description:
      - Only check O(options) (what a role's preflight does before anything changes); the file is
        not read.
    type: bool
    default: false
notes:
  - Standard library only on the target; runs on Python 2.7 and 3.6+.
seealso:
  - name: Docker daemon configuration file
    description: Every option of C(daemon.json).
    link: https://docs.docker.com/reference/cli/dockerd/#daemon-configuration-file
'''

EXAMPLES = r'''
- name: Use a registry mirror and keep the logs small, keeping what the user set
  hpcdl.gpu.docker_daemon_config:
    options:
      registry-mirrors:
        - https://mirror.example.com
      log-driver: json-file
      log-opts:
        max-size: 100m
  notify: Restart docker

- name: Register the nvidia runtime next to the user's runtimes
  hpcdl.gpu.docker_daemon_config:
    options:
      runtimes:
        nvidia:
          path: nvidia-container-runtime
'''

RETURN = r'''
path:
  description: The file.
  returned: always
  type: str
  sample: /etc/docker/daemon.json
config:
  description: The merged configuration (what the file holds, or would hold in check mode).
  returned: unless validate_only
  type: dict
  sample: {"max-concurrent-downloads": 2, "runtimes": {"nvidia": {"path": "nvidia-container-runtime"}}}
modified_keys:
  description: Dotted names of the keys added, changed or removed.
  returned: unless validate_only
  type: list
  elements: str
  sample: [runtimes.nvidia]
backup_file:
  description: The copy of the old file.
  returned: when a file was changed and O(backup=true)
  type: str
  sample: /etc/docker/daemon.json.1234.2026-11-28@11:22:33~
problems:
  description: What was refused (empty on success).
  returned: on failure, and with O(validate_only=true)
  type: list
  elements: str
  sample: ['registry-mirrors: "mirror.example.com" is not a URL with http:// or https://']
'''

from ansible.module_utils.basic import AnsibleModule  # noqa: E402

from ansible_collections.hpcdl.gpu.plugins.module_utils.docker_daemon import (  # noqa: E402
    ARGUMENT_SPEC,
    run_module,
)


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    run_module(module)


if __name__ == '__main__':
    main()
