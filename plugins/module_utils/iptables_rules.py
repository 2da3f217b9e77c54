# -*- coding: utf-8 -*-
# Copyright (c) hpcdl.gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A named set of iptables rules, tagged with a comment: its commands, and whether the live rules match it.

The one implementation behind hpcdl.gpu.iptables_rules_info, which the internal role
hpcdl.gpu.iptables_rules uses for the tengine and jump_vpn roles. Standard library only;
Python 2.7 and 3.6+ (the targets' Python).

- ``normalise(rules, tag, tables)`` checks the wanted rules and returns them with the exact
  arguments (``-m comment --comment TAG`` before the target), their position in their chain (the
  set goes at the top of each chain, in the order given) and the shell command that inserts each;
  plus the tables whose tagged rules the set owns. It raises ``RulesError`` with one sentence per
  problem.
- ``tagged_counts(listing, tag)`` counts, per chain, the rules of an ``iptables -S`` listing that
  carry the tag.
- ``compare(wanted, tables, run)`` asks iptables itself (``-C``, which compares rules as the
  kernel holds them, so the way a rule is written does not matter) whether each wanted rule is
  there, and counts the tagged rules of every owned table: the live set matches when every rule
  is found and no other rule carries the tag.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
import shlex

from ansible.module_utils.six import string_types
from ansible.module_utils.six.moves import shlex_quote

ARGUMENT_SPEC = dict(
    tag=dict(type='str', required=True),
    rules=dict(
        type='list', elements='dict', required=True,
        options=dict(
            table=dict(type='str', default='filter', choices=['filter', 'nat', 'mangle', 'raw', 'security']),
            chain=dict(type='str', required=True),
            rule=dict(type='raw', default=''),
            jump=dict(type='raw', required=True),
        ),
    ),
    tables=dict(type='list', elements='str', default=['filter', 'nat']),
)

TABLES = ('filter', 'nat', 'mangle', 'raw', 'security')
# A comment iptables -S prints without quotes (only letters, digits, "_" and "-"), and that needs
# no quoting in a shell or a grep pattern.
TAG = re.compile(r'^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$')
CHAIN = re.compile(r'^[A-Za-z0-9][A-Za-z0-9_.-]{0,28}$')
# Arguments the boot script can pass through `iptables -S` and back unquoted.
UNSAFE_ARGUMENT = re.compile(r'''[\s'"\\]''')
# What would change what a rule is, or where it goes: the set's own business.
RESERVED = frozenset(('-t', '--table', '-j', '--jump', '-g', '--goto', '--comment', '-A', '--append',
                      '-I', '--insert', '-D', '--delete', '-C', '--check', '-R', '--replace'))
# iptables' exit status for a command line it cannot parse (a rule that is not a rule).
PARAMETER_PROBLEM = 2


class RulesError(Exception):
    """Problems with the wanted rules, each a sentence a person can act on."""


def _words(value, what, errors):
    if value is None:
        return []
    if isinstance(value, string_types):
        if '\\' in value:
            errors.append('%s %r holds a backslash: give the arguments without shell escapes.' % (what, value))
            return []
        try:
            return shlex.split(value)
        except ValueError as exc:
            errors.append('%s %r cannot be split into arguments: %s.' % (what, value, exc))
            return []
    if isinstance(value, (list, tuple)):
        words = []
        for item in value:
            if isinstance(item, (list, tuple, dict)) or item is None:
                errors.append('%s %r holds %r: give strings.' % (what, value, item))
            else:
                words.append('%s' % (item,))
        return words
    return ['%s' % (value,)]


def comment_pattern(tag):
    """A regular expression that finds the tag's comment in an ``iptables -S`` line."""
    return re.compile(r'\s--comment %s(?=\s|$)' % re.escape(tag))


def normalise(rules, tag, tables=('filter', 'nat')):
    """(rules, tables): the wanted rules with their arguments, positions and commands."""
    errors = []
    if not isinstance(tag, string_types) or not TAG.match(tag):
        errors.append('The tag %r is not a comment this set can own: give 1 to 64 letters, digits, "_" or "-", '
                      'starting with a letter or a digit (iptables -S quotes any other comment).' % (tag,))
    owned = []
    for table in list(tables or []):
        if table not in TABLES:
            errors.append('tables holds %r: give table names among %s.' % (table, ', '.join(TABLES)))
        elif table not in owned:
            owned.append(table)
    positions = {}
    out = []
    for index, rule in enumerate(rules or []):
        where = 'Rule %d' % (index + 1)
        if not isinstance(rule, dict):
            errors.append('%s is %r: give a dict with chain, rule and jump.' % (where, rule))
            continue
        table = rule.get('table') or 'filter'
        chain = rule.get('chain') or ''
        if table not in TABLES:
            errors.append('%s: table %r is not one of %s.' % (where, table, ', '.join(TABLES)))
        if not isinstance(chain, string_types) or not CHAIN.match(chain):
            errors.append('%s: chain %r is not a chain name (up to 29 letters, digits, "_", "." or "-").'
                          % (where, chain))
        matches = _words(rule.get('rule'), '%s: rule' % where, errors)
        jump = _words(rule.get('jump'), '%s: jump' % where, errors)
        if not jump:
            errors.append('%s: jump is empty: give the target (ACCEPT, DROP, MASQUERADE...).' % where)
        for word in matches + jump:
            if UNSAFE_ARGUMENT.search(word):
                errors.append('%s: the argument %r holds a space, a quote or a backslash, which the boot '
                              'script could not read back from iptables -S.' % (where, word))
            if word in RESERVED:
                errors.append('%s: %s belongs to the set (table, chain, jump and the tag are given on their '
                              'own): remove it from rule and jump.' % (where, word))
        if table not in owned and table in TABLES:
            owned.append(table)
        key = (table, chain)
        positions[key] = positions.get(key, 0) + 1
        args = matches + ['-m', 'comment', '--comment', tag or '', '-j'] + jump
        command = ' '.join(['iptables', '-w', '-t', table, '-I', chain, str(positions[key])]
                           + [shlex_quote(word) for word in args])
        out.append(dict(table=table, chain=chain, position=positions[key], args=args, command=command))
    if errors:
        raise RulesError(' '.join(errors))
    return out, owned


def tagged_counts(listing, tag):
    """{chain: count} of the rules (``-A`` lines) of an ``iptables -S`` listing that carry the tag."""
    pattern = comment_pattern(tag)
    counts = {}
    for line in (listing or '').splitlines():
        words = line.split(None, 2)
        if len(words) >= 2 and words[0] == '-A' and pattern.search(line):
            counts[words[1]] = counts.get(words[1], 0) + 1
    return counts


def wanted_counts(wanted):
    counts = {}
    for rule in wanted:
        table = counts.setdefault(rule['table'], {})
        table[rule['chain']] = table.get(rule['chain'], 0) + 1
    return counts


class IptablesError(Exception):
    """iptables could not answer (or refused a rule), with its message."""


def compare(wanted, tables, tag, run):
    """What the live rules look like next to the wanted set.

    ``run(argv)`` runs ``iptables <argv>`` and returns (rc, stdout, stderr). Returns a dict with
    ``in_sync``, ``missing`` (the commands of the rules not found), ``live`` and ``wanted``
    ({table: {chain: count}} of tagged rules).
    """
    live = {}
    for table in tables:
        rc, out, err = run(['-w', '-t', table, '-S'])
        if rc != 0:
            raise IptablesError('iptables -t %s -S failed (rc=%d): %s' % (table, rc, (err or out).strip()))
        counts = tagged_counts(out, tag)
        if counts:
            live[table] = counts
    missing = []
    for rule in wanted:
        rc, out, err = run(['-w', '-t', rule['table'], '-C', rule['chain']] + rule['args'])
        if rc == PARAMETER_PROBLEM:
            raise IptablesError('iptables refuses the rule %s: %s' % (rule['command'], (err or out).strip()))
        if rc != 0:
            missing.append(rule['command'])
    want = wanted_counts(wanted)
    return dict(in_sync=not missing and live == want, missing=missing, live=live, wanted=want)


def run_module(module):
    params = module.params
    try:
        wanted, tables = normalise(params['rules'], params['tag'], params['tables'])
    except RulesError as exc:
        module.fail_json(msg='Refusing the iptables rules tagged %r: %s' % (params['tag'], exc))
    iptables = module.get_bin_path('iptables', required=True)

    def run(argv):
        return module.run_command([iptables] + argv, environ_update=dict(LANG='C', LC_ALL='C'))

    try:
        state = compare(wanted, tables, params['tag'], run)
    except IptablesError as exc:
        module.fail_json(msg='Cannot compare the rules tagged %s with the live ones: %s' % (params['tag'], exc))
    module.exit_json(changed=False, tag=params['tag'], tables=tables,
                     commands=[rule['command'] for rule in wanted], **state)
