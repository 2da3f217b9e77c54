# -*- coding: utf-8 -*-
# Copyright (c) hpcdl.gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The delta_seconds filter: a task's ``delta`` ("0:00:28.421337") in seconds.

Documented in delta_seconds.yml beside this file.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.text.converters import to_text

# str(datetime.timedelta): "H:MM:SS[.ffffff]", with "N day(s), " in front past a day.
DELTA = re.compile(r'^(?:(?P<days>\d+) days?, )?(?P<h>\d+):(?P<m>[0-5]\d):(?P<s>[0-5]\d(?:\.\d+)?)$')


def delta_seconds(delta):
    """Seconds (a float) in a command result's ``delta``: ``result.delta | hpcdl.gpu.delta_seconds``."""
    if isinstance(delta, bool):
        raise AnsibleFilterError('delta_seconds: %r is not a duration.' % (delta,))
    if isinstance(delta, (int, float)):
        return float(delta)
    match = DELTA.match(to_text(delta).strip())
    if not match:
        raise AnsibleFilterError(
            'delta_seconds: %r is not a duration like 0:00:28.421337 (the delta of a command result).' % (delta,))
    return (int(match.group('days') or 0) * 86400 + int(match.group('h')) * 3600 + int(match.group('m')) * 60
            + float(match.group('s')))


class FilterModule(object):
    """Duration filters."""

    def filters(self):
        return {'delta_seconds': delta_seconds}
