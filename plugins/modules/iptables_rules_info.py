#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) hpcdl.gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: iptables_rules_info
short_description: Compare a tagged set of iptables rules with the live ones
version_added: 1.0.0
description:
  - Checks a named set of iptables rules (each with its table, chain, match arguments and target,
    all tagged with the comment O(tag)) and tells whether the live rules are exactly that set - every
    wanted rule is there, and no other rule carries the tag.
  - Asks iptables itself whether each rule is there (C(iptables -C)), so the way a rule is written
    (C(-p tcp --dport 8888) against C(-p tcp -m tcp --dport 8888)) does not matter; then counts, per
    chain, the rules of each table in O(tables) that carry the tag (C(iptables -S)).
  - Returns the commands that insert the set at the top of each chain, in the order given (each
    rule with C(-m comment --comment <tag>) before its target). The internal role
    C(hpcdl.gpu.iptables_rules) writes them into the script its boot unit runs, and restarts the unit
    when O(rules) changed or the live rules differ.
  - Changes nothing. Refuses, before asking iptables, a tag, chain or argument the boot script could
    not handle, and a rule that would set its own table, chain, target or comment.
author:
  - hpcdl.gpu maintainers (!UNKNOWN)
attributes:
  check_mode:
    support: full
    description: Read-only; runs the same in check mode.
  diff_mode:
    support: none
    description: Changes nothing, so there is nothing to show.
options:
  tag:
    description:
      - The comment every rule of the set carries (1 to 64 letters, digits, C(_) or C(-), which iptables
        prints without quotes).
      - Every live rule with this comment belongs to the set; one that is not wanted makes the set out of sync.
    type: str
    required: true
  rules:
    description: The wanted rules, in order; the first of each chain goes at its top.
    type: list
    elements: dict
    required: true
    suboptions:
      table:
        description: The rule's table.
        type: str
        choices: [filter, nat, mangle, raw, security]
        default: filter
      chain:
        description: The rule's chain (C(INPUT), C(FORWARD), C(POSTROUTING)...).
        type: str
        required: true
      rule:
        description:
          - The match arguments, a string split as a shell would (C(-s 10.0.0.0/8 -p tcp --dport 8888)) or a list.
          - No argument may hold a space, a quote or a backslash, nor be C(-j), C(-t), C(--comment) or a command.
        type: raw
        default: ''
      jump:
        description: The target and its options (C(ACCEPT), C(DNAT --to-destination 10.0.0.2)), a string or a list.
        type: raw
        required: true
  tables:
    description:
      - Tables whose rules with the tag belong to the set even when no wanted rule is in them (so a rule
        left in one by an earlier version of the set is found). The tables of O(rules) are always added.
    type: list
    elements: str
    default: [filter, nat]
notes:
  - Standard library only on the target; runs on Python 2.7 and 3.6+. Needs the C(iptables) command.
  - Order is not compared - only presence and counts; the script that applies the set always
    removes every tagged rule and inserts the set in order.
seealso:
  - module: ansible.builtin.iptables
'''

EXAMPLES = r'''
- name: Compare Tengine's firewall rules with the live ones
  hpcdl.gpu.iptables_rules_info:
    tag: hpcdl-tengine
    rules:
      - chain: INPUT
        rule: -s 203.0.113.7/32 -p tcp --dport 8888
        jump: ACCEPT
      - chain: INPUT
        rule: -p tcp --dport 8888
        jump: DROP
  register: tengine_rules

- name: Say which rules are missing
  ansible.builtin.debug:
    msg: "{{ tengine_rules.missing }}"
  when: not tengine_rules.in_sync
'''

RETURN = r'''
in_sync:
  description: Whether every wanted rule is live and no other rule carries the tag.
  returned: success
  type: bool
  sample: true
missing:
  description: The commands of the wanted rules that iptables does not find.
  returned: success
  type: list
  elements: str
  sample: ["iptables -w -t filter -I INPUT 2 -p tcp --dport 8888 -m comment --comment hpcdl-tengine -j DROP"]
live:
  description: Per table and chain, how many live rules carry the tag (tables of O(tables) and O(rules) only).
  returned: success
  type: dict
  sample: {"filter": {"INPUT": 2}}
wanted:
  description: Per table and chain, how many rules the set has.
  returned: success
  type: dict
  sample: {"filter": {"INPUT": 2}}
commands:
  description: The commands that insert the set, in order (each at its position from the top of its chain).
  returned: success
  type: list
  elements: str
  sample:
    - iptables -w -t filter -I INPUT 1 -s 10.0.0.7/32 -p tcp --dport 8888 -m comment --comment hpcdl-tengine -j ACCEPT
    - iptables -w -t filter -I INPUT 2 -p tcp --dport 8888 -m comment --comment hpcdl-tengine -j DROP
tables:
  description: The tables whose tagged rules belong to the set.
  returned: success
  type: list
  elements: str
  sample: [filter, nat]
tag:
  description: The tag.
  returned: success
  type: str
  sample: hpcdl-tengine
'''

from ansible.module_utils.basic import AnsibleModule  # noqa: E402

from ansible_collections.hpcdl.gpu.plugins.module_utils.iptables_rules import (  # noqa: E402
    ARGUMENT_SPEC,
    run_module,
)


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    run_module(module)


if __name__ == '__main__':
    main()
