#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) hpcdl.gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: proxy_unset
short_description: Remove proxy settings from shell, yum, apt, wget and systemd files, line by line
version_added: 1.0.0
description:
  - Removes the lines that set the proxy variables named in O(names) from the files given, and
    leaves every other byte of each file as it was (other lines, comments, order, line endings).
  - "What goes, by kind of file: in shell files (O(shell_files), O(users_rc_files)),
    C(NAME=value), C(export NAME=value) and C(declare -x NAME=value) lines (one assignment on
    the line); in yum/dnf files (O(yum_files)), C(proxy=) (not C(proxy=_none_)) with
    C(proxy_username=), C(proxy_password=) and C(proxy_auth_method=); in apt files
    (O(apt_files)), one-line C(Acquire::<scheme>::Proxy[::host] \"value\";) settings (not
    V(DIRECT) or V(false)); in wgetrc files (O(wgetrc_files)), C(<name> = value) (names compared
    case-insensitively) and C(use_proxy = on) (not C(use_proxy = off)); in systemd drop-ins
    (O(systemd_env_files)), the proxy assignments of C(Environment=) lines, the other
    assignments stay and a line left empty goes."
  - Lines that mention a proxy but cannot be removed safely (two assignments on one line, apt
    proxies written in C({ }) blocks) stay, and are listed in RV(kept).
  - Every change is computed first and each edited shell file (not C(/etc/environment), not zsh
    files) is checked with C(bash -n); when one would not parse, nothing is written and the
    module fails naming the file. Otherwise each edited file is backed up (O(backup)) and
    replaced atomically, keeping its owner and mode.
  - Missing files are skipped, and so are backups and package managers' leftovers that a glob
    matches (names ending in C(~), C(.bak), C(.orig), C(.save), C(.rpmnew), C(.rpmsave),
    C(.dpkg-old), C(.dpkg-new), C(.dpkg-dist), C(.ucf-old), C(.ucf-new), C(.ucf-dist)); a file
    reached twice (a link, two globs) is read once.
  - It changes files only; processes already running keep their environment. The role
    hpcdl.gpu.proxy_unset runs this module, then reloads systemd, restarts the unit whose
    drop-in changed and resets the connection.
author:
  - hpcdl.gpu maintainers (!UNKNOWN)
attributes:
  check_mode:
    support: full
    description: Reports what would be removed (and validates it) and writes nothing.
  diff_mode:
    support: none
    description: RV(removed) lists the lines that go.
options:
  names:
    description:
      - The proxy variable names to remove, for example V(http_proxy) and V(HTTPS_PROXY)
        (case-sensitive, except in wgetrc files, which wget reads case-insensitively).
      - Must not be empty.
    type: list
    elements: str
    required: true
  only_matching:
    description:
      - Empty removes every proxy. Otherwise a Python regular expression; a proxy is removed only
        when its value (unquoted) matches it (C(re.search)), for example
        V(^http://10\\.168\\.56\\.7:3128/?$), leaving a working proxy alone.
      - With a filter set, C(use_proxy = on) in wgetrc stays, and yum credentials stay when a
        C(proxy=) line stays.
    type: str
    default: ''
  keep:
    description:
      - Python regular expressions; a value (unquoted) that matches one of them is never removed
        and not listed in RV(kept) either, whatever O(only_matching) says - for settings the
        collection makes itself, such as the jump host's cache
        (V(^http://10\\.0\\.0\\.1:3142/?$)) and apt's proxy script for it.
      - Match a cache by its address and port, so that a dead proxy on the same host (another
        port) still goes.
    type: list
    elements: str
    default: []
  shell_files:
    description:
      - Shell files (absolute paths or globs) such as C(/etc/environment), C(/etc/profile) and
        C(/etc/profile.d/*.sh).
    type: list
    elements: str
    default: []
  users_rc_files:
    description:
      - File names relative to a home (V(.bashrc), V(.profile)...), read as shell files in the
        home of root (O(include_root)) and of every user whose uid is in [O(uid_min), O(uid_max)]
        (the passwd database, as C(getent passwd) lists it).
      - Empty (the default) scans no home.
    type: list
    elements: str
    default: []
  uid_min:
    description: Lowest uid (other than root) whose home is scanned for O(users_rc_files).
    type: int
    default: 1000
  uid_max:
    description: Highest uid whose home is scanned for O(users_rc_files).
    type: int
    default: 60000
  include_root:
    description: Scan the home of root (uid 0) for O(users_rc_files) as well.
    type: bool
    default: true
  yum_files:
    description:
      - yum/dnf configuration files (paths or globs), for example C(/etc/yum.conf) or
        C(/etc/yum.repos.d/*.repo).
    type: list
    elements: str
    default: []
  apt_files:
    description: apt configuration files (paths or globs), for example C(/etc/apt/apt.conf.d/*).
    type: list
    elements: str
    default: []
  wgetrc_files:
    description: wgetrc files (paths or globs), for example C(/etc/wgetrc).
    type: list
    elements: str
    default: []
  systemd_env_files:
    description:
      - systemd unit files or drop-ins (paths or globs) whose C(Environment=) lines carry proxies,
        for example C(/etc/systemd/system/docker.service.d/*.conf).
      - The module does not reload systemd or restart the unit; notify a handler when it reports
        a change.
    type: list
    elements: str
    default: []
  backup:
    description: Copy each file next to it (C(<file>.<pid>.<timestamp>~), Ansible's backup name) before editing it.
    type: bool
    default: true
  validate_shell:
    description:
      - Check each edited shell file (not C(/etc/environment), not files whose name contains
        C(zsh)) with C(bash -n) before anything is written; when one would not parse (for example
        an if-block whose only command sets the proxy), nothing is written and the module fails
        naming the file.
      - Where bash is not installed, nothing is checked.
    type: bool
    default: true
notes:
  - Standard library only on the target; runs on Python 2.7 and 3.6+.
  - A bare C(export http_proxy) (no value) stays; it sets nothing once the assignment is gone.
'''

EXAMPLES = r'''
- name: Remove every proxy from the system shell files and the users' own
  hpcdl.gpu.proxy_unset:
    names: [http_proxy, https_proxy, ftp_proxy, all_proxy, HTTP_PROXY, HTTPS_PROXY, FTP_PROXY, ALL_PROXY]
    shell_files:
      - /etc/environment
      - /etc/profile
      - /etc/profile.d/*.sh
    users_rc_files: [.bashrc, .bash_profile, .profile]

- name: Remove only the dead proxy from yum, apt and wget, leaving a working one alone
  hpcdl.gpu.proxy_unset:
    names: [http_proxy, https_proxy]
    only_matching: '^http://10\.168\.56\.7:3128/?$'
    yum_files: [/etc/yum.conf, /etc/dnf/dnf.conf]
    apt_files: [/etc/apt/apt.conf, /etc/apt/apt.conf.d/*]
    wgetrc_files: [/etc/wgetrc]
  register: proxy_unset_result

- name: Remove the proxy from docker's drop-ins, then restart docker
  hpcdl.gpu.proxy_unset:
    names: [http_proxy, https_proxy, HTTP_PROXY, HTTPS_PROXY]
    systemd_env_files: [/etc/systemd/system/docker.service.d/*.conf]
  notify: Restart docker
'''

RETURN = r'''
changed:
  description: Whether a file was edited (or, in check mode, would be).
  returned: always
  type: bool
  sample: true
removed:
  description: The files edited (or that would be, in check mode), in the order they were scanned.
  returned: always
  type: list
  elements: dict
  contains:
    path:
      description: The file's path, as the path or glob matched it (links are not resolved).
      type: str
      sample: /etc/profile.d/proxy.sh
    kind:
      description: How the file was read.
      type: str
      choices: [shell, yum, apt, wget, systemd_env]
      sample: shell
    lines:
      description:
        - The lines removed, as they were (without the line ending); for a systemd line that kept
          other assignments, the whole line before the edit.
      type: list
      elements: str
      sample: ['export http_proxy=http://proxy.example.com:3128/']
    backup_file:
      description: The copy of the file made before the edit.
      type: str
      returned: when the file was edited and O(backup=true) (not in check mode)
      sample: /etc/profile.d/proxy.sh.1234.2026-11-28@11:22:33~
  sample:
    - path: /etc/environment
      kind: shell
      lines: ['http_proxy="http://proxy.example.com:3128/"']
      backup_file: /etc/environment.1234.2026-11-28@11:22:33~
kept:
  description:
    - Lines that mention a proxy but were left alone (two assignments on one line, an apt block);
      edit them by hand.
  returned: always
  type: list
  elements: dict
  contains:
    path:
      description: The file.
      type: str
      sample: /etc/profile
    kind:
      description: How the file was read.
      type: str
      sample: shell
    lines:
      description: The lines left alone.
      type: list
      elements: str
      sample: ['export LANG=C http_proxy=http://proxy.example.com:3128/']
  sample: []
scanned:
  description: Every file read, in order.
  returned: always
  type: list
  elements: str
  sample: [/etc/environment, /etc/profile, /root/.bashrc]
'''

from ansible.module_utils.basic import AnsibleModule  # noqa: E402

from ansible_collections.hpcdl.gpu.plugins.module_utils.proxy_unset import (  # noqa: E402
    ARGUMENT_SPEC,
    run_module,
)


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    run_module(module)


if __name__ == '__main__':
    main()
